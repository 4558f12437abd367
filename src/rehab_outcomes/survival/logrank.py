"""Log-rank tests as R's ``survdiff``: k-arm, pairwise (Holm-adjusted) and site-stratified."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival._util import group_codes, outcome_name, survival_arrays

COLUMNS = ["outcome", "test", "group_a", "group_b", "chisq", "df", "p", "p_holm"]


def _observed_expected(
    time: np.ndarray, event: np.ndarray, group: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed and expected events per group and the hypergeometric variance (one stratum)."""
    utime, inv = np.unique(time, return_inverse=True)
    nt = utime.size
    cells = inv * k + group
    at = np.bincount(cells, minlength=nt * k).reshape(nt, k)
    dead = np.bincount(cells, weights=event, minlength=nt * k).reshape(nt, k)
    n_gt = np.cumsum(at[::-1], axis=0)[::-1].astype(float)
    n_t = n_gt.sum(axis=1)
    d_t = dead.sum(axis=1)
    keep = d_t > 0
    n_gt, n_t, d_t, dead = n_gt[keep], n_t[keep], d_t[keep], dead[keep]
    frac = n_gt / n_t[:, None]
    expected = (d_t[:, None] * frac).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(n_t > 1, d_t * (n_t - d_t) / (n_t - 1), 0.0)
    var = np.diag((scale[:, None] * frac).sum(axis=0)) - (scale[:, None] * frac).T @ frac
    return dead.sum(axis=0), expected, var


def survdiff(
    time: np.ndarray,
    event: np.ndarray,
    group: np.ndarray,
    strata: np.ndarray | None = None,
) -> tuple[float, int]:
    """Log-rank chi-square and degrees of freedom for integer ``group`` codes.

    With ``strata``, observed minus expected and the variance are summed over strata, as
    ``survdiff(Surv(t, e) ~ group + strata(s))``. Groups with no expected events do not count.
    When the variance matrix is singular (for instance every event at one time, with every
    runner at risk then having it: the variance is zero) the chi-square is ``NaN``: no test can
    be made, where R's ``survdiff`` stops with an error.
    """
    k = int(group.max()) + 1
    strata = np.zeros(time.size, dtype=np.intp) if strata is None else strata
    obs, exp, var = np.zeros(k), np.zeros(k), np.zeros((k, k))
    for s in np.unique(strata):
        sel = strata == s
        o, e, v = _observed_expected(time[sel], event[sel], group[sel], k)
        obs += o
        exp += e
        var += v
    use = exp > 0
    df = int(use.sum()) - 1
    if df < 1:
        return 0.0, 0
    diff = (obs - exp)[use][1:]
    vv = var[np.ix_(use, use)][1:, 1:]
    if not np.all(np.isfinite(vv)) or np.linalg.matrix_rank(vv) < vv.shape[0]:
        return float("nan"), df
    chisq = float(diff @ np.linalg.solve(vv, diff))
    return (chisq if np.isfinite(chisq) else float("nan")), df


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (as R's ``p.adjust(p, "holm")``: missing p-values stay
    missing and do not count among the tests)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.size, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    out[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    return out


def logrank_table(
    df: pd.DataFrame,
    duration_col: str = "pain_free_weeks",
    event_col: str = "pain_free_event",
    group_col: str = "arm",
    strata_col: str | None = "site",
    outcome: str | None = None,
) -> pd.DataFrame:
    """The k-group log-rank test, every pairwise test and the stratified k-group test.

    Parameters
    ----------
    df
        Episodes with derived outcomes (or any frame with the named columns).
    duration_col, event_col, group_col
        Column names of the time, the event indicator (1 = event) and the group.
    strata_col
        Stratum column of the stratified test (``None`` skips it).
    outcome
        Label of the outcome (default: ``duration_col`` without ``_weeks``).

    Returns
    -------
    pandas.DataFrame
        ``outcome, test, group_a, group_b, chisq, df, p, p_holm``; ``test`` is ``overall``,
        ``pairwise`` or ``stratified_site``; ``p_holm`` (Holm over the pairwise tests) is only
        set on pairwise rows.
    """
    time, event, _, ok = survival_arrays(df, duration_col, event_col)
    if strata_col is not None:
        if strata_col not in df.columns:
            raise AnalysisError(f"column {strata_col!r} is missing from the data")
        ok &= df[strata_col].notna().to_numpy(dtype=bool)
    codes, labels = group_codes(df, group_col, ok)
    if len(labels) < 2:
        raise AnalysisError(f"log-rank test needs at least two groups of {group_col!r}, got {labels}")
    t, e = time[ok], event[ok]
    if e.sum() == 0:
        raise AnalysisError(f"no events in {event_col!r}: the log-rank test is undefined")
    name = outcome_name(duration_col, outcome)
    rows = []
    chisq, dof = survdiff(t, e, codes)
    rows.append(("overall", "", "", chisq, dof))
    for a, b in itertools.combinations(range(len(labels)), 2):
        sel = (codes == a) | (codes == b)
        chisq, dof = survdiff(t[sel], e[sel], (codes[sel] == b).astype(np.intp))
        rows.append(("pairwise", labels[a], labels[b], chisq, dof))
    if strata_col is not None:
        strata = pd.factorize(df.loc[ok, strata_col].astype(str), sort=True)[0]
        chisq, dof = survdiff(t, e, codes, strata.astype(np.intp))
        rows.append((f"stratified_{strata_col}", "", "", chisq, dof))
    out = pd.DataFrame(rows, columns=["test", "group_a", "group_b", "chisq", "df"])
    out.insert(0, "outcome", name)
    undefined = out["chisq"].isna().to_numpy()
    if undefined.all():
        raise AnalysisError(
            f"no log-rank test of {name} can be made: the variance of observed minus expected "
            "events is zero or singular (e.g. every event at one time, with everyone at risk "
            "then having it)"
        )
    if undefined.any():
        which = [f"{r.test}" + (f" {r.group_a} vs {r.group_b}" if r.group_a else "")
                 for r in out[undefined].itertuples()]
        warnings.warn(
            f"{name}: log-rank test(s) {which} not computed: the variance of observed minus "
            "expected events is zero or singular (e.g. every event at one time); chi-square "
            "and p-value left empty",
            StatisticalWarning,
            stacklevel=2,
        )
    out["p"] = np.where((out["df"] > 0) & ~undefined,
                        stats.chi2.sf(out["chisq"], out["df"].clip(lower=1)), np.nan)
    out["p_holm"] = np.nan
    pair = (out["test"] == "pairwise").to_numpy()
    out.loc[pair, "p_holm"] = holm(out.loc[pair, "p"].to_numpy())
    return out[COLUMNS]
