"""Restricted mean survival time per arm and differences versus the reference arm.

The RMST to ``tau`` is the area under the Kaplan–Meier curve on ``[0, tau]``. Its variance is
the Greenwood-type sum ``Σ_{t_j ≤ tau} A_j² d_j / (n_j (n_j - d_j))``, ``A_j`` the area from
``t_j`` to ``tau``, as both survRM2's ``rmst1`` and R survival's ``survmean`` (``print(fit,
rmean = tau)``, column ``se(rmean)``) compute it. Some software scales that variance by
``m / (m - 1)``, ``m`` the number of events; R survival 3.5.3 (checked in
``tests/test_survival_r.py``) and survRM2 do not, nor does this module.

With non-integer case weights (inverse probability weights) the Greenwood sum would treat the
weights as counts. The variance is then the robust infinitesimal-jackknife (IJ) one, as R's
Kaplan–Meier uses for such weights: ``Var = Σ_i (w_i ∂RMST/∂w_i)²``, which equals
``sum((w * residuals(survfit(..., weights = w), times = tau, type = "sojourn"))^2)`` in R
(checked in ``tests/test_iptw.py``).

The difference versus the reference arm has ``SE = sqrt(var_a + var_ref)`` and a normal-theory
CI and p-value, as survRM2; when that SE is zero (no events before ``tau`` in either arm) the
CI and p-value are left empty, with a warning.

An arm whose last time (event or censoring) is before ``tau`` while its curve is still above 0
needs the curve carried forward beyond the data. ``beyond_follow_up="refuse"`` (what the
analysis pipeline uses) refuses such a ``tau`` with an :class:`AnalysisError`, as survRM2 does;
``"warn"`` (the function's default, R survival's ``print(fit, rmean = tau)``) carries the curve
forward flat with a warning.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.contract.schema import REFERENCE_ARM
from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival._util import group_codes, outcome_name, survival_arrays
from rehab_outcomes.survival.km import km_arrays

COLUMNS = ["outcome", "arm", "tau", "rmst", "se", "diff_vs_rest", "diff_lower", "diff_upper", "p"]


def rmst_curve(cur: dict[str, np.ndarray], tau: float) -> tuple[float, float]:
    """RMST and its (Greenwood-type) standard error from
    :func:`~rehab_outcomes.survival.km.km_arrays` output."""
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


def rmst_influence(
    time: np.ndarray, event: np.ndarray, weights: np.ndarray, tau: float
) -> tuple[float, np.ndarray]:
    """RMST to ``tau`` of one group and the IJ influence of each row per unit of its weight.

    The influence of row ``i`` on ``S(t_j)`` is ``S(t_j) [C_{min(j, k_i)} - e_i 1{k_i <= j}
    g_{k_i}]`` (see :func:`~rehab_outcomes.survival.km.km_arrays`); the RMST is
    ``Σ_j Δ_j S(t_j)`` plus a constant, ``Δ_j`` the width of the step at ``t_j`` within
    ``[0, tau]``, so its influence is the same sum over the steps. The robust variance is
    ``Σ_i (w_i infl_i)²``.

    Returns
    -------
    tuple
        The RMST and the array of influences (R's ``residuals(..., type = "sojourn")``, up to
        sign).
    """
    utime, inv = np.unique(time, return_inverse=True)
    n_event = np.bincount(inv, weights=weights * event, minlength=utime.size)
    n_risk = np.cumsum(np.bincount(inv, weights=weights, minlength=utime.size)[::-1])[::-1]
    h = np.divide(n_event, n_risk, out=np.zeros_like(n_event), where=n_event > 0)
    surv = np.cumprod(1.0 - h)
    live = (n_event > 0) & (h < 1)
    g = np.zeros_like(h)
    g[live] = 1.0 / (n_risk[live] * (1.0 - h[live]))
    c = np.cumsum(h * g)
    inside = utime <= tau
    nxt = np.minimum(np.r_[utime[1:], np.inf], tau)
    width = np.where(inside, nxt - utime, 0.0)
    a = width * surv  # area of the step starting at each distinct time
    first = min(float(utime[0]), tau)
    rmst = first + float(a.sum())
    prefix = np.r_[0.0, np.cumsum(a * c)[:-1]]  # Σ_{j < k} a_j C_j
    tail = np.cumsum(a[::-1])[::-1]  # Σ_{j >= k} a_j
    k = inv
    infl = prefix[k] + (c[k] - event * g[k]) * tail[k]
    return rmst, infl


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
    variance: Literal["auto", "greenwood", "robust"] = "auto",
    beyond_follow_up: Literal["warn", "refuse"] = "warn",
) -> pd.DataFrame:
    """RMST to ``tau`` per group with SE, and the difference versus ``reference``.

    Parameters
    ----------
    df
        One row per episode with the duration, event and group columns.
    duration_col, event_col, group_col
        Columns of the time, the event indicator (1 = event) and the arm.
    tau
        Horizon in weeks (see ``beyond_follow_up``).
    weights_col
        Optional case weights (e.g. stabilised inverse probability weights).
    reference
        Group the differences are taken against.
    alpha
        One minus the confidence level of the difference intervals.
    outcome
        Label of the ``outcome`` column (default: ``duration_col`` without ``_weeks``).
    variance
        ``"auto"`` (R's rule for Kaplan–Meier: Greenwood without weights or with integer
        weights, the robust IJ variance with any non-integer weight), ``"greenwood"`` or
        ``"robust"``.
    beyond_follow_up
        A ``tau`` beyond the last time of a group whose curve is still above 0: ``"refuse"``
        raises :class:`AnalysisError`; ``"warn"`` carries the curve forward flat with a
        :class:`StatisticalWarning`.

    Returns
    -------
    pandas.DataFrame
        ``outcome, arm, tau, rmst, se, diff_vs_rest, diff_lower, diff_upper, p``; the
        difference columns are empty on the reference row.

    Raises
    ------
    AnalysisError
        A non-positive ``tau``, no reference group, or (with ``beyond_follow_up="refuse"``) a
        ``tau`` beyond the follow-up of a group whose curve is still above 0 there.
    """
    if not tau > 0:
        raise AnalysisError(f"tau must be positive, got {tau}")
    if beyond_follow_up not in ("warn", "refuse"):
        raise AnalysisError(f"beyond_follow_up must be 'warn' or 'refuse', not {beyond_follow_up!r}")
    if variance not in ("auto", "greenwood", "robust"):
        raise AnalysisError(f"variance must be 'auto', 'greenwood' or 'robust', not {variance!r}")
    time, event, weights, ok = survival_arrays(df, duration_col, event_col, weights_col)
    codes, labels = group_codes(df, group_col, ok)
    if reference not in labels:
        raise AnalysisError(f"reference group {reference!r} has no rows with an outcome")
    t, e, w = time[ok], event[ok], weights[ok]
    if variance == "auto":
        robust = weights_col is not None and bool(np.any(w != np.floor(w)))
    else:
        robust = variance == "robust"
    name = outcome_name(duration_col, outcome)
    short = []
    for k, lab in enumerate(labels):
        sel = codes == k
        cur = km_arrays(t[sel], e[sel], w[sel])
        if cur["time"][-1] < tau and cur["surv"][-1] > 0:
            short.append(f"{lab} ({cur['time'][-1]:g} weeks)")
            if beyond_follow_up == "warn":
                warnings.warn(
                    f"group {lab!r}: follow-up ends at {cur['time'][-1]:g} < tau = {tau:g}; the "
                    "curve is carried forward flat (survRM2 refuses such a tau)",
                    StatisticalWarning,
                    stacklevel=2,
                )
    if short and beyond_follow_up == "refuse":
        raise AnalysisError(
            f"{name}: tau = {tau:g} weeks lies beyond the last follow-up of {', '.join(short)}; "
            "the RMST would carry the curve forward beyond the data, so it is not computed "
            "(choose a tau within every arm's follow-up)"
        )
    res = {}
    for k, lab in enumerate(labels):
        sel = codes == k
        if robust:
            mean, infl = rmst_influence(t[sel], e[sel], w[sel], tau)
            res[lab] = (mean, float(np.sqrt(np.sum((w[sel] * infl) ** 2))))
        else:
            res[lab] = rmst_curve(km_arrays(t[sel], e[sel], w[sel]), tau)
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
            f"{name}: RMST difference(s) of {no_se} vs "
            f"{reference!r} have a standard error of zero or not finite (no events before tau "
            f"= {tau:g} in either arm); p-value and confidence interval left empty",
            StatisticalWarning,
            stacklevel=2,
        )
    out = pd.DataFrame(rows, columns=COLUMNS[1:])
    out.insert(0, "outcome", name)
    return out
