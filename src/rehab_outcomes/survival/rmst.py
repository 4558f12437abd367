"""Restricted mean survival time per arm and differences versus the reference arm.

The RMST to ``tau`` is the area under the Kaplan–Meier curve on ``[0, tau]``. Its variance is
the Greenwood-type sum ``Σ_{t_j ≤ tau} A_j² d_j / (n_j (n_j - d_j))``, ``A_j`` the area from
``t_j`` to ``tau``, as both survRM2's ``rmst1`` and R survival's ``survmean`` (``print(fit,
rmean = tau)``, column ``se(rmean)``) compute it. Some software scales that variance by ``m / (m - 1)``, ``m`` the number of events;
R survival 3.5.3 (checked in ``tests/test_survival_r.py``) and survRM2 do not, nor does this
module. The difference versus the reference arm has
``SE = sqrt(var_a + var_ref)`` and a normal-theory CI and p-value, as survRM2; when that SE is
zero (no events before ``tau`` in either arm) the CI and p-value are left empty, with a warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.contract.schema import REFERENCE_ARM
from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival._util import group_codes, outcome_name, survival_arrays
from rehab_outcomes.survival.km import km_arrays

COLUMNS = ["outcome", "arm", "tau", "rmst", "se", "diff_vs_rest", "diff_lower", "diff_upper", "p"]


def rmst_curve(cur: dict[str, np.ndarray], tau: float) -> tuple[float, float]:
    """RMST and its standard error from :func:`~rehab_outcomes.survival.km.km_arrays` output."""
    keep = cur["time"] <= tau
    times = np.r_[cur["time"][keep], tau]
    surv = cur["surv"][keep]
    n, d = cur["n_risk"][keep], cur["n_event"][keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        hh = np.where(n - d == 0, 0.0, d / (n * (n - d)))
    rect = np.diff(np.r_[0.0, times]) * np.r_[1.0, surv]
    tail = np.cumsum(rect[::-1])[::-1]
    var = float(np.sum(hh * tail[1:] ** 2))
    return float(rect.sum()), float(np.sqrt(var))


def rmst_table(
    df: pd.DataFrame,
    duration_col: str = "pain_free_weeks",
    event_col: str = "pain_free_event",
    group_col: str = "arm",
    tau: float = 26.0,
    weights_col: str | None = None,
    reference: str = REFERENCE_ARM,
    alpha: float = 0.05,
    outcome: str | None = None,
) -> pd.DataFrame:
    """RMST to ``tau`` per group with SE, and the difference versus ``reference``.

    Returns
    -------
    pandas.DataFrame
        ``outcome, arm, tau, rmst, se, diff_vs_rest, diff_lower, diff_upper, p``; the
        difference columns are empty on the reference row.
    """
    if not tau > 0:
        raise AnalysisError(f"tau must be positive, got {tau}")
    time, event, weights, ok = survival_arrays(df, duration_col, event_col, weights_col)
    codes, labels = group_codes(df, group_col, ok)
    if reference not in labels:
        raise AnalysisError(f"reference group {reference!r} has no rows with an outcome")
    t, e, w = time[ok], event[ok], weights[ok]
    res = {}
    for k, lab in enumerate(labels):
        sel = codes == k
        cur = km_arrays(t[sel], e[sel], w[sel])
        if cur["time"][-1] < tau:
            warnings.warn(
                f"group {lab!r}: follow-up ends at {cur['time'][-1]:g} < tau = {tau:g}; the "
                "curve is carried forward flat (survRM2 refuses such a tau)",
                StatisticalWarning,
                stacklevel=2,
            )
        res[lab] = rmst_curve(cur, tau)
    z = stats.norm.ppf(1 - alpha / 2)
    ref_mean, ref_se = res[reference]
    rows = []
    no_se = []
    for lab, (mean, se) in res.items():
        if lab == reference:
            diff = lo = hi = p = np.nan
        else:
            diff = mean - ref_mean
            sd = float(np.hypot(se, ref_se))
            if np.isfinite(sd) and sd > 0:
                lo, hi = diff - z * sd, diff + z * sd
                p = 2 * stats.norm.sf(abs(diff) / sd)
            else:  # no events before tau in either arm: no test, never p = 0
                lo = hi = p = np.nan
                no_se.append(lab)
        rows.append((lab, float(tau), mean, se, diff, lo, hi, p))
    if no_se:
        warnings.warn(
            f"{outcome_name(duration_col, outcome)}: RMST difference(s) of {no_se} vs "
            f"{reference!r} have a standard error of zero or not finite (no events before tau "
            f"= {tau:g} in either arm); p-value and confidence interval left empty",
            StatisticalWarning,
            stacklevel=2,
        )
    out = pd.DataFrame(rows, columns=COLUMNS[1:])
    out.insert(0, "outcome", outcome_name(duration_col, outcome))
    return out
