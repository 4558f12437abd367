"""Proportional-hazards check as R's ``cox.zph(fit, transform = "km")`` (survival ≥ 3).

For every term the score test of adding ``x · g(t)`` to the fitted model is computed at
``(β̂, γ = 0)`` with the full information matrix of ``(β, γ)``, Efron ties and case weights as in
the fit; ``GLOBAL`` tests all ``γ`` together. ``g(t)`` is one minus the left-continuous
Kaplan–Meier curve of all analysed rows (unweighted, ignoring strata), centred at its mean over
the events: exactly R's ``transform = "km"``.

Counting-process fits (``entry_col``, rows ``(start, stop]``) are handled as R does for
``Surv(start, stop, event)`` (its ``Czph2``): the risk set at an event time ``t`` holds the rows
with ``start < t <= stop``, ``g`` is taken at the stop times and the Kaplan–Meier curve is that
of the counting-process data (at risk at ``t``: ``start < t <= stop``), all rows pooled,
unweighted. The information blocks subtract, for each row, the event times up to its start, as
the cumulative hazard of the fit does.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival.cox import CoxPH
from rehab_outcomes.survival.km import km_arrays

COLUMNS = ["outcome", "term", "chisq", "df", "p"]


def km_transform(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``1 - S(t-)`` of the unweighted Kaplan–Meier curve at each ``time``."""
    cur = km_arrays(time, event, np.ones_like(time))
    idx = np.searchsorted(cur["time"], time, side="left")  # times strictly below t
    return 1.0 - np.r_[1.0, cur["surv"]][idx]


def km_transform_counting(start: np.ndarray, stop: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``1 - S(stop-)`` of the unweighted Kaplan–Meier curve of ``(start, stop]`` data.

    As R's ``survfitKM`` of ``Surv(start, stop, event)``: at an event time ``t`` the rows with
    ``start < t <= stop`` are at risk.
    """
    utime = np.unique(stop[event == 1])
    n_event = np.bincount(np.searchsorted(utime, stop[event == 1]), minlength=utime.size)
    n_risk = (stop.size - np.searchsorted(np.sort(stop), utime, side="left")) - (
        start.size - np.searchsorted(np.sort(start), utime, side="left"))
    surv = np.cumprod(1.0 - n_event / n_risk)
    idx = np.searchsorted(utime, stop, side="left")  # event times strictly below stop
    return 1.0 - np.r_[1.0, surv][idx]


def _quadratic_form(imat: np.ndarray, u: np.ndarray) -> float:
    """``uᵀ I⁻¹ u``, or ``NaN`` when ``I`` is singular (no test can be made)."""
    if not np.all(np.isfinite(imat)) or np.linalg.matrix_rank(imat) < imat.shape[0]:
        return float("nan")
    value = float(u @ np.linalg.solve(imat, u))
    return value if np.isfinite(value) else float("nan")


def cox_zph(fit: CoxPH) -> pd.DataFrame:
    """Score tests of proportional hazards per term and ``GLOBAL``.

    Parameters
    ----------
    fit
        A fitted :class:`~rehab_outcomes.survival.cox.CoxPH`.

    Returns
    -------
    pandas.DataFrame
        ``outcome, term, chisq, df, p``; terms as given to ``fit`` (``arm`` has 2 df).
    """
    if not hasattr(fit, "params_"):
        raise AnalysisError("cox_zph needs a fitted CoxPH model")
    X, t, e = fit._X, fit._t, fit._e
    entry = getattr(fit, "_entry", None)  # start times of a counting-process fit, else None
    g = km_transform(t, e) if entry is None else km_transform_counting(entry, t, e)
    g = g - g[e == 1].mean()
    if not np.any(np.abs(g[e == 1]) > 1e-12):
        raise AnalysisError(
            "the proportional-hazards test needs events at two or more distinct times: every "
            "event happened at the same time"
        )
    nv = X.shape[1]
    u = np.zeros(nv)
    i1 = np.zeros((nv, nv))
    i2 = np.zeros((nv, nv))
    for st, pc in zip(fit._strata, fit._pieces, strict=True):
        xs, ws = st.X, st.w  # centred, in time order: the same rows as X[st.rows]
        gd = g[st.rows][st.dead]
        u += (gd * ws[st.dead]) @ xs[st.dead] - (gd * st.mwt) @ pc.xbar
        for power, target in ((1, i1), (2, i2)):
            gp = gd**power
            h = np.bincount(st.dgrp, weights=pc.haz * gp, minlength=st.ngrp)
            hc = np.bincount(st.dgrp, weights=st.frac * pc.haz * gp, minlength=st.ngrp)
            v = pc.risk * np.cumsum(h)[st.grp]
            v[st.dead] -= pc.risk[st.dead] * hc[st.dgrp]
            if st.ent is not None:  # only the event times in (start, stop]
                v -= pc.risk * np.r_[0.0, np.cumsum(h)][st.ent]
            target += (xs * v[:, None]).T @ xs - (pc.xbar * (st.mwt * gp)[:, None]).T @ pc.xbar
    imat = np.block([[fit._info, i1], [i1, i2]])
    rows = []
    for term, cols in fit.assign_.items():
        kk = list(range(nv)) + [nv + j for j in cols]
        uu = np.r_[np.zeros(nv), u[cols]]
        rows.append((term, _quadratic_form(imat[np.ix_(kk, kk)], uu), len(cols)))
    uu = np.r_[np.zeros(nv), u]
    rows.append(("GLOBAL", _quadratic_form(imat, uu), nv))
    out = pd.DataFrame(rows, columns=["term", "chisq", "df"])
    if out["chisq"].isna().all():
        raise AnalysisError("the proportional-hazards test is undefined on these data: the "
                            "information matrix of the test is singular")
    if out["chisq"].isna().any():
        warnings.warn(
            f"{fit.outcome_}: proportional-hazards test of {out.loc[out['chisq'].isna(), 'term'].tolist()} "
            "not computed (singular information matrix); chi-square and p-value left empty",
            StatisticalWarning,
            stacklevel=2,
        )
    out.insert(0, "outcome", fit.outcome_)
    out["p"] = stats.chi2.sf(out["chisq"], out["df"])
    return out[COLUMNS]
