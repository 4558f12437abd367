"""Inverse probability of treatment weighting (IPTW) for observational clinic records.

:class:`PropensityModel` fits a multinomial logit of the treatment arm on baseline covariates,
turns the fitted propensities into stabilised inverse probability weights and reports covariate
balance (standardised mean differences) before and after weighting.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from rehab_outcomes.contract.schema import ARMS, CATEGORIES, REFERENCE_ARM
from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning

#: Absolute standardised mean difference above which a covariate counts as imbalanced.
SMD_THRESHOLD = 0.1
#: Columns of :meth:`PropensityModel.balance_pairs`.
BALANCE_PAIRS_COLUMNS = ["population", "term", "arm", "vs_arm", "smd_before", "smd_after",
                         "imbalanced_before", "imbalanced_after"]

_INTERCEPT = "intercept"


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _levels(name: str, s: pd.Series) -> list[str]:
    """Levels of a categorical covariate: the contract's order when known, else sorted."""
    present = set(s.astype(str).unique())
    if name in CATEGORIES:
        known = [lv for lv in CATEGORIES[name] if lv in present]
        return known + sorted(present - set(known))
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [str(c) for c in s.cat.categories if str(c) in present]
    return sorted(present)


def _weighted_mean_var(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    m = float(np.average(x, weights=w))
    return m, float(np.average((x - m) ** 2, weights=w))


def smd(
    x_treated: np.ndarray,
    x_reference: np.ndarray,
    w_treated: np.ndarray | None = None,
    w_reference: np.ndarray | None = None,
    binary: bool = False,
) -> float:
    """Standardised mean difference of one covariate, treated minus reference.

    The denominator is always the pooled standard deviation of the *unweighted* groups,
    ``sqrt((s_t^2 + s_r^2) / 2)`` (sample variances, or ``p (1 - p)`` for a binary indicator);
    weights, when given, only change the means.

    Examples
    --------
    >>> round(smd(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0])), 3)
    1.0
    """
    xt = np.asarray(x_treated, dtype=float)
    xr = np.asarray(x_reference, dtype=float)
    if binary:
        pt, pr = xt.mean(), xr.mean()
        pooled = np.sqrt((pt * (1 - pt) + pr * (1 - pr)) / 2)
    else:
        pooled = np.sqrt((xt.var(ddof=1) + xr.var(ddof=1)) / 2)
    mt = np.average(xt, weights=w_treated)
    mr = np.average(xr, weights=w_reference)
    diff = float(mt - mr)
    if pooled == 0:
        return 0.0 if np.isclose(diff, 0.0) else float(np.sign(diff) * np.inf)
    return diff / float(pooled)


class PropensityModel:
    """Multinomial propensity model with stabilised inverse probability weights.

    Parameters
    ----------
    covariates
        Baseline covariate columns. Numeric columns enter linearly (standardised for fitting;
        coefficients are reported on the original scale); other columns are dummy-coded with
        the first level (contract order, else sorted) as reference.
    treatment
        Column holding the arm received.
    reference
        Reference arm: the baseline category of the logit and of every balance comparison.
    truncate
        Optional ``(lower, upper)`` percentiles (0–100) at which to truncate the weights.
    max_weight
        A stabilised weight above this triggers a :class:`StatisticalWarning`.
    min_propensity
        A propensity below this for any arm triggers a :class:`StatisticalWarning` (poor
        overlap: the episode lies outside the common support).

    Attributes
    ----------
    arms_ : list of str
        Arms, reference first.
    params_ : pandas.DataFrame
        Coefficients (rows: ``intercept`` and design terms; columns: non-reference arms), on the
        original covariate scale.
    summary : pandas.DataFrame
        Tidy coefficients: ``term, arm, coef, se, z, p``.
    propensity_ : pandas.DataFrame
        n × arms fitted probabilities, indexed like the input.
    weights_ : pandas.Series
        Stabilised weights: marginal share of the received arm / its propensity.
    balance_ : pandas.DataFrame
        ``term, arm, smd_before, smd_after, imbalanced_before, imbalanced_after``: each arm
        against the reference arm, all episodes.
    effective_sample_size_ : pandas.Series
        Kish effective sample size of the weights in each arm.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=300)})
    >>> df["arm"] = np.where(rng.random(300) < 0.5, "rest_only", "strength_graded_running")
    >>> pm = PropensityModel(["x"]).fit(df)
    >>> pm.weights_.groupby(df["arm"]).mean().round(1).tolist()
    [1.0, 1.0]
    """

    def __init__(
        self,
        covariates: Sequence[str],
        treatment: str = "arm",
        reference: str = REFERENCE_ARM,
        truncate: tuple[float, float] | None = None,
        max_weight: float = 10.0,
        min_propensity: float = 0.01,
    ) -> None:
        self.covariates = list(covariates)
        self.treatment = treatment
        self.reference = reference
        self.truncate = truncate
        self.max_weight = max_weight
        self.min_propensity = min_propensity

    # ------------------------------------------------------------------ design
    def _check(self, df: pd.DataFrame) -> None:
        if not self.covariates:
            raise AnalysisError("The propensity model needs at least one covariate.")
        missing = [c for c in [self.treatment, *self.covariates] if c not in df.columns]
        if missing:
            raise AnalysisError(f"Columns missing for the propensity model: {missing}.")
        na = [c for c in [self.treatment, *self.covariates] if df[c].isna().any()]
        if na:
            raise AnalysisError(
                f"Missing values in {na}: impute or drop them before fitting propensities."
            )
        if self.truncate is not None:
            lo, hi = self.truncate
            if not 0 <= lo < hi <= 100:
                raise AnalysisError("truncate must be (lower, upper) percentiles, 0 <= lower < upper <= 100.")

    def _arms(self, arm: pd.Series) -> list[str]:
        present = set(arm.unique())
        if len(present) < 2:
            raise AnalysisError(
                f"Propensity scores need at least two arms; only {sorted(present)} present."
            )
        if self.reference not in present:
            raise AnalysisError(f"Reference arm {self.reference!r} is not in the data.")
        ordered = [a for a in ARMS if a in present] + sorted(present - set(ARMS))
        return [self.reference] + [a for a in ordered if a != self.reference]

    def _design(self, df: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, str, pd.Series, bool]]]:
        """Model matrix (without intercept) and the balance terms ``(term, covariate, x, binary)``."""
        cols: dict[str, pd.Series] = {}
        balance_terms: list[tuple[str, str, pd.Series, bool]] = []
        for name in self.covariates:
            s = df[name]
            if _is_numeric(s):
                x = s.astype(float)
                if x.std(ddof=0) == 0:
                    raise AnalysisError(f"Covariate {name!r} is constant.")
                cols[name] = x
                balance_terms.append((name, name, x, False))
                continue
            levels = _levels(name, s)
            if len(levels) < 2:
                raise AnalysisError(f"Covariate {name!r} has a single level.")
            s_str = s.astype(str)
            for i, lv in enumerate(levels):
                term = f"{name}:{lv}"
                dummy = (s_str == lv).astype(float)
                balance_terms.append((term, name, dummy, True))
                if i > 0:
                    cols[term] = dummy
        return pd.DataFrame(cols, index=df.index), balance_terms

    # --------------------------------------------------------------------- fit
    def fit(self, df: pd.DataFrame) -> PropensityModel:
        """Fit the propensity model, the weights and the balance table.

        Parameters
        ----------
        df
            One row per episode with the treatment and covariate columns.

        Returns
        -------
        PropensityModel
            ``self``, fitted.

        Raises
        ------
        AnalysisError
            Missing columns or values, a single arm, or complete separation.
        """
        self._check(df)
        arm = df[self.treatment].astype(str)
        self.arms_ = self._arms(arm)
        code = pd.Categorical(arm, categories=self.arms_).codes
        X, balance_terms = self._design(df)
        means = X.mean()
        sds = X.std(ddof=0)
        Z = (X - means) / sds
        Z.insert(0, _INTERCEPT, 1.0)

        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = sm.MNLogit(code, Z.to_numpy()).fit(method="newton", maxiter=100, disp=False)
            except np.linalg.LinAlgError as exc:
                raise AnalysisError(
                    "The propensity model could not be fitted (singular design: collinear "
                    "covariates or complete separation)."
                ) from exc
        params_std = np.asarray(res.params)
        cov_std = np.asarray(res.cov_params())
        probs = np.asarray(res.predict(Z.to_numpy()))
        received = probs[np.arange(len(code)), code]
        if (
            not np.all(np.isfinite(params_std))
            or not np.all(np.isfinite(cov_std))
            or np.max(np.abs(params_std[1:])) > 15
            or np.min(received) < 1e-8
        ):
            raise AnalysisError(
                "Complete or quasi-complete separation: some covariate pattern determines the "
                "arm, so propensities of 0 or 1 make weighting impossible."
            )
        self.converged_ = bool(res.mle_retvals.get("converged", True))
        if not self.converged_:
            warnings.warn("The propensity model did not converge.", StatisticalWarning, stacklevel=2)

        self._set_params(params_std, cov_std, means, sds, list(Z.columns))
        self.propensity_ = pd.DataFrame(probs, index=df.index, columns=self.arms_)
        share = np.bincount(code, minlength=len(self.arms_)) / len(code)
        w = share[code] / received
        if self.truncate is not None:
            lo, hi = np.percentile(w, self.truncate)
            w = np.clip(w, lo, hi)
        self.weights_ = pd.Series(w, index=df.index, name="weight")
        self.effective_sample_size_ = (
            self.weights_.groupby(arm.to_numpy())
            .agg(lambda v: float(v.sum() ** 2 / (v**2).sum()))
            .reindex(self.arms_)
            .rename("effective_sample_size")
        )
        self._balance_terms = balance_terms
        self._arm = arm.to_numpy()
        self.balance_ = self._balance(balance_terms, arm.to_numpy(), w)
        self._warn(probs, w)
        return self

    def _set_params(
        self,
        params_std: np.ndarray,
        cov_std: np.ndarray,
        means: pd.Series,
        sds: pd.Series,
        names: list[str],
    ) -> None:
        """Back-transform coefficients and their covariance to the original covariate scale."""
        k, j = params_std.shape
        # beta_raw = A @ beta_std within each equation
        a = np.zeros((k, k))
        a[0, 0] = 1.0
        a[0, 1:] = -(means / sds).to_numpy()
        a[np.arange(1, k), np.arange(1, k)] = 1.0 / sds.to_numpy()
        params = a @ params_std
        big_a = np.kron(np.eye(j), a)  # statsmodels stacks equations (order="F")
        cov = big_a @ cov_std @ big_a.T
        with np.errstate(invalid="ignore"):
            se = np.sqrt(np.diag(cov)).reshape((k, j), order="F")
        others = self.arms_[1:]
        self.params_ = pd.DataFrame(params, index=names, columns=others)
        usable = np.isfinite(se) & (se > 0)
        if not usable.all():
            warnings.warn(
                "Propensity model: some coefficients have a standard error of zero or not "
                "finite; their z and p-values are left empty.",
                StatisticalWarning,
                stacklevel=3,
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(usable, params / np.where(usable, se, 1.0), np.nan)
        p = 2 * stats.norm.sf(np.abs(z))
        self.summary = pd.DataFrame(
            {
                "term": np.repeat([names], j, axis=0).ravel(),
                "arm": np.repeat(others, k),
                "coef": params.T.ravel(),
                "se": se.T.ravel(),
                "z": z.T.ravel(),
                "p": p.T.ravel(),
            }
        )

    def _balance(
        self,
        terms: list[tuple[str, str, pd.Series, bool]],
        arm: np.ndarray,
        w: np.ndarray,
    ) -> pd.DataFrame:
        ref = arm == self.reference
        rows = []
        for other in self.arms_[1:]:
            trt = arm == other
            for term, _, x, binary in terms:
                xv = x.to_numpy()
                before = smd(xv[trt], xv[ref], binary=binary)
                after = smd(xv[trt], xv[ref], w[trt], w[ref], binary=binary)
                rows.append((term, other, before, after))
        out = pd.DataFrame(rows, columns=["term", "arm", "smd_before", "smd_after"])
        out["imbalanced_before"] = out["smd_before"].abs() > SMD_THRESHOLD
        out["imbalanced_after"] = out["smd_after"].abs() > SMD_THRESHOLD
        return out

    def balance_pairs(
        self, rows: np.ndarray | pd.Series | None = None, population: str = "all"
    ) -> pd.DataFrame:
        """Balance of every covariate term for every pair of arms, optionally within a subset.

        Parameters
        ----------
        rows
            Boolean mask over the fitted rows selecting a subset (e.g. the episodes that became
            pain-free, where the re-injury analysis takes place); ``None`` for all rows. The
            weights are the fitted (baseline) weights of those rows.
        population
            Label of the subset in the ``population`` column.

        Returns
        -------
        pandas.DataFrame
            ``population, term, arm, vs_arm, smd_before, smd_after, imbalanced_before,
            imbalanced_after``: the standardised mean difference of ``arm`` minus ``vs_arm``
            (as :func:`smd`), for every pair of arms in :attr:`arms_` order. A pair in which an
            arm has fewer than two rows gets empty SMDs (not flagged).
        """
        keep = np.ones(self._arm.size, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
        if keep.shape != self._arm.shape:
            raise AnalysisError("rows must be a mask over the fitted episodes")
        arm = self._arm[keep]
        w = self.weights_.to_numpy()[keep]
        out_rows = []
        for j, a in enumerate(self.arms_):
            for b in self.arms_[:j]:
                ta, tb = arm == a, arm == b
                for term, _, x, binary in self._balance_terms:
                    xv = x.to_numpy()[keep]
                    if ta.sum() < 2 or tb.sum() < 2:
                        before = after = np.nan
                    else:
                        before = smd(xv[ta], xv[tb], binary=binary)
                        after = smd(xv[ta], xv[tb], w[ta], w[tb], binary=binary)
                    out_rows.append((population, term, a, b, before, after))
        out = pd.DataFrame(out_rows, columns=BALANCE_PAIRS_COLUMNS[:6])
        out["imbalanced_before"] = out["smd_before"].abs() > SMD_THRESHOLD
        out["imbalanced_after"] = out["smd_after"].abs() > SMD_THRESHOLD
        return out

    def _warn(self, probs: np.ndarray, w: np.ndarray) -> None:
        low = probs.min(axis=1) < self.min_propensity
        if low.any():
            warnings.warn(
                f"Poor overlap: {int(low.sum())} episode(s) had a propensity below "
                f"{self.min_propensity:g} for at least one arm.",
                StatisticalWarning,
                stacklevel=3,
            )
        if np.max(w) > self.max_weight:
            warnings.warn(
                f"Extreme weights: the largest stabilised weight is {np.max(w):.1f} "
                f"(> {self.max_weight:g}); consider truncation.",
                StatisticalWarning,
                stacklevel=3,
            )
        still = self.balance_.loc[self.balance_["imbalanced_after"], "term"].unique()
        if len(still):
            warnings.warn(
                f"Covariates still imbalanced after weighting (|SMD| > {SMD_THRESHOLD}): "
                f"{', '.join(map(str, still))}.",
                StatisticalWarning,
                stacklevel=3,
            )
