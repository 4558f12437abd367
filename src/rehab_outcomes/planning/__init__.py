"""Study planning by simulation: power of the arm comparisons (``rehab-outcomes power``).

See ``docs/power.md``. The public functions live in :mod:`~rehab_outcomes.planning.power`
(:func:`run_power`, :func:`power_table`, :func:`gather`), :mod:`~rehab_outcomes.planning.trials`
(:func:`simulate_trials`) and :mod:`~rehab_outcomes.planning.schoenfeld`
(:func:`schoenfeld_power`, :func:`expected_events`); they are imported lazily so that the
command line starts fast.
"""

from __future__ import annotations

from rehab_outcomes._lazy import lazy_exports

_LAZY = {
    name: f"rehab_outcomes.planning.{module}"
    for name, module in {
        "PowerSettings": "power",
        "run_power": "power",
        "power_table": "power",
        "gather": "power",
        "simulate_trials": "trials",
        "trial_model": "trials",
        "schoenfeld_power": "schoenfeld",
        "schoenfeld_events": "schoenfeld",
        "expected_events": "schoenfeld",
    }.items()
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
