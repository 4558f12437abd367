"""Cox proportional hazards with Efron ties, fitted by Newton–Raphson in numpy.

The engine matches R's ``coxph(..., ties = "efron")``: optional case weights (R's
``weights =``), strata (``strata()``) and a cluster-robust sandwich variance (``cluster =``)
built from Efron score residuals, ``V = I⁻¹ (Σ_c U_c U_cᵀ) I⁻¹`` with ``U_c`` the weighted score
residuals summed within cluster ``c``.

Everything is vectorised and built for large cohorts with many ties. The rows are sorted once
(stratum, time, event) and the tie structure is precomputed; per Newton step the risk-set sums
are block sums (``np.add.reduceat``) over distinct times followed by reverse cumulative sums,
Efron's correction for ``d`` tied events (the ``k``-th gets the fraction ``k / d``) reduces to
per-time scalar sums, and the information matrix is one BLAS product ``Xᵀ (v X)``, so no
Python loop runs over event times and no ``n × p × p`` array is formed. Score residuals are
computed once, at the estimate.

Counting-process data (``entry_col``): each row is an interval ``(start, stop]`` with the event,
if any, at ``stop``, as R's ``Surv(start, stop, event)``; a row is at risk at ``t`` when
``start < t <= stop``. This gives time-varying covariates (one row per subject-period) and delayed
entry. The risk-set sums become the sums over ``stop >= t`` minus the sums over ``start >= t``
(a second block sum by the distinct time at which a row enters), and the cumulative hazard seen
by a row is ``H(stop) - H(start)``; the information matrix and Efron score residuals follow from
these without further change, so the cluster-robust variance (``cluster_col`` = the subject
id) equals R's ``coxph(Surv(start, stop, event) ~ ..., cluster = id)``. Without ``entry_col`` no
entry term is formed and the results are those of the right-censored engine, bit for bit.

Missing covariates: complete-case analysis. A row with a missing covariate, weight, stratum or
cluster is dropped; the count is in ``n_dropped_``. Rows without an outcome (for instance
``reinjury_weeks`` of episodes never pain-free) are not at risk at all; their count is in
``n_no_outcome_``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival._util import (
    as_float,
    build_design,
    outcome_name,
    revcumsum,
    survival_arrays,
)

SUMMARY_COLUMNS = ["term", "coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p"]

#: Events per design column below which a warning is raised.
MIN_EVENTS_PER_TERM = 10
#: Clusters needed before intervals and p-values rest on the cluster-robust SE (the toolkit's
#: rule; R uses the robust SE whenever a cluster is given).
MIN_CLUSTERS = 30


def ci_se_rule(n_clusters: int | None, min_clusters: int | None = MIN_CLUSTERS) -> Literal["model", "robust"]:
    """The one rule deciding which SE a Cox model's intervals and p-values use.

    Parameters
    ----------
    n_clusters
        Distinct clusters among the analysed rows, or ``None`` (or 0) without a cluster
        variable.
    min_clusters
        Clusters needed for the robust (sandwich) SE; ``None`` follows R (robust whenever a
        cluster is given).

    Returns
    -------
    str
        ``"robust"`` with a cluster variable and at least ``min_clusters`` clusters, else
        ``"model"``: with a handful of clusters the sandwich estimate is far too small
        (docs/analysis.md gives the measured null rejection rates).

    Examples
    --------
    >>> ci_se_rule(6), ci_se_rule(40), ci_se_rule(None), ci_se_rule(6, None)
    ('model', 'robust', 'model', 'robust')
    """
    if not n_clusters:
        return "model"
    if min_clusters is None:
        return "robust"
    return "robust" if n_clusters >= min_clusters else "model"


def _segsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of consecutive segments of ``values`` (first axis) beginning at ``starts``."""
    if starts.size == 0:
        return np.zeros((0, *values.shape[1:]))
    return np.add.reduceat(values, starts, axis=0)


@dataclass
class _Stratum:
    """Fixed (coefficient-free) structure of one stratum, rows sorted by time, then event.

    Within a distinct time the censored rows come first and the events last, so each distinct
    time is at most two contiguous *blocks* (censored, events) and every risk-set sum is a block
    sum (``np.add.reduceat``) followed by a reverse cumulative sum over distinct times.
    """

    rows: np.ndarray  # positions into the analysed arrays, in time order
    grp: np.ndarray  # distinct-time index of each row
    starts: np.ndarray  # first row of each distinct time
    dead: np.ndarray  # positions (within stratum) of event rows
    dgrp: np.ndarray  # distinct-time index of each event row
    frac: np.ndarray  # Efron fraction k / d of each event row
    mwt: np.ndarray  # mean case weight of the events tied with each event row
    ngrp: int
    dstarts: np.ndarray  # first event row of each distinct event time
    dug: np.ndarray  # distinct-time index of each distinct event time
    ej: np.ndarray  # distinct-event-time index of each event row
    d_e: np.ndarray  # events per distinct event time
    m_e: np.ndarray  # mean event case weight per distinct event time
    bstarts: np.ndarray  # first row of each block
    blen: np.ndarray  # rows per block
    bgrp: np.ndarray  # distinct-time index of each block
    bdead: np.ndarray  # the block holds events
    gblock: np.ndarray  # first block of each distinct time
    X: np.ndarray  # centred covariates in time order (Fortran layout)
    w: np.ndarray  # case weights in time order
    delta: np.ndarray  # event indicator in time order
    wx_dead: np.ndarray  # Σ_events w·x: the coefficient-free part of the score
    w_dead: float  # Σ_events w
    ent: np.ndarray | None = None  # counting process: distinct times <= start of each row
    buf: np.ndarray | None = None  # n×p scratch array shared by the evaluations of one fit

    def to_groups(self, values: np.ndarray) -> np.ndarray:
        """Place per-event-time ``values`` on all distinct times (zero where no events)."""
        out = np.zeros((self.ngrp, *values.shape[1:]))
        out[self.dug] = values
        return out

    def entered(self, values: np.ndarray) -> np.ndarray:
        """Per distinct time ``g``, the sum of ``values`` over rows not yet at risk (start >= t_g).

        Only for counting-process data: the part of the ``stop >= t_g`` sums to remove.
        """
        assert self.ent is not None
        m = self.ngrp + 1
        if values.ndim == 1:
            c = np.bincount(self.ent, weights=values, minlength=m)
        else:
            c = np.column_stack([np.bincount(self.ent, weights=values[:, j], minlength=m)
                                 for j in range(values.shape[1])])
        return revcumsum(c)[1:]


def _strata_structure(time: np.ndarray, event: np.ndarray, weights: np.ndarray,
                      strata: np.ndarray, Xc: np.ndarray,
                      entry: np.ndarray | None = None) -> list[_Stratum]:
    """Sort once and precompute the tie structure of every stratum.

    With ``entry`` (counting-process start times) each row also records how many of the
    stratum's distinct times are ``<= start``: the times at which it is not yet at risk.
    """
    out = []
    order = np.lexsort((event, time, strata))
    bounds = np.flatnonzero(np.diff(strata[order])) + 1
    p = Xc.shape[1]
    for rows in np.split(order, bounds):
        n = rows.size
        t, d, w = time[rows], event[rows], weights[rows]
        new_t = np.r_[True, t[1:] != t[:-1]]
        grp = np.cumsum(new_t) - 1
        starts = np.flatnonzero(new_t)
        new_b = new_t | np.r_[True, d[1:] != d[:-1]]
        bstarts = np.flatnonzero(new_b)
        blen = np.diff(np.r_[bstarts, n])
        bgrp = grp[bstarts]
        bdead = d[bstarts] == 1
        gblock = np.flatnonzero(new_t[bstarts])
        dead = np.flatnonzero(d == 1)
        d_e = blen[bdead]
        dstarts = np.r_[0, np.cumsum(d_e)[:-1]].astype(np.intp) if d_e.size else d_e
        ej = np.repeat(np.arange(d_e.size), d_e)
        frac = (np.arange(dead.size) - dstarts[ej]) / d_e[ej]
        m_e = _segsum(w[dead], dstarts) / d_e
        X = np.empty((n, p), order="F")
        for j in range(p):
            np.take(Xc[:, j], rows, out=X[:, j])
        wx_dead = w[dead] @ X[dead] if dead.size else np.zeros(p)
        ent = None
        if entry is not None:
            ent = np.searchsorted(t[starts], entry[rows], side="right").astype(np.intp)
        out.append(_Stratum(
            rows=rows, grp=grp, starts=starts, dead=dead, dgrp=grp[dead], frac=frac,
            mwt=m_e[ej], ngrp=starts.size, dstarts=dstarts, dug=bgrp[bdead], ej=ej, d_e=d_e,
            m_e=m_e, bstarts=bstarts, blen=blen, bgrp=bgrp, bdead=bdead, gblock=gblock, X=X, w=w,
            delta=d, wx_dead=wx_dead, w_dead=float(w[dead].sum()), ent=ent,
        ))
    return out


class _Pieces:
    """Quantities of one stratum at a coefficient vector.

    The log partial likelihood is computed on construction (it is all step-halving needs); the
    score, information and per-row quantities are computed on first use. Efron's sums over the
    ``d`` tied events of a time reduce to per-time scalars: with ``den_k = S0 - (k/d) D0``,
    ``Σ_k x̄_k = S1 Σ_k 1/den_k - D1 Σ_k (k/d)/den_k`` and likewise for ``Σ_k x̄_k x̄_kᵀ``, so
    only scalars are formed per event row and ``p``-vectors per distinct time.
    """

    def __init__(self, st: _Stratum, beta: np.ndarray) -> None:
        self.st = st
        eta = st.X @ beta
        shift = float(eta.max()) if eta.size else 0.0
        self.risk = st.w * np.exp(eta - shift)  # w * exp(eta - shift), time order
        b0 = np.add.reduceat(self.risk, st.bstarts) if st.bstarts.size else np.zeros(0)
        s0 = revcumsum(_segsum(b0, st.gblock))
        if st.ent is not None:
            s0 = s0 - st.entered(self.risk)
        self._b0 = b0
        self._S0e = s0[st.dug]
        self._D0e = b0[st.bdead]
        den = self._S0e[st.ej] - st.frac * self._D0e[st.ej]
        self.inv = 1.0 / den
        log_e = _segsum(np.log(den), st.dstarts)
        self.loglik = float(st.wx_dead @ beta - st.m_e @ log_e - st.w_dead * shift)
        self._done = False

    def _derivatives(self) -> None:
        if self._done:
            return
        st = self.st
        if st.buf is None:
            st.buf = np.empty_like(st.X, order="F")
        np.multiply(st.X, self.risk[:, None], out=st.buf)
        b1 = _segsum(st.buf, st.bstarts)
        s1 = revcumsum(_segsum(b1, st.gblock))
        if st.ent is not None:
            s1 = s1 - st.entered(st.buf)
        self._S1e = s1[st.dug]
        self._D1e = b1[st.bdead]
        f, inv = st.frac, self.inv
        inv2 = inv * inv
        m = st.m_e
        self._a = _segsum(inv, st.dstarts)  # Σ_k 1/den_k
        self._b = _segsum(f * inv, st.dstarts)  # Σ_k f_k/den_k
        c0 = m * _segsum(inv2, st.dstarts)
        c1 = m * _segsum(f * inv2, st.dstarts)
        c2 = m * _segsum(f * f * inv2, st.dstarts)
        self._c = (c0, c1, c2)
        S1, D1 = self._S1e, self._D1e
        self.score = st.wx_dead - (m * self._a) @ S1 + (m * self._b) @ D1
        cross = (S1 * c1[:, None]).T @ D1
        info2 = (S1 * c0[:, None]).T @ S1 - cross - cross.T + (D1 * c2[:, None]).T @ D1
        self._h = st.to_groups(m * self._a)  # hazard increment per distinct time
        self._hc = st.to_groups(m * self._b)  # its Efron correction for the tied events
        self._H = np.cumsum(self._h)
        hd_block = self._H[st.bgrp] - np.where(st.bdead, self._hc[st.bgrp], 0.0)
        self._Hd = np.repeat(hd_block, st.blen)  # cumulative hazard seen by each row
        if st.ent is not None:  # only the hazard of (start, stop]
            self._Hd -= np.r_[0.0, self._H][st.ent]
        np.multiply(st.X, (self.risk * self._Hd)[:, None], out=st.buf)
        self.info = st.X.T @ st.buf - info2
        self._done = True

    @cached_property
    def haz(self) -> np.ndarray:
        """Hazard increment ``mwt / den`` of each event row (scaled by ``exp(shift)``)."""
        return self.st.mwt * self.inv

    @cached_property
    def xbar(self) -> np.ndarray:
        """Efron weighted covariate means of each event row."""
        self._derivatives()
        st = self.st
        return (self._S1e[st.ej] - st.frac[:, None] * self._D1e[st.ej]) * self.inv[:, None]

    def score_residuals(self) -> np.ndarray:
        """Efron score residuals in time order (unweighted, as R's ``type = "score"``)."""
        self._derivatives()
        st = self.st
        c0, c1, c2 = self._c
        S1, D1 = self._S1e, self._D1e
        hx = st.to_groups(c0[:, None] * S1 - c1[:, None] * D1)
        hcx = st.to_groups(c1[:, None] * S1 - c2[:, None] * D1)
        xmean = st.to_groups((self._a[:, None] * S1 - self._b[:, None] * D1) / st.d_e[:, None])
        HX = np.cumsum(hx, axis=0)
        dead_b = st.bdead[:, None]
        hxd_block = HX[st.bgrp] - np.where(dead_b, hcx[st.bgrp], 0.0)
        xm_block = np.where(dead_b, xmean[st.bgrp], 0.0)
        e = self.risk / st.w
        a = st.delta - e * self._Hd
        resid = np.empty_like(st.X)  # column by column: 1-d repeats are cheap
        for j in range(resid.shape[1]):
            col = st.X[:, j] * a
            hxd = np.repeat(hxd_block[:, j], st.blen)
            if st.ent is not None:  # only the event times in (start, stop]
                hxd -= np.r_[0.0, HX[:, j]][st.ent]
            col += e * hxd
            col -= np.repeat(xm_block[:, j], st.blen)
            resid[:, j] = col
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
    min_clusters
        With ``cluster_col``, the clusters needed for intervals and p-values to use the robust
        SE (:func:`ci_se_rule`); ``None`` (default) uses it whenever a cluster is given, as R.

    Notes
    -----
    With ``entry_col`` the data are in counting-process form (``(start, stop]`` rows, event at
    ``stop``), as R's ``coxph(Surv(start, stop, event) ~ ...)``: time-varying covariates take one
    row per subject-period, and ``cluster_col`` should name the subject (episode) so that the
    robust SE accounts for its several rows. ``n_`` and ``n_events_`` then count rows (intervals)
    and events, as R's ``n`` and ``nevent``.

    Attributes
    ----------
    params_, se_, robust_se_
        Coefficients, model-based and (with ``cluster_col``) cluster-robust standard errors.
    var_, robust_var_
        Inverse information and sandwich variance.
    ci_se_
        ``"robust"`` when CIs and p use the robust SE (:func:`ci_se_rule`), else ``"model"``.
    n_clusters_
        Distinct clusters among the analysed rows (0 without ``cluster_col``).
    n_, n_events_, n_dropped_, n_no_outcome_
        Rows analysed, events, complete-case drops and rows without an outcome.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"t": rng.exponential(1, 200).round(1), "e": 1, "x": rng.normal(size=200)})
    >>> CoxPH().fit(df, "t", "e", covariates=["x"]).summary["term"].tolist()
    ['x']
    """

    def __init__(self, alpha: float = 0.05, max_iter: int = 50, tol: float = 1e-12,
                 min_clusters: int | None = None) -> None:
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.min_clusters = min_clusters

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
        entry_col: str | None = None,
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
        entry_col
            Start of each row's interval ``(start, stop]`` (counting-process data, with
            ``duration_col`` the stop time and the event at stop). A row with a missing start is
            not a complete case; ``start >= stop`` is an error, as in R. ``None`` (default):
            every row is at risk from time 0 on.
        """
        time, event, weights, ok = survival_arrays(df, duration_col, event_col, weights_col)
        self.n_no_outcome_ = int((~ok).sum())
        eligible = ok.copy()
        entry = None
        if entry_col is not None:
            if entry_col not in df.columns:
                raise AnalysisError(f"column {entry_col!r} is missing from the data")
            entry = as_float(df[entry_col])
            eligible &= np.isfinite(entry)
            if np.any(entry[eligible] >= time[eligible]):
                raise AnalysisError(
                    f"{entry_col!r} must be smaller than {duration_col!r} in every row "
                    "(intervals (start, stop] of positive length)"
                )
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
        if strata_col is None:
            strata = np.zeros(t.size, dtype=np.intp)
        else:
            strata = pd.factorize(df.loc[keep, strata_col].astype(str), sort=True)[0]
        self.means_ = X.mean(axis=0)
        Xc = X - self.means_
        self.entry_col_ = entry_col
        self._strata = _strata_structure(t, e, w, strata, Xc,
                                         None if entry is None else entry[keep])
        self._X, self._w, self._t, self._e = Xc, w, t, e
        self._entry = None if entry is None else entry[keep]  # start times of the analysed rows
        beta = self._newton()
        self.params_ = pd.Series(beta, index=self.terms_)
        self.var_ = np.linalg.inv(self._info)
        with np.errstate(invalid="ignore"):  # a negative variance (near-singular fit): NaN SE,
            # reported by ``summary`` as a term without p-value and interval
            self.se_ = pd.Series(np.sqrt(np.diag(self.var_)), index=self.terms_)
        self.robust_var_ = None
        self.robust_se_ = pd.Series(np.nan, index=self.terms_)
        if cluster_col is not None:
            cl = pd.factorize(df[cluster_col], use_na_sentinel=False)[0][keep]
            k = int(cl.max()) + 1
            res = self.score_residuals_
            uc = np.column_stack([np.bincount(cl, weights=res[:, j] * w, minlength=k)
                                  for j in range(beta.size)])
            self.robust_var_ = self.var_ @ (uc.T @ uc) @ self.var_
            with np.errstate(invalid="ignore"):
                self.robust_se_ = pd.Series(np.sqrt(np.diag(self.robust_var_)), index=self.terms_)
        self.n_clusters_ = int(np.unique(cl).size) if cluster_col is not None else 0
        self.ci_se_ = ci_se_rule(self.n_clusters_, self.min_clusters)
        self._check_divergence(beta)
        return self

    def _check_groups(self, df: pd.DataFrame, group_col: str, event: np.ndarray,
                      ok: np.ndarray) -> None:
        codes, uniques = pd.factorize(df[group_col].to_numpy()[ok], use_na_sentinel=False)
        labels = np.array([str(u) for u in uniques], dtype=object)
        present, merged = np.unique(labels, return_inverse=True)
        if len(present) < 2:
            raise AnalysisError(
                f"only one {group_col!r} group ({', '.join(map(str, present))}): "
                "no hazard ratio can be estimated"
            )
        ev = np.bincount(merged[codes], weights=event[ok], minlength=len(present))
        none = sorted(str(g) for g in present[ev == 0])
        if none:
            raise AnalysisError(
                f"{group_col!r} group(s) {none} have no events: their hazard ratio is not "
                "estimable (monotone likelihood); merge or drop them"
            )

    def _evaluate(self, beta: np.ndarray) -> list[_Pieces]:
        return [_Pieces(st, beta) for st in self._strata]

    def _newton(self) -> np.ndarray:
        beta = np.zeros(self._X.shape[1])
        pieces = self._evaluate(beta)
        loglik = sum(p.loglik for p in pieces)
        self.loglik_null_ = loglik
        self.converged_ = False
        self.n_iter_ = 0
        for it in range(1, self.max_iter + 1):
            for p in pieces:
                p._derivatives()
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
                new_pieces = self._evaluate(new_beta)
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
        for st, p in zip(self._strata, pieces, strict=True):
            p._derivatives()
            st.buf = None  # release the scratch memory
        self.loglik_ = loglik
        self._pieces = pieces
        self._info = sum(p.info for p in pieces)
        self._score = sum(p.score for p in pieces)
        if np.linalg.matrix_rank(self._info) < self._info.shape[0]:
            raise AnalysisError("the information matrix is singular: covariates are collinear")
        resid = np.empty_like(self._X, order="F")
        for st, p in zip(self._strata, pieces, strict=True):
            r = p.score_residuals()
            for j in range(r.shape[1]):
                resid[st.rows, j] = r[:, j]
        self.score_residuals_ = resid
        return beta

    def _check_divergence(self, beta: np.ndarray) -> None:
        step = np.abs(np.linalg.solve(self._info, self._score))
        sd = np.sqrt(np.einsum("ij,ij->j", self._X, self._X) / max(self._X.shape[0], 1))
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
        when a cluster was given (``ci_se_``), as R's ``summary(coxph(..., cluster = ))``.

        A term whose SE (the one used for CIs and p) is zero or not finite gets no interval and
        no p-value (empty), with a :class:`StatisticalWarning`: a Wald test on a zero SE would
        report p = 0.
        """
        se = (self.robust_se_ if self.ci_se_ == "robust" else self.se_).to_numpy(dtype=float)
        z = stats.norm.ppf(1 - self.alpha / 2)
        coef = self.params_.to_numpy()
        usable = np.isfinite(se) & (se > 0) & np.isfinite(coef)
        if not usable.all():
            names = [n for n, ok in zip(self.terms_, usable, strict=True) if not ok]
            warnings.warn(
                f"{getattr(self, 'outcome_', 'cox')}: term(s) {names} have a {self.ci_se_}-based "
                "standard error that is zero or not finite; their p-values and confidence "
                "intervals are left empty",
                StatisticalWarning,
                stacklevel=2,
            )
        safe = np.where(usable, se, np.nan)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging term (warned) gives HR inf
            out = pd.DataFrame(
                {
                    "term": self.terms_,
                    "coef": coef,
                    "se": self.se_.to_numpy(),
                    "robust_se": self.robust_se_.to_numpy(),
                    "hr": np.exp(coef),
                    "hr_lower": np.exp(coef - z * safe),
                    "hr_upper": np.exp(coef + z * safe),
                    "p": 2 * stats.norm.sf(np.abs(coef / safe)),
                }
            )
        return out[SUMMARY_COLUMNS]

    @property
    def score_residuals(self) -> pd.DataFrame:
        """Efron score residuals of the analysed rows (R's ``residuals(fit, type = "score")``)."""
        return pd.DataFrame(self.score_residuals_, columns=self.terms_)
