"""Survival analysis of time to pain-free running and re-injury, checked against R's survival."""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
