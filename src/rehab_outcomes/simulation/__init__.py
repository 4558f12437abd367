"""Simulated cohorts with known truth (:func:`simulate_cohort`, :func:`load_params`).

The model, every parameter, its default and source are described in ``docs/simulation.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names are imported on first use, so that importing one submodule (or the CLI) stays fast.
_LAZY = {
    "DESIGNS": "rehab_outcomes.simulation.cohort",
    "Cohort": "rehab_outcomes.simulation.cohort",
    "simulate_cohort": "rehab_outcomes.simulation.cohort",
    "TERMS": "rehab_outcomes.simulation.params",
    "SimulationParams": "rehab_outcomes.simulation.params",
    "params_from_dict": "rehab_outcomes.simulation.params",
    "SCENARIOS": "rehab_outcomes.simulation.scenarios",
    "load_params": "rehab_outcomes.simulation.scenarios",
}

__all__ = [
    "DESIGNS",
    "SCENARIOS",
    "TERMS",
    "Cohort",
    "SimulationParams",
    "load_params",
    "params_from_dict",
    "simulate_cohort",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
