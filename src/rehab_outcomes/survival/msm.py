"""Marginal structural models: weighted pooled logistic regression and stabilised IP weights.

The effect of following the pain rule is estimated from training logs in which the decision to
step up each week depends on the runner's recent pain and load, which also drive re-injury
(time-varying confounding). Inverse probability of adherence weights remove that dependence:

* :class:`PooledLogistic` fits ``P(step-up in week k | history)`` on episode-weeks, one row per
  week, pooled over weeks and episodes, with optional case weights. It equals R's
  ``glm(y ~ ..., family = binomial, weights = w)`` (coefficients, model-based SEs).
* :func:`stabilized_weights` turns a numerator model (baseline covariates and week only) and a
  denominator model (plus the time-varying history) into stabilised weights
  ``SW_ik = Π_{j <= k} P_num(A_ij) / P_den(A_ij)``, the cumulative product within an episode over
  its weeks, truncated at percentiles of their distribution (default 1st and 99th).

The weighted Cox model of the outcome is then :class:`~rehab_outcomes.survival.cox.CoxPH` on
counting-process rows (``entry_col``) with ``weights_col`` = the weights and ``cluster_col`` = the
episode: the robust SE is required, since the weights are estimated and the rows of an episode
are dependent.

Non-integer weights in R: ``glm`` warns "non-integer #successes in a binomial glm!" whenever a
weight times the outcome is not within 0.001 of an integer. The estimates are still those of the
weighted likelihood, identical to the ones here; the warning only says that the binomial
likelihood is no longer a true likelihood (the weights are not frequencies), so the model-based
SE treats the weights as known precision weights. :class:`PooledLogistic` records the same
condition in ``non_integer_successes_`` without warning, because non-integer weights are the
normal case for inverse probability weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival._util import as_float, build_design

LOGISTIC_SUMMARY_COLUMNS = ["term", "coef", "se", "z", "p", "or", "or_lower", "or_upper"]

#: Default truncation percentiles of the stabilised weights (1st and 99th).
DEFAULT_TRUNCATION: tuple[float, float] = (1.0, 99.0)


class PooledLogistic:
    """Weighted logistic regression on pooled person-period rows.

    Parameters
    ----------
    alpha
        One minus the confidence level of the odds-ratio intervals.
    weight_type
        How case weights enter statsmodels' ``GLM``: ``"var"`` (``var_weights``, R's prior
        weights, default) or ``"freq"`` (``freq_weights``: the row counts as that many rows).
        For a binomial model the dispersion is fixed at 1, so both give R's coefficients and
        SEs; they differ only in the residual degrees of freedom and the log-likelihood.
    max_iter, tol
        IRLS limits (R's ``glm.control`` defaults are 25 and 1e-8; a tighter tolerance here).

    Attributes
    ----------
    params_, se_
        Coefficients (first ``(Intercept)``) and model-based standard errors.
    cov_
        Their covariance matrix.
    terms_
        Design column names: ``(Intercept)``, numeric covariates by name, categorical ones as
        ``name:level`` against the reference level (as :class:`~rehab_outcomes.survival.CoxPH`).
    n_, n_dropped_
        Rows fitted and rows dropped for a missing outcome, covariate or weight.
    deviance_, converged_
        Residual deviance (weighted, as R's) and whether IRLS converged.
    non_integer_successes_
        ``True`` when R's ``glm`` would warn "non-integer #successes in a binomial glm!".

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=500)})
    >>> df["y"] = (rng.random(500) < 1 / (1 + np.exp(-df["x"]))).astype(int)
    >>> m = PooledLogistic().fit(df, "y", ["x"])
    >>> m.terms_
    ['(Intercept)', 'x']
    >>> bool(m.predict_proba(df).between(0, 1).all())
    True
    """

    def __init__(self, alpha: float = 0.05, weight_type: Literal["var", "freq"] = "var",
                 max_iter: int = 100, tol: float = 1e-12) -> None:
        if weight_type not in ("var", "freq"):
            raise ValueError("weight_type must be 'var' or 'freq'")
        self.alpha = alpha
        self.weight_type = weight_type
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, df: pd.DataFrame, outcome_col: str, covariates: Sequence[str],
            weights_col: str | None = None) -> PooledLogistic:
        """Fit ``logit P(outcome = 1) = Xβ``.

        Parameters
        ----------
        df
            One row per person-period (e.g. episode-week at risk of a step-up).
        outcome_col
            0/1 outcome.
        covariates
            Terms; numeric columns enter linearly, categorical ones as indicators against the
            reference level (``build_design``'s rules). An intercept is always added.
        weights_col
            Non-negative case weights (R's ``weights =``); rows with weight 0 do not count.

        Returns
        -------
        PooledLogistic
            The fitted model.
        """
        for col in (outcome_col, weights_col):
            if col is not None and col not in df.columns:
                raise AnalysisError(f"column {col!r} is missing from the data")
        y = as_float(df[outcome_col])
        w = np.ones(len(df)) if weights_col is None else as_float(df[weights_col])
        ok = np.isfinite(y) & np.isfinite(w)
        if not np.all(np.isin(y[ok], (0.0, 1.0))):
            raise AnalysisError(f"{outcome_col!r} must be 0 or 1")
        if np.any(w[ok] < 0):
            raise AnalysisError(f"weights {weights_col!r} must be non-negative")
        design = build_design(df, list(covariates), ok)
        keep = design.complete
        self.covariates_ = list(covariates)
        self.terms_ = ["(Intercept)", *design.names]
        self.assign_ = design.assign
        self.references_ = design.references
        self._numeric = {c for c in covariates if design.assign[c] and
                         design.names[design.assign[c][0]] == c}
        X = np.column_stack([np.ones(int(keep.sum())), design.X])
        yk, wk = y[keep], w[keep]
        if yk.size == 0 or yk.min() == yk.max():
            raise AnalysisError(f"{outcome_col!r} takes a single value in the analysed rows")
        self.n_ = int(keep.sum())
        self.n_dropped_ = int(len(df) - self.n_)
        m = wk * yk
        self.non_integer_successes_ = bool(np.any(np.abs(m - np.round(m)) > 0.001))
        kw = {"var_weights": wk} if self.weight_type == "var" else {"freq_weights": wk}
        model = sm.GLM(yk, X, family=sm.families.Binomial(), **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels' own convergence/domain notes
            res = model.fit(maxiter=self.max_iter, tol=self.tol, scale=1.0)
        self.converged_ = bool(res.converged)
        if not self.converged_:
            warnings.warn("pooled logistic model: IRLS did not converge", StatisticalWarning,
                          stacklevel=2)
        self.params_ = pd.Series(np.asarray(res.params), index=self.terms_)
        self.cov_ = pd.DataFrame(np.asarray(res.cov_params()), index=self.terms_,
                                 columns=self.terms_)
        self.se_ = pd.Series(np.sqrt(np.diag(self.cov_)), index=self.terms_)
        self.deviance_ = float(res.deviance)
        return self

    def _design(self, df: pd.DataFrame) -> np.ndarray:
        """The fitted design applied to new rows (``NaN`` where a covariate is missing)."""
        missing = [c for c in self.covariates_ if c not in df.columns]
        if missing:
            raise AnalysisError(f"covariate column(s) missing from the data: {missing}")
        cols = [np.ones(len(df))]
        for c in self.covariates_:
            if c in self._numeric:
                cols.append(as_float(df[c]))
                continue
            s = df[c]
            text = s.astype(str).to_numpy()
            na = s.isna().to_numpy(dtype=bool)
            for j in self.assign_[c]:
                level = self.terms_[j + 1].split(":", 1)[1]
                cols.append(np.where(na, np.nan, (text == level).astype(float)))
        return np.column_stack(cols)

    def predict_proba(self, df: pd.DataFrame) -> pd.Series:
        """``P(outcome = 1)`` for the rows of ``df`` (``NaN`` where a covariate is missing).

        A categorical level not seen in the fit is treated as the reference level.
        """
        eta = self._design(df) @ self.params_.to_numpy()
        return pd.Series(1.0 / (1.0 + np.exp(-eta)), index=df.index, name="p")

    @property
    def summary(self) -> pd.DataFrame:
        """``term, coef, se, z, p, or, or_lower, or_upper`` (Wald, model-based SE)."""
        coef, se = self.params_.to_numpy(), self.se_.to_numpy()
        z = coef / se
        q = stats.norm.ppf(1 - self.alpha / 2)
        return pd.DataFrame({
            "term": self.terms_, "coef": coef, "se": se, "z": z,
            "p": 2 * stats.norm.sf(np.abs(z)), "or": np.exp(coef),
            "or_lower": np.exp(coef - q * se), "or_upper": np.exp(coef + q * se),
        })[LOGISTIC_SUMMARY_COLUMNS]


def stabilized_weights(
    df: pd.DataFrame,
    id_col: str,
    time_col: str,
    treatment_col: str,
    numerator: PooledLogistic,
    denominator: PooledLogistic,
    at_risk_col: str | None = None,
    truncate: tuple[float, float] | None = DEFAULT_TRUNCATION,
) -> pd.Series:
    """Stabilised inverse probability of treatment (adherence) weights, truncated.

    For row ``k`` of episode ``i`` with observed decision ``A_ik`` (1 = step-up),
    ``f_ik = p_num / p_den`` if ``A_ik = 1`` and ``(1 - p_num) / (1 - p_den)`` otherwise, with the
    probabilities of a step-up from the numerator and denominator models; rows not at risk of
    the decision (``at_risk_col`` false) have ``f_ik = 1``. The weight is the cumulative product
    ``SW_ik = Π_{j <= k} f_ij`` over the episode's rows in ``time_col`` order.

    Parameters
    ----------
    df
        Person-period rows (episode-weeks).
    id_col, time_col
        Episode identifier and the period (week) ordering the rows within an episode.
    treatment_col
        Observed decision (0/1) in each period at risk.
    numerator, denominator
        Fitted :class:`PooledLogistic` models of the decision: the numerator on baseline
        covariates and time only, the denominator adding the time-varying history.
    at_risk_col
        Boolean column: rows where the decision could be made. ``None``: every row.
    truncate
        Percentiles ``(lower, upper)`` in 0–100 at which the weights are truncated (set to the
        percentile, R's ``quantile(type = 7)``, over all rows); default 1st and 99th. ``None``:
        no truncation.

    Returns
    -------
    pandas.Series
        Weights aligned with ``df.index``; ``attrs`` holds ``lower``, ``upper`` (the truncation
        bounds, ``NaN`` without truncation), ``n_truncated``, and ``mean_untruncated`` (near 1
        when the models are right).
    """
    for col in (id_col, time_col, treatment_col, at_risk_col):
        if col is not None and col not in df.columns:
            raise AnalysisError(f"column {col!r} is missing from the data")
    at_risk = (np.ones(len(df), dtype=bool) if at_risk_col is None
               else df[at_risk_col].fillna(False).to_numpy(dtype=bool))
    a = as_float(df[treatment_col])
    if np.any(~np.isin(a[at_risk], (0.0, 1.0))):
        raise AnalysisError(f"{treatment_col!r} must be 0 or 1 in every row at risk")
    p_num = numerator.predict_proba(df).to_numpy()
    p_den = denominator.predict_proba(df).to_numpy()
    if np.any(~np.isfinite(p_num[at_risk]) | ~np.isfinite(p_den[at_risk])):
        raise AnalysisError("a row at risk has a missing covariate of the weight models")
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(a == 1, p_num / p_den, (1 - p_num) / (1 - p_den))
    f = np.where(at_risk, f, 1.0)
    codes = pd.factorize(df[id_col])[0]
    order = np.lexsort((as_float(df[time_col]), codes))
    sw = np.empty(len(df))
    sw[order] = pd.Series(f[order]).groupby(codes[order], sort=False).cumprod().to_numpy()
    lower = upper = np.nan
    n_trunc = 0
    mean_raw = float(np.mean(sw))
    if truncate is not None:
        lo, hi = truncate
        if not 0 <= lo < hi <= 100:
            raise ValueError("truncate must be percentiles 0 <= lower < upper <= 100")
        lower, upper = np.percentile(sw, [lo, hi])
        n_trunc = int(np.sum((sw < lower) | (sw > upper)))
        sw = np.clip(sw, lower, upper)
    out = pd.Series(sw, index=df.index, name="sw")
    out.attrs.update(lower=float(lower), upper=float(upper), n_truncated=n_trunc,
                     mean_untruncated=mean_raw)
    return out
