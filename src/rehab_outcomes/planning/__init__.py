"""Study planning by simulation: power of the arm comparisons (``rehab-outcomes power``).

See ``docs/power.md``. The public functions live in :mod:`~rehab_outcomes.planning.power`
(:func:`run_power`, :func:`power_table`, :func:`gather`), :mod:`~rehab_outcomes.planning.trials`
(:func:`simulate_trials`) and :mod:`~rehab_outcomes.planning.schoenfeld`
(:func:`schoenfeld_power`, :func:`expected_events`); they are imported lazily so that the
command line starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PowerSettings": "power",
    "run_power": "power",
    "power_table": "power",
    "gather": "power",
    "simulate_trials": "trials",
    "trial_model": "trials",
    "schoenfeld_power": "schoenfeld",
    "schoenfeld_events": "schoenfeld",
    "expected_events": "schoenfeld",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
