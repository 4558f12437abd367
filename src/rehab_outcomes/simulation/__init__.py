"""Simulated cohorts with known truth (:func:`simulate_cohort`, :func:`load_params`).

The model, every parameter, its default and source are described in ``docs/simulation.md``.
"""

from rehab_outcomes.simulation.cohort import DESIGNS, Cohort, simulate_cohort
from rehab_outcomes.simulation.params import TERMS, SimulationParams, params_from_dict
from rehab_outcomes.simulation.scenarios import SCENARIOS, load_params

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
