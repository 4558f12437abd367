"""Constructed result tables for the claim tests: intervals consistent with their SEs and level."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.survival.claims import evaluate_claims

STRENGTH = "arm:strength_graded_running"
STRETCH = "arm:stretching_only"
COX_COLUMNS = ["term", "coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p"]


def z(alpha: float = 0.05) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def cox_row(term: str, coef: float, se: float, alpha: float = 0.05,
            robust_se: float = np.nan, use: str = "model") -> dict:
    """One Cox table row whose interval and p use ``se`` (``use="model"``) or ``robust_se``."""
    s = se if use == "model" else robust_se
    return {"term": term, "coef": coef, "se": se, "robust_se": robust_se, "hr": math.exp(coef),
            "hr_lower": math.exp(coef - z(alpha) * s), "hr_upper": math.exp(coef + z(alpha) * s),
            "p": float(2 * stats.norm.sf(abs(coef) / s))}


def ci_row(term: str, lo: float, hi: float, alpha: float = 0.05) -> dict:
    """A Cox row whose ``1 - alpha`` interval is exactly ``lo``–``hi`` (HR at its centre)."""
    coef = (math.log(lo) + math.log(hi)) / 2
    se = (math.log(hi) - math.log(lo)) / (2 * z(alpha))
    row = cox_row(term, coef, se, alpha)
    row["hr_lower"], row["hr_upper"] = lo, hi  # exactly as printed: margins are judged on these
    return row


def cox(strength: tuple[float, float] | dict, stretch: tuple[float, float] | dict,
        alpha: float = 0.05) -> pd.DataFrame:
    """A Cox table from ``(lower, upper)`` intervals or ready rows of the two arm terms."""
    rows = [r if isinstance(r, dict) else ci_row(term, *r, alpha=alpha)
            for term, r in ((STRETCH, stretch), (STRENGTH, strength))]
    rows.append(cox_row("age_years", 0.01, 0.005, alpha))
    return pd.DataFrame(rows, columns=COX_COLUMNS)


def rmst(lo: float, hi: float, alpha: float = 0.05, tau: float = 26.0) -> pd.DataFrame:
    """An RMST table whose pain-free strength difference has the interval ``lo``–``hi``."""
    d = (lo + hi) / 2
    sd = (hi - lo) / (2 * z(alpha))
    se = sd / math.sqrt(2)
    p = float(2 * stats.norm.sf(abs(d) / sd))
    rows = []
    for outcome, base in (("pain_free", 18.0), ("reinjury", 22.0)):
        rows.append((outcome, "rest_only", tau, base, se, np.nan, np.nan, np.nan, np.nan))
        rows.append((outcome, "stretching_only", tau, base - 0.1, se, -0.1, -0.1 - z(alpha) * sd,
                     -0.1 + z(alpha) * sd, float(2 * stats.norm.sf(0.1 / sd))))
        rows.append((outcome, "strength_graded_running", tau, base + d, se, d, lo, hi, p))
    return pd.DataFrame(rows, columns=["outcome", "arm", "tau", "rmst", "se", "diff_vs_rest",
                                       "diff_lower", "diff_upper", "p"])


def state(p_rest: float, p_stretch: float, p_strength: float, se: float = 0.01,
          week: float = 52.0) -> pd.DataFrame:
    """State occupation at ``week`` (running pain-free; the other states fill the rest)."""
    rows = []
    for arm, p in (("rest_only", p_rest), ("stretching_only", p_stretch),
                   ("strength_graded_running", p_strength)):
        for st, prob in (("in_care", (1 - p) / 2), ("running_pain_free", p),
                         ("reinjured", (1 - p) / 2)):
            rows.append((arm, week, st, prob, se, prob - 0.02, prob + 0.02))
    return pd.DataFrame(rows, columns=["arm", "time", "state", "probability", "se", "lower",
                                       "upper"])


def state_for_difference(lo: float, hi: float, alpha: float = 0.05) -> pd.DataFrame:
    """State occupation whose claim-1 difference (rest minus mean of the others) has the
    interval ``lo``–``hi`` (equal SEs in every arm)."""
    d = (lo + hi) / 2
    sd = (hi - lo) / (2 * z(alpha))
    se = sd / math.sqrt(1.5)  # var(d) = se² + (se² + se²) / 4
    return state(0.45 + d, 0.45, 0.45, se)


def claims(pf: pd.DataFrame | None = None, re: pd.DataFrame | None = None,
           rm: pd.DataFrame | None = None, so: pd.DataFrame | None = None,
           alpha: float = 0.05, **kwargs) -> pd.DataFrame:
    """Claims on default tables (every test decisive) with some replaced, indexed by claim id."""
    pf = pf if pf is not None else cox((1.4, 1.7), (0.95, 1.1), alpha)
    re = re if re is not None else cox((0.3, 0.45), (0.9, 1.05), alpha)
    rm = rm if rm is not None else rmst(-4.0, -2.0, alpha)
    so = so if so is not None else state_for_difference(-0.12, -0.06, alpha)
    return evaluate_claims(pf, re, rm, so, alpha=alpha, **kwargs).set_index("claim_id")
