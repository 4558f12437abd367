"""Log-rank tests and Cox models (Efron ties) fitted to many trials at once.

The general analysis (:class:`~rehab_outcomes.survival.cox.CoxPH`,
:func:`~rehab_outcomes.survival.logrank.survdiff`) fits one data set at a time. Study planning
by simulation fits thousands of small trials of the same size, so here every array is shaped
``trials × n`` and nothing loops over trials or event times:

- each trial is sorted by time once (:class:`TieStructure`); tie groups are runs of equal times,
  found from per-trial run boundaries, and each row knows the first and last row of its group;
- risk-set sums are reverse cumulative sums along axis 1 read at the first row of each group,
  sums over the tied events of a group are differences of forward cumulative sums;
- Newton–Raphson updates all trials together, with step halving for the trials whose partial
  likelihood went down, until every trial meets the convergence criterion of ``CoxPH``.

Results agree with ``CoxPH`` and ``survdiff`` to rounding (tested to 1e-6).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BatchCoxResult",
    "TieStructure",
    "cox_batch",
    "cox_groups_batch",
    "logrank_batch",
    "tie_structure",
]


@dataclass(frozen=True)
class TieStructure:
    """Trials sorted by time, with their tie groups (arrays ``trials × n`` unless stated).

    Attributes
    ----------
    order
        Row order that sorts each trial by time (stable).
    time, event
        Sorted times and event indicators (float 0/1).
    is_first
        True on the first row of each tie group (one row per distinct time).
    frac
        Efron fraction ``k / d`` of each event row (``k``-th of ``d`` tied events), 0 elsewhere.
    first_flat
        Per row, the flat index (into ``trials * n``) of the first row of its tie group.
    starts
        Flat indices of the first row of every tie group (all trials, in order).
    gid
        Per row, the index of its tie group into ``starts``.
    last_flat
        Per row, the flat index of the last row of its tie group.
    """

    order: np.ndarray
    time: np.ndarray
    event: np.ndarray
    is_first: np.ndarray
    frac: np.ndarray
    first_flat: np.ndarray
    starts: np.ndarray
    gid: np.ndarray
    last_flat: np.ndarray

    def sort(self, values: np.ndarray) -> np.ndarray:
        """Rows of ``values`` (``trials × n`` or ``trials × n × p``) in sorted order."""
        idx = self.order if values.ndim == 2 else self.order[..., None]
        return np.take_along_axis(values, idx, axis=1)

    def group_sums(self, values: np.ndarray) -> np.ndarray:
        """Sums of ``values`` (``m × trials × n``, sorted rows) within each tie group: ``m × G``."""
        return np.add.reduceat(values.reshape(values.shape[0], -1), self.starts, axis=1)

    def at_risk_sums(self, values: np.ndarray) -> np.ndarray:
        """Sums of ``values`` (``m × trials × n``, sorted rows) over the risk set of each tie
        group (rows of the same trial with a time at least as large): ``m × G``."""
        rev = np.cumsum(values[..., ::-1], axis=-1)[..., ::-1]
        return np.ascontiguousarray(rev).reshape(values.shape[0], -1).take(self.starts, axis=1)

    def per_row(self, group_values: np.ndarray) -> np.ndarray:
        """Group values (``m × G``) broadcast to the rows of each group: ``m × trials × n``."""
        m = group_values.shape[0]
        return group_values.take(self.gid.ravel(), axis=1).reshape(m, *self.gid.shape)


def tie_structure(time: np.ndarray, event: np.ndarray) -> TieStructure:
    """Sort each trial (row of ``time``) by time and find its tie groups.

    Parameters
    ----------
    time, event
        Arrays ``trials × n``: follow-up times and event indicators (1 = event, 0 = censored).
        Only the order and ties of the times matter; integer times (e.g. whole days) sort
        fastest.
    """
    time = np.asarray(time)
    if time.ndim != 2 or np.shape(event) != time.shape:
        raise ValueError("time and event must be arrays of the same shape trials × n")
    key = time
    if np.issubdtype(time.dtype, np.integer) and time.size and \
            -(2**15) <= time.min() and time.max() < 2**15:
        key = time.astype(np.int16)  # whole days: numpy's stable sort is a radix sort here
    order = np.argsort(key, axis=1, kind="stable")
    t = np.take_along_axis(time, order, axis=1).astype(float)
    e = np.take_along_axis(np.asarray(event, dtype=float), order, axis=1)
    n_trials, n = t.shape
    is_first = np.ones(t.shape, dtype=bool)
    is_first[:, 1:] = t[:, 1:] != t[:, :-1]
    flat_first = is_first.ravel()
    starts = np.flatnonzero(flat_first)
    gid = np.cumsum(flat_first) - 1
    first_flat = starts[gid]
    ev = e.ravel()
    d = np.add.reduceat(ev, starts)[gid]
    ce = np.cumsum(ev)
    k = ce - ev - (ce - ev)[first_flat]  # events before the row within its group
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(ev > 0, k / d, 0.0).reshape(t.shape)
    last_flat = (np.r_[starts[1:], ev.size] - 1)[gid]
    return TieStructure(order, t, e, is_first, frac, first_flat.reshape(t.shape), starts,
                        gid.reshape(t.shape), last_flat.reshape(t.shape))


# ----------------------------------------------------------------------------------------------
# log-rank


def logrank_batch(
    ties: TieStructure,
    group: np.ndarray,
    n_groups: int,
    subsets: Sequence[Sequence[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Log-rank chi-square of every trial, as :func:`~rehab_outcomes.survival.logrank.survdiff`.

    Parameters
    ----------
    ties
        Sorted trials (:func:`tie_structure`).
    group
        Integer group codes ``0..n_groups-1``, ``trials × n``, in the *original* row order.
    n_groups
        Number of groups.
    subsets
        Groups compared by each test (default: one test of all groups); a subset such as
        ``(0, 2)`` is the log-rank test of groups 0 and 2 on their rows only.

    Returns
    -------
    chisq, df
        Arrays ``trials × len(subsets)``. Groups without expected events do not count (as
        ``survdiff``); ``df`` is the number of groups counted minus one (0 gives chisq 0).
    """
    subsets = [tuple(range(n_groups))] if subsets is None else [tuple(s) for s in subsets]
    g = ties.sort(np.asarray(group))
    n_trials, n = g.shape
    onehot = (g[None] == np.arange(n_groups)[:, None, None]).astype(float)
    at_risk = ties.at_risk_sums(onehot)  # groups × distinct times: at risk in each group
    dead = ties.group_sums(onehot * ties.event)  # events of each group at each distinct time
    trial = ties.starts // n
    chisq = np.zeros((n_trials, len(subsets)))
    dof = np.zeros((n_trials, len(subsets)), dtype=np.int64)

    def per_trial(values: np.ndarray) -> np.ndarray:
        return np.bincount(trial, weights=values, minlength=n_trials)

    for j, sub in enumerate(subsets):
        nr, dr = at_risk[list(sub)], dead[list(sub)]
        n_t, d_t = nr.sum(axis=0), dr.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(n_t > 0, nr / n_t, 0.0)
            scale = np.where(n_t > 1, d_t * (n_t - d_t) / (n_t - 1), 0.0)
        k = len(sub)
        observed = np.stack([per_trial(dr[a]) for a in range(k)], axis=1)
        expected = np.stack([per_trial(d_t * frac[a]) for a in range(k)], axis=1)
        var = np.empty((n_trials, k, k))
        for a in range(k):
            for b in range(a, k):
                cell = per_trial(scale * frac[a] * ((a == b) - frac[b]))
                var[:, a, b] = var[:, b, a] = cell
        chisq[:, j], dof[:, j] = _quadratic_form(observed - expected, expected, var)
    return chisq, dof


def _quadratic_form(diff: np.ndarray, expected: np.ndarray,
                    var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``diff' V⁻ diff`` over the groups with expected events, one group (the largest) dropped."""
    use = expected > 0
    dof = use.sum(axis=1) - 1
    k = diff.shape[1]
    drop = np.argmax(expected, axis=1)
    keep = use & (np.arange(k) != drop[:, None])
    diff = np.where(keep, diff, 0.0)
    both = keep[:, :, None] & keep[:, None, :]
    eye = np.broadcast_to(np.eye(k, dtype=bool), var.shape)
    v = np.where(both, var, np.where(eye, 1.0, 0.0))
    sol = np.linalg.solve(v, diff[..., None])[..., 0]
    chisq = np.where(dof > 0, np.einsum("tg,tg->t", diff, sol), 0.0)
    return chisq, np.maximum(dof, 0)


# ----------------------------------------------------------------------------------------------
# Cox


@dataclass(frozen=True)
class BatchCoxResult:
    """Cox fits of many trials (arrays with a leading ``trials`` axis).

    Attributes
    ----------
    coef, se
        Coefficients and model-based standard errors, ``trials × p``.
    z
        Wald statistics ``coef / se``.
    loglik
        Log partial likelihood at ``coef``.
    n_iter
        Newton–Raphson iterations of each trial.
    converged
        Whether each trial met the convergence criterion (no monotone likelihood detected).
    """

    coef: np.ndarray
    se: np.ndarray
    z: np.ndarray
    loglik: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def _efron(ties: TieStructure, X: np.ndarray,
           beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log partial likelihood, score and information of every trial (Efron, unit weights).

    ``X`` is ``p × trials × n`` (sorted rows, centred), ``beta`` is ``trials × p``.
    """
    e, f = ties.event, ties.frac
    p = X.shape[0]
    eta = np.einsum("ptn,tp->tn", X, beta)
    shift = eta.max(axis=1, keepdims=True)
    risk = np.exp(eta - shift)
    w = np.empty((p + 1, *risk.shape))
    w[0] = risk
    np.multiply(risk, X, out=w[1:])
    s_row = ties.per_row(ties.at_risk_sums(w))
    d_row = ties.per_row(ties.group_sums(w * e))
    den = np.where(e > 0, s_row[0] - f * d_row[0], 1.0)
    xbar = (s_row[1:] - f * d_row[1:]) / den
    loglik = (e * (eta - shift - np.log(den))).sum(axis=1)
    score = (e * (X - xbar)).sum(axis=2).T
    inv = e / den
    hazard = np.cumsum(inv, axis=1).ravel().take(ties.last_flat.ravel()).reshape(e.shape)
    tied = ties.per_row(ties.group_sums((f * inv)[None]))[0]
    v = risk * (hazard - e * tied)
    info = np.empty((e.shape[0], p, p))
    for a in range(p):
        for b in range(a, p):
            info[:, a, b] = info[:, b, a] = (v * X[a] * X[b] - e * xbar[a] * xbar[b]).sum(axis=1)
    return loglik, score, info


def cox_batch(
    ties: TieStructure,
    X: np.ndarray,
    max_iter: int = 30,
    tol: float = 1e-12,
) -> BatchCoxResult:
    """Fit one Cox model (Efron ties) per trial by Newton–Raphson.

    Parameters
    ----------
    ties
        Sorted trials (:func:`tie_structure`).
    X
        Covariates ``trials × n × p`` in the *original* row order (e.g. arm dummies and a few
        covariates). Centred per trial internally; coefficients are unaffected.
    max_iter, tol
        As :class:`~rehab_outcomes.survival.cox.CoxPH`: stop a trial when the relative change
        of its log partial likelihood is at most ``tol``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.ceil(rng.exponential(10, (3, 40)))
    >>> x = rng.integers(0, 2, (3, 40, 1)).astype(float)
    >>> cox_batch(tie_structure(t, np.ones_like(t)), x).coef.shape
    (3, 1)
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 3 or X.shape[:2] != ties.time.shape:
        raise ValueError("X must be shaped trials × n × p like the trials")
    Xs = ties.sort(X)
    Xs = np.ascontiguousarray((Xs - Xs.mean(axis=1, keepdims=True)).transpose(2, 0, 1))
    return _newton(lambda beta: _efron(ties, Xs, beta), Xs.shape[1], Xs.shape[0],
                   Xs.std(axis=2).T, max_iter, tol)


def cox_groups_batch(
    ties: TieStructure,
    group: np.ndarray,
    n_groups: int,
    max_iter: int = 30,
    tol: float = 1e-12,
) -> BatchCoxResult:
    """Cox model with group terms only (groups ``1..n_groups-1`` against group 0), per trial.

    The same model as :func:`cox_batch` with group dummies, fitted faster: with indicator
    covariates the Efron terms of an event row depend only on how many runners of each group
    are at risk and tied at its time, counted once, so each Newton step is a few operations on
    the event rows.

    Parameters
    ----------
    ties
        Sorted trials (:func:`tie_structure`).
    group
        Integer group codes ``trials × n`` in the original row order (0 = reference).
    n_groups
        Number of groups.
    max_iter, tol
        As :func:`cox_batch`.
    """
    g = ties.sort(np.asarray(group))
    n_trials, n = g.shape
    onehot = (g[None] == np.arange(n_groups)[:, None, None]).astype(float)
    e = ties.event
    at_risk = ties.per_row(ties.at_risk_sums(onehot))  # per row: at risk in each group
    tied = ties.per_row(ties.group_sums(onehot * e))  # per row: tied events in each group
    # Per event row, a group's share of the Efron denominator before the exp(beta) factor;
    # other rows get den = 1 and contribute nothing. Sums run over all n rows of a trial, so a
    # trial's result never depends on the other trials of the batch.
    m = np.where(e > 0, at_risk - ties.frac * tied, 0.0)
    m[0][e == 0] = 1.0
    observed = (onehot * e).sum(axis=2).T  # trials × groups
    k = n_groups - 1

    def evaluate(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        eb = np.exp(beta)
        den = m[0] + np.einsum("atw,ta->tw", m[1:], eb)
        y = m[1:] / den  # xbar of each group term, divided by exp(beta)
        ysum = y.sum(axis=2).T
        loglik = (observed[:, 1:] * beta).sum(axis=1) - np.log(den).sum(axis=1)
        score = observed[:, 1:] - eb * ysum
        info = np.empty((n_trials, k, k))
        for a in range(k):
            for b in range(a, k):
                cross = eb[:, a] * eb[:, b] * np.einsum("tw,tw->t", y[a], y[b])
                info[:, a, b] = info[:, b, a] = (a == b) * eb[:, a] * ysum[:, a] - cross
        return loglik, score, info

    sd = onehot[1:].std(axis=2).T
    return _newton(evaluate, n_trials, k, sd, max_iter, tol)


def _newton(evaluate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
            n_trials: int, p: int, sd: np.ndarray, max_iter: int, tol: float) -> BatchCoxResult:
    """Newton–Raphson of all trials together, with step halving and the checks of ``CoxPH``."""
    beta = np.zeros((n_trials, p))
    loglik, score, info = evaluate(beta)
    n_iter = np.zeros(n_trials, dtype=np.int64)
    done = np.zeros(n_trials, dtype=bool)
    for _ in range(max_iter):
        active = ~done
        try:
            step = np.linalg.solve(info[active], score[active][..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = _solve_each(info[active], score[active])
        new_beta = beta.copy()
        new_beta[active] = beta[active] + step
        new_ll, new_score, new_info = evaluate(new_beta)
        floor = loglik - 1e-12 * np.abs(loglik)
        worse = active & ~(np.isfinite(new_ll) & (new_ll >= floor))
        halvings = 0
        while worse.any() and halvings < 30:  # step halving, as CoxPH
            new_beta[worse] = (beta[worse] + new_beta[worse]) / 2
            ll2, sc2, in2 = evaluate(new_beta)
            new_ll[worse], new_score[worse], new_info[worse] = ll2[worse], sc2[worse], in2[worse]
            worse = worse & ~(np.isfinite(new_ll) & (new_ll >= floor))
            halvings += 1
        change = np.abs(new_ll - loglik)
        beta = np.where(active[:, None], new_beta, beta)
        loglik = np.where(active, new_ll, loglik)
        score = np.where(active[:, None], new_score, score)
        info = np.where(active[:, None, None], new_info, info)
        n_iter[active] += 1
        done |= active & (change <= tol * np.maximum(np.abs(loglik), 1.0))
        if done.all():
            break
    var = _inverse_each(info)
    se = np.sqrt(np.clip(np.einsum("tpp->tp", var), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = beta / se
        step = np.abs(np.einsum("tpq,tq->tp", var, score))
    diverging = (step > 1e-4 * np.maximum(np.abs(beta), 1.0)) | (np.abs(beta) * sd > 15)
    converged = done & ~diverging.any(axis=1) & np.isfinite(z).all(axis=1)
    return BatchCoxResult(beta, se, z, loglik, n_iter, converged)


def _solve_each(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least-squares solution per trial (used only when a batch solve meets a singular matrix)."""
    return np.stack([np.linalg.lstsq(ai, bi, rcond=None)[0] for ai, bi in zip(a, b, strict=True)])


def _inverse_each(a: np.ndarray) -> np.ndarray:
    """Per-trial inverse; singular matrices give NaN (no standard error) for that trial."""
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        out = np.full_like(a, np.nan)
        for i, ai in enumerate(a):
            try:
                out[i] = np.linalg.inv(ai)
            except np.linalg.LinAlgError:
                continue
        return out
