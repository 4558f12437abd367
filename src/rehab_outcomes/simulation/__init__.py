"""Simulated cohorts with known truth (:func:`simulate_cohort`, :func:`load_params`).

The model, every parameter, its default and source are described in ``docs/simulation.md``.
"""

from __future__ import annotations

from rehab_outcomes._lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
