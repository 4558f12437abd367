"""Survival analysis of time to pain-free running and re-injury, checked against R's survival."""

from __future__ import annotations

from rehab_outcomes._lazy import lazy_exports

# Names are imported on first use, so that importing one submodule (or the CLI) stays fast.
_LAZY = {
    "CoxPH": "rehab_outcomes.survival.cox",
    "cumulative_incidence": "rehab_outcomes.survival.cuminc",
    "KaplanMeier": "rehab_outcomes.survival.km",
    "survival_at": "rehab_outcomes.survival.km",
    "holm": "rehab_outcomes.survival.logrank",
    "logrank_table": "rehab_outcomes.survival.logrank",
    "survdiff": "rehab_outcomes.survival.logrank",
    "rmst_table": "rehab_outcomes.survival.rmst",
    "cox_zph": "rehab_outcomes.survival.zph",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
