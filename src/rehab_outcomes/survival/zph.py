"""Proportional-hazards check as R's ``cox.zph(fit, transform = "km")`` (survival ≥ 3).

For every term the score test of adding ``x · g(t)`` to the fitted model is computed at
``(β̂, γ = 0)`` with the full information matrix of ``(β, γ)``, Efron ties and case weights as in
the fit; ``GLOBAL`` tests all ``γ`` together. ``g(t)`` is one minus the left-continuous
Kaplan–Meier curve of all analysed rows (unweighted, ignoring strata), centred at its mean over
the events: exactly R's ``transform = "km"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.survival.cox import CoxPH
from rehab_outcomes.survival.km import km_arrays

COLUMNS = ["outcome", "term", "chisq", "df", "p"]


def km_transform(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``1 - S(t-)`` of the unweighted Kaplan–Meier curve at each ``time``."""
    cur = km_arrays(time, event, np.ones_like(time))
    idx = np.searchsorted(cur["time"], time, side="left")  # times strictly below t
    return 1.0 - np.r_[1.0, cur["surv"]][idx]


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
    g = km_transform(t, e)
    g = g - g[e == 1].mean()
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
            target += (xs * v[:, None]).T @ xs - (pc.xbar * (st.mwt * gp)[:, None]).T @ pc.xbar
    imat = np.block([[fit._info, i1], [i1, i2]])
    rows = []
    for term, cols in fit.assign_.items():
        kk = list(range(nv)) + [nv + j for j in cols]
        uu = np.r_[np.zeros(nv), u[cols]]
        chisq = float(uu @ np.linalg.solve(imat[np.ix_(kk, kk)], uu))
        rows.append((term, chisq, len(cols)))
    uu = np.r_[np.zeros(nv), u]
    rows.append(("GLOBAL", float(uu @ np.linalg.solve(imat, uu)), nv))
    out = pd.DataFrame(rows, columns=["term", "chisq", "df"])
    out.insert(0, "outcome", fit.outcome_)
    out["p"] = stats.chi2.sf(out["chisq"], out["df"])
    return out[COLUMNS]
