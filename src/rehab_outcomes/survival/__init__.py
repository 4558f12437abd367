"""Survival analysis of time to pain-free running and re-injury, checked against R's survival."""

from rehab_outcomes.survival.cox import CoxPH
from rehab_outcomes.survival.cuminc import cumulative_incidence
from rehab_outcomes.survival.km import KaplanMeier, survival_at
from rehab_outcomes.survival.logrank import holm, logrank_table, survdiff
from rehab_outcomes.survival.rmst import rmst_table
from rehab_outcomes.survival.zph import cox_zph

__all__ = [
    "CoxPH",
    "KaplanMeier",
    "cox_zph",
    "cumulative_incidence",
    "holm",
    "logrank_table",
    "rmst_table",
    "survdiff",
    "survival_at",
]
