"""Cox proportional hazards with Efron ties, fitted by Newton–Raphson in numpy.

The engine matches R's ``coxph(..., ties = "efron")``: optional case weights (R's
``weights =``), strata (``strata()``) and a cluster-robust sandwich variance (``cluster =``)
built from Efron score residuals, ``V = I⁻¹ (Σ_c U_c U_cᵀ) I⁻¹`` with ``U_c`` the weighted score
residuals summed within cluster ``c``.

Everything is vectorised: per stratum, risk-set sums are reverse cumulative sums over distinct
times, and Efron's correction for ``d`` tied events is expanded into one row per event (the
``k``-th event of a tie gets the fraction ``k / d``), so no Python loop runs over event times.

Missing covariates: complete-case analysis. A row with a missing covariate, weight, stratum or
cluster is dropped; the count is in ``n_dropped_``. Rows without an outcome (for instance
``reinjury_weeks`` of episodes never pain-free) are not at risk at all; their count is in
``n_no_outcome_``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival._util import (
    build_design,
    outcome_name,
    revcumsum,
    survival_arrays,
)

SUMMARY_COLUMNS = ["term", "coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p"]

#: Events per design column below which a warning is raised.
MIN_EVENTS_PER_TERM = 10


@dataclass
class _Stratum:
    """Fixed (coefficient-free) structure of one stratum, rows sorted by time."""

    rows: np.ndarray  # positions into the analysed arrays
    grp: np.ndarray  # distinct-time index of each row
    starts: np.ndarray  # first row of each distinct time
    dead: np.ndarray  # positions (within stratum) of event rows
    dgrp: np.ndarray  # distinct-time index of each event row
    frac: np.ndarray  # Efron fraction k / d of each event row
    mwt: np.ndarray  # mean case weight of the events tied with each event row
    ngrp: int
    dstarts: np.ndarray  # first event row of each distinct event time
    dug: np.ndarray  # distinct-time index of each distinct event time
    X: np.ndarray | None = None  # centred covariates of the stratum, time order
    w: np.ndarray | None = None  # case weights of the stratum, time order

    def death_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum event-row ``values`` within distinct times (zero at times without events)."""
        out = np.zeros((self.ngrp, *values.shape[1:]))
        if values.shape[0]:
            out[self.dug] = np.add.reduceat(values, self.dstarts, axis=0)
        return out


@dataclass
class _Pieces:
    """Per-stratum quantities at a coefficient vector."""

    loglik: float
    score: np.ndarray
    info: np.ndarray
    risk: np.ndarray  # w * exp(eta - shift), stratum order
    haz: np.ndarray  # mwt / den per event row (scaled by exp(shift))
    xbar: np.ndarray  # Efron weighted means per event row


def _strata_structure(time: np.ndarray, event: np.ndarray, weights: np.ndarray,
                      strata: np.ndarray) -> list[_Stratum]:
    out = []
    order = np.lexsort((time, strata))
    bounds = np.flatnonzero(np.diff(strata[order])) + 1
    for rows in np.split(order, bounds):
        t = time[rows]
        new = np.r_[True, t[1:] != t[:-1]]
        grp = np.cumsum(new) - 1
        starts = np.flatnonzero(new)
        ngrp = starts.size
        dead = np.flatnonzero(event[rows] == 1)
        dgrp = grp[dead]
        d_count = np.bincount(dgrp, minlength=ngrp)
        first_dead = np.r_[0, np.cumsum(d_count)[:-1]]
        k = np.arange(dead.size) - first_dead[dgrp]
        wsum = np.bincount(dgrp, weights=weights[rows][dead], minlength=ngrp)
        with np.errstate(divide="ignore", invalid="ignore"):
            mwt = (wsum / d_count)[dgrp]
        dstarts = np.flatnonzero(np.r_[True, dgrp[1:] != dgrp[:-1]]) if dead.size else dead
        out.append(_Stratum(rows, grp, starts, dead, dgrp, k / d_count[dgrp], mwt, ngrp,
                            dstarts, dgrp[dstarts]))
    return out


def _pieces(st: _Stratum, X: np.ndarray, w: np.ndarray, eta: np.ndarray) -> _Pieces:
    """Log partial likelihood, score and information of one stratum (Efron)."""
    shift = eta.max() if eta.size else 0.0
    risk = w * np.exp(eta - shift)
    wx = risk[:, None] * X
    S0 = revcumsum(np.add.reduceat(risk, st.starts))
    S1 = revcumsum(np.add.reduceat(wx, st.starts, axis=0))
    D0 = np.bincount(st.dgrp, weights=risk[st.dead], minlength=st.ngrp)
    D1 = st.death_sum(wx[st.dead])
    f = st.frac
    den = S0[st.dgrp] - f * D0[st.dgrp]
    xbar = (S1[st.dgrp] - f[:, None] * D1[st.dgrp]) / den[:, None]
    haz = st.mwt / den
    wd = w[st.dead]
    loglik = float(wd @ eta[st.dead] - st.mwt @ (np.log(den) + shift))
    score = wd @ X[st.dead] - st.mwt @ xbar
    h = np.bincount(st.dgrp, weights=haz, minlength=st.ngrp)
    hc = np.bincount(st.dgrp, weights=f * haz, minlength=st.ngrp)
    v = risk * np.cumsum(h)[st.grp]
    v[st.dead] -= risk[st.dead] * hc[st.dgrp]
    info = (X * v[:, None]).T @ X - (xbar * st.mwt[:, None]).T @ xbar
    return _Pieces(loglik, score, info, risk, haz, xbar)


def _score_residuals(st: _Stratum, X: np.ndarray, w: np.ndarray, p: _Pieces) -> np.ndarray:
    """Efron score residuals of one stratum (unweighted, as R's ``type = "score"``)."""
    ngrp = st.ngrp
    d_count = np.bincount(st.dgrp, minlength=ngrp)
    haz, f = p.haz, st.frac
    h = np.bincount(st.dgrp, weights=haz, minlength=ngrp)
    hc = np.bincount(st.dgrp, weights=f * haz, minlength=ngrp)
    hx = st.death_sum(haz[:, None] * p.xbar)
    hcx = st.death_sum((f * haz)[:, None] * p.xbar)
    xmean = st.death_sum(p.xbar)
    with np.errstate(invalid="ignore", divide="ignore"):
        xmean /= np.maximum(d_count, 1)[:, None]
    e = p.risk / w
    H = np.cumsum(h)[st.grp]
    HX = np.cumsum(hx, axis=0)[st.grp]
    Hd, HXd = H.copy(), HX.copy()
    Hd[st.dead] -= hc[st.dgrp]
    HXd[st.dead] -= hcx[st.dgrp]
    resid = -e[:, None] * (X * Hd[:, None] - HXd)
    resid[st.dead] += X[st.dead] - xmean[st.dgrp]
    return resid


class CoxPH:
    """Cox proportional hazards model with Efron ties.

    Parameters
    ----------
    alpha
        One minus the confidence level of the hazard-ratio intervals.
    max_iter, tol
        Newton–Raphson limits: stop when the relative change of the log partial likelihood is
        below ``tol``.

    Attributes
    ----------
    params_, se_, robust_se_
        Coefficients, model-based and (with ``cluster_col``) cluster-robust standard errors.
    var_, robust_var_
        Inverse information and sandwich variance.
    ci_se_
        ``"robust"`` when CIs and p use the robust SE (cluster given, as R), else ``"model"``.
    n_, n_events_, n_dropped_, n_no_outcome_
        Rows analysed, events, complete-case drops and rows without an outcome.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"t": rng.exponential(1, 200).round(1), "e": 1, "x": rng.normal(size=200)})
    >>> CoxPH().fit(df, "t", "e", covariates=["x"]).summary["term"].tolist()
    ['x']
    """

    def __init__(self, alpha: float = 0.05, max_iter: int = 50, tol: float = 1e-12) -> None:
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol

    def fit(
        self,
        df: pd.DataFrame,
        duration_col: str = "pain_free_weeks",
        event_col: str = "pain_free_event",
        covariates: Sequence[str] = ("arm",),
        weights_col: str | None = None,
        strata_col: str | None = None,
        cluster_col: str | None = None,
        group_col: str | None = "arm",
        outcome: str | None = None,
    ) -> CoxPH:
        """Fit the model.

        Parameters
        ----------
        df
            Episodes with derived outcomes, or any frame with the named columns.
        duration_col, event_col
            Time and event indicator (1 = event).
        covariates
            Terms; categorical ones are expanded against reference levels (``arm``: rest_only,
            ``sex``: female) into columns such as ``arm:stretching_only``.
        weights_col, strata_col, cluster_col
            Case weights, stratification, and the clustering of the robust variance.
        group_col
            Treatment column checked for a single group and groups without events.
        outcome
            Label (default: ``duration_col`` without ``_weeks``).
        """
        time, event, weights, ok = survival_arrays(df, duration_col, event_col, weights_col)
        self.n_no_outcome_ = int((~ok).sum())
        eligible = ok.copy()
        for col in (strata_col, cluster_col):
            if col is not None:
                if col not in df.columns:
                    raise AnalysisError(f"column {col!r} is missing from the data")
                eligible &= df[col].notna().to_numpy(dtype=bool)
        if group_col is not None and group_col in covariates:
            self._check_groups(df, group_col, event, ok)
        design = build_design(df, list(covariates), eligible)
        keep = design.complete
        self.n_dropped_ = int(ok.sum() - keep.sum())
        X = design.X
        t, e, w = time[keep], event[keep], weights[keep]
        self.outcome_ = outcome_name(duration_col, outcome)
        self.terms_ = design.names
        self.assign_ = design.assign
        self.references_ = design.references
        self.n_ = int(keep.sum())
        self.index_ = df.index[keep]
        self.n_events_ = int(e.sum())
        if self.n_events_ == 0:
            raise AnalysisError(f"no events in {event_col!r} among the analysed rows")
        if X.shape[1] == 0:
            raise AnalysisError("no covariate columns to fit")
        if self.n_events_ < MIN_EVENTS_PER_TERM * X.shape[1]:
            warnings.warn(
                f"{self.n_events_} events for {X.shape[1]} coefficients: fewer than "
                f"{MIN_EVENTS_PER_TERM} events per term, estimates may be unstable",
                StatisticalWarning,
                stacklevel=2,
            )
        strata = (
            np.zeros(t.size, dtype=np.intp)
            if strata_col is None
            else pd.factorize(df.loc[keep, strata_col].astype(str), sort=True)[0]
        )
        self.means_ = X.mean(axis=0)
        Xc = X - self.means_
        self._strata = _strata_structure(t, e, w, strata)
        self._X, self._w, self._t, self._e = Xc, w, t, e
        beta = self._newton(Xc, w)
        self.params_ = pd.Series(beta, index=self.terms_)
        self.var_ = np.linalg.inv(self._info)
        self.se_ = pd.Series(np.sqrt(np.diag(self.var_)), index=self.terms_)
        self.robust_var_ = None
        self.robust_se_ = pd.Series(np.nan, index=self.terms_)
        if cluster_col is not None:
            cl = pd.factorize(df.loc[keep, cluster_col].astype(str), sort=True)[0]
            wr = self.score_residuals_ * w[:, None]
            uc = np.zeros((cl.max() + 1, beta.size))
            np.add.at(uc, cl, wr)
            self.robust_var_ = self.var_ @ (uc.T @ uc) @ self.var_
            self.robust_se_ = pd.Series(np.sqrt(np.diag(self.robust_var_)), index=self.terms_)
            self.n_clusters_ = int(cl.max() + 1)
        self.ci_se_ = "robust" if cluster_col is not None else "model"
        self._check_divergence(beta)
        return self

    def _check_groups(self, df: pd.DataFrame, group_col: str, event: np.ndarray,
                      ok: np.ndarray) -> None:
        s = df.loc[ok, group_col].astype(str)
        present = s.unique()
        if len(present) < 2:
            raise AnalysisError(
                f"only one {group_col!r} group ({', '.join(map(str, present))}): "
                "no hazard ratio can be estimated"
            )
        ev = pd.Series(event[ok]).groupby(s.to_numpy()).sum()
        none = sorted(ev.index[ev == 0])
        if none:
            raise AnalysisError(
                f"{group_col!r} group(s) {none} have no events: their hazard ratio is not "
                "estimable (monotone likelihood); merge or drop them"
            )

    def _evaluate(self, Xc: np.ndarray, w: np.ndarray, beta: np.ndarray) -> list[_Pieces]:
        out = []
        for st in self._strata:
            if st.X is None:
                st.X, st.w = Xc[st.rows], w[st.rows]
            out.append(_pieces(st, st.X, st.w, st.X @ beta))
        return out

    def _newton(self, Xc: np.ndarray, w: np.ndarray) -> np.ndarray:
        beta = np.zeros(Xc.shape[1])
        pieces = self._evaluate(Xc, w, beta)
        loglik = sum(p.loglik for p in pieces)
        self.loglik_null_ = loglik
        self.converged_ = False
        self.n_iter_ = 0
        for it in range(1, self.max_iter + 1):
            score = sum(p.score for p in pieces)
            info = sum(p.info for p in pieces)
            try:
                step = np.linalg.solve(info, score)
            except np.linalg.LinAlgError as exc:
                raise AnalysisError(
                    "the information matrix is singular: covariates are collinear"
                ) from exc
            for _ in range(30):
                new_beta = beta + step
                new_pieces = self._evaluate(Xc, w, new_beta)
                new_loglik = sum(p.loglik for p in new_pieces)
                if np.isfinite(new_loglik) and new_loglik >= loglik - 1e-12 * abs(loglik):
                    break
                step = step / 2
            beta, pieces, change = new_beta, new_pieces, new_loglik - loglik
            loglik = new_loglik
            self.n_iter_ = it
            if abs(change) <= self.tol * max(abs(loglik), 1.0):
                self.converged_ = True
                break
        self.loglik_ = loglik
        self._pieces = pieces
        self._info = sum(p.info for p in pieces)
        self._score = sum(p.score for p in pieces)
        if np.linalg.matrix_rank(self._info) < self._info.shape[0]:
            raise AnalysisError("the information matrix is singular: covariates are collinear")
        resid = np.empty_like(Xc)
        for st, p in zip(self._strata, pieces, strict=True):
            resid[st.rows] = _score_residuals(st, st.X, st.w, p)
        self.score_residuals_ = resid
        return beta

    def _check_divergence(self, beta: np.ndarray) -> None:
        step = np.abs(np.linalg.solve(self._info, self._score))
        sd = self._X.std(axis=0)
        bad = (step > 1e-4 * np.maximum(np.abs(beta), 1.0)) | (np.abs(beta) * sd > 15)
        if not self.converged_:
            bad |= True
        if bad.any():
            names = [n for n, b in zip(self.terms_, bad, strict=True) if b]
            warnings.warn(
                f"monotone likelihood: coefficient(s) {names} diverge (perfect separation or "
                "too few events); their hazard ratios and standard errors are not meaningful",
                StatisticalWarning,
                stacklevel=3,
            )

    @property
    def summary(self) -> pd.DataFrame:
        """``term, coef, se, robust_se, hr, hr_lower, hr_upper, p``; CIs and p use the robust SE
        when a cluster was given (``ci_se_``), as R's ``summary(coxph(..., cluster = ))``."""
        se = self.robust_se_ if self.ci_se_ == "robust" else self.se_
        z = stats.norm.ppf(1 - self.alpha / 2)
        coef = self.params_
        out = pd.DataFrame(
            {
                "term": self.terms_,
                "coef": coef.to_numpy(),
                "se": self.se_.to_numpy(),
                "robust_se": self.robust_se_.to_numpy(),
                "hr": np.exp(coef.to_numpy()),
                "hr_lower": np.exp((coef - z * se).to_numpy()),
                "hr_upper": np.exp((coef + z * se).to_numpy()),
                "p": 2 * stats.norm.sf(np.abs((coef / se).to_numpy())),
            }
        )
        return out[SUMMARY_COLUMNS]

    @property
    def score_residuals(self) -> pd.DataFrame:
        """Efron score residuals of the analysed rows (R's ``residuals(fit, type = "score")``)."""
        return pd.DataFrame(self.score_residuals_, columns=self.terms_)
