"""Pain trajectories over the visits of an episode: a linear mixed model by arm.

The outcome is the pain score (NRS 0–10) **recorded at clinic visits** (:data:`OUTCOME_LABEL`),
``week`` counts weeks since the episode's first visit, and ``rest_only`` is the reference arm.
:class:`PainTrajectoryModel` fits, by REML with statsmodels ``MixedLM``, the model that R's lme4
writes as

.. code-block:: r

    lmer(pain_nrs ~ (first + ns(week, df = 4)) * arm + (1 + week10 | episode_id), REML = TRUE)

with ``first = (week == 0)`` and ``week10 = week / 10``:

- a natural cubic spline of time (the basis of R's ``splines::ns``: boundary knots at the range
  of the visit weeks, interior knots at their quantiles) interacted with arm, so that each arm's
  mean curve can follow the data;
- a first-visit term per arm: the first visit is recorded before any treatment, and pain can
  change abruptly within the first week (with graded running, visits at which the stage steps
  up record low pain). Without this term a smooth curve through the early drop *invents* an arm
  difference at week 0 (on the default simulated cohort: −1.2 NRS for strength + graded
  running against an observed −0.1); with it, the week-0 arm difference is the one in the
  data — neither forced to 0 nor made up. ``first_visit=False`` drops the term; the spline
  basis is 0 at week 0, so the ``arm:<arm>`` terms then carry the week-0 difference;
- a random intercept and a random slope (per 10 weeks) per episode.

``spline_df=None, first_visit=False`` gives the straight-line model ``pain_nrs ~ week * arm``.

Besides the fixed effects the model reports the predicted mean pain per arm and week with a
confidence band, arm contrasts at fixed weeks, the observed weekly means, a calibration summary
and observed means split by how long episodes stayed in follow-up. Runners leave care when they
recover, so the visits are informatively missing: the mixed model's mean describes the whole arm
under a missing-at-random assumption, the observed means describe those still attending. The
calibration summary shows both gaps: observed weekly means against the model's mean (the
dropout gap) and against the mean of the episode-specific fitted values at the same visits
(the fit of the model itself).
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import interpolate, stats
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from rehab_outcomes.contract.outcomes import DAYS_PER_WEEK
from rehab_outcomes.contract.schema import ARMS, REFERENCE_ARM
from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning

#: What the modelled outcome is (label for tables and figures).
OUTCOME_LABEL = "Pain (NRS 0–10) recorded at clinic visits"
#: Weeks per unit of the random slope's time variable (fitting only; estimates are per week).
WEEK_UNIT = 10.0
#: Default degrees of freedom of the natural spline of time.
SPLINE_DF = 4
#: Weeks with at least this many visits (per arm) enter the calibration summary.
CALIBRATION_MIN_VISITS = 30
#: Week of the last visit splitting episodes into follow-up patterns.
PATTERN_CUTS: tuple[float, float] = (8.0, 16.0)

SUMMARY_COLUMNS = ["term", "coef", "se", "lower", "upper", "p"]
#: Output tables of a fitted model (see :meth:`PainTrajectoryModel.tables`) and their columns.
TABLES: dict[str, list[str]] = {
    "trajectories": SUMMARY_COLUMNS,
    "trajectories_predicted": ["arm", "week", "pain_nrs", "lower", "upper"],
    "trajectories_observed": ["arm", "week", "pain_nrs", "n"],
    "trajectories_calibration": ["arm", "weeks", "visits", "mean_abs_diff", "max_abs_diff",
                                 "mean_diff", "mean_abs_diff_conditional"],
    "trajectories_calibration_weeks": ["arm", "week", "n", "observed", "predicted", "diff",
                                       "fitted"],
    "trajectories_by_pattern": ["arm", "followup", "week", "pain_nrs", "n", "episodes"],
    "trajectories_variance": ["component", "estimate"],
    "trajectories_contrasts": ["arm", "week", "difference", "se", "lower", "upper", "p"],
}
#: Weeks at which arms are contrasted with the reference arm (within the range of the data).
CONTRAST_WEEKS: tuple[float, ...] = (0, 4, 8, 12, 26)

_VISIT_COLUMNS = ("episode_id", "visit_date", "pain_nrs")
_EPISODE_COLUMNS = ("episode_id", "arm", "first_visit_date")
_ARM_RE = re.compile(r"C\(arm, Treatment\(reference='[^']*'\)\)\[T\.([^\]]+)\]")


def readable_term(term: str) -> str:
    """Turn a patsy term name into the toolkit's name (``arm:x``, ``week:arm:x``).

    Examples
    --------
    >>> readable_term("week:C(arm, Treatment(reference='rest_only'))[T.stretching_only]")
    'week:arm:stretching_only'
    """
    if term == "Intercept":
        return "intercept"
    return _ARM_RE.sub(r"arm:\1", term)


class NaturalSpline:
    """Natural cubic spline basis, identical to R's ``splines::ns(x, df)`` (no intercept).

    Interior knots sit at the quantiles (R's default type 7) of ``x`` at
    ``1/df, ..., (df-1)/df``; boundary knots at the range of ``x``. The basis is the cubic
    B-spline basis on those knots projected (by the same QR decomposition as R) onto the
    functions with zero second derivative at both boundary knots; beyond them it continues
    linearly, as R's ``predict`` of an ``ns`` basis.

    Parameters
    ----------
    df
        Degrees of freedom (number of basis columns), at least 1.

    Examples
    --------
    >>> ns = NaturalSpline(df=3).fit(np.arange(0.0, 21.0))
    >>> ns.knots_.tolist(), ns.boundary_knots_.tolist()
    ([6.666666666666666, 13.333333333333332], [0.0, 20.0])
    >>> ns.transform([0.0, 10.0]).round(4).tolist()
    [[0.0, 0.0, 0.0], [0.3205, 0.4761, -0.2966]]
    """

    def __init__(self, df: int = SPLINE_DF) -> None:
        if int(df) < 1:
            raise AnalysisError("the spline needs at least 1 degree of freedom")
        self.df = int(df)

    def fit(self, x: Sequence[float] | np.ndarray) -> NaturalSpline:
        """Place the knots on the values ``x``."""
        x = np.asarray(x, dtype=float)
        x = x[np.isfinite(x)]
        if x.size == 0 or np.ptp(x) == 0:
            raise AnalysisError("a spline of time needs at least two distinct times")
        self.boundary_knots_ = np.array([x.min(), x.max()])
        probs = np.linspace(0.0, 1.0, self.df + 1)[1:-1]
        self.knots_ = np.quantile(x, probs) if probs.size else np.empty(0)
        self._t = np.sort(np.concatenate([np.repeat(self.boundary_knots_, 4), self.knots_]))
        n_basis = self._t.size - 4
        # extrapolate=True: at the right boundary knot the last polynomial piece is used (the
        # left limit), at the left one the first piece, as R's splineDesign
        self._splines = [interpolate.BSpline(self._t, np.eye(n_basis)[j], 3, extrapolate=True)
                         for j in range(n_basis)]
        const = self._design(self.boundary_knots_, deriv=2)[:, 1:]
        q, _ = np.linalg.qr(const.T, mode="complete")  # Householder, as R's qr()
        self._proj = q[:, 2:]
        return self

    def _design(self, x: np.ndarray, deriv: int = 0) -> np.ndarray:
        """B-spline basis (or its derivative) at ``x`` within the boundary knots."""
        out = np.empty((x.size, len(self._splines)))
        for j, b in enumerate(self._splines):
            out[:, j] = (b.derivative(deriv) if deriv else b)(x)
        return out

    def transform(self, x: Sequence[float] | np.ndarray) -> np.ndarray:
        """The basis at ``x`` (``len(x) × df``); linear beyond the boundary knots."""
        x = np.asarray(x, dtype=float)
        lo, hi = self.boundary_knots_
        full = np.zeros((x.size, len(self._splines)))
        inside = (x >= lo) & (x <= hi)
        full[inside] = self._design(x[inside])
        for side, pivot in ((x < lo, lo), (x > hi, hi)):
            if side.any():
                at = np.array([pivot])
                full[side] = self._design(at) + (x[side] - pivot)[:, None] * self._design(at, 1)
        return full[:, 1:] @ self._proj


def gls_covariance(
    X: np.ndarray, z: np.ndarray, groups: np.ndarray, cov_re: np.ndarray, scale: float
) -> np.ndarray:
    """Covariance of the fixed effects given the variance parameters, ``σ² (X' V⁻¹ X)⁻¹``.

    This is lme4's ``vcov()`` of a ``merMod``: ``V = I + Z Ψ Z'`` per episode with
    ``Ψ = cov_re / σ²``; the inverse uses Woodbury's identity in the form
    ``V⁻¹ = I - Z Ψ (I + Z'Z Ψ)⁻¹ Z'``, valid for a singular ``Ψ`` too. (statsmodels'
    ``cov_params()`` instead inverts the observed information of all parameters jointly,
    whose fixed-effect block differs from lme4's.)

    Parameters
    ----------
    X
        Fixed-effect design (rows sorted by group).
    z
        Random-effects design (``n × q``, same rows).
    groups
        Group label of each row; rows of a group must be contiguous.
    cov_re
        Random-effects covariance (``q × q``).
    scale
        Residual variance ``σ²``.
    """
    starts = _group_starts(groups)
    q = z.shape[1]
    psi = np.asarray(cov_re, dtype=float) / scale
    ztx = np.add.reduceat(z[:, :, None] * X[:, None, :], starts, axis=0)  # G × q × p
    ztz = np.add.reduceat(z[:, :, None] * z[:, None, :], starts, axis=0)  # G × q × q
    m = psi @ np.linalg.inv(np.eye(q) + ztz @ psi)  # G × q × q
    xtvx = X.T @ X - np.einsum("gkp,gkl,glr->pr", ztx, m, ztx)
    return scale * np.linalg.inv(xtvx)


def _group_starts(groups: np.ndarray) -> np.ndarray:
    """First row of each group; the rows of a group must be contiguous."""
    codes, _ = pd.factorize(groups)  # codes in order of first appearance
    if np.any(np.diff(codes) < 0):
        raise AnalysisError("rows of a group must be contiguous")
    return np.flatnonzero(np.r_[True, np.diff(codes) != 0])


def profiled_deviance_start(
    y: np.ndarray,
    X: np.ndarray,
    z: np.ndarray,
    groups: np.ndarray,
    reml: bool = True,
    maxiter: int = 4000,
) -> tuple[np.ndarray, bool]:
    """Relative random-effects covariance ``Ψ = cov_re / σ²`` minimising the profiled (RE)ML
    deviance, computed as lme4 does, vectorised over groups.

    With ``Ψ = Λ Λ'`` (``Λ`` lower triangular) and per group ``M_i = Λ' Z_i' Z_i Λ + I``, the
    deviance profiled over the fixed effects and ``σ²`` is
    ``Σ log|M_i| + log|X' V⁻¹ X| + (n - p)(1 + log(2π r² / (n - p)))`` for REML (without the
    ``log|X' V⁻¹ X|`` term and with ``n`` for ML), ``r²`` the generalised residual sum of
    squares. Every term needs only per-group cross-products, so one evaluation costs
    ``O(groups)``; it gives :class:`PainTrajectoryModel` the start values of its statsmodels
    fit (which then confirms the optimum, computes its Hessian and reports convergence).

    Returns
    -------
    tuple
        ``Ψ`` (``q × q``) and whether the Nelder–Mead search converged within ``maxiter``.
    """
    from scipy import optimize

    starts = _group_starts(groups)
    q = z.shape[1]
    n, p = X.shape
    ztz = np.add.reduceat(z[:, :, None] * z[:, None, :], starts, axis=0)
    ztx = np.add.reduceat(z[:, :, None] * X[:, None, :], starts, axis=0)
    zty = np.add.reduceat(z * y[:, None], starts, axis=0)
    xtx, xty, yty = X.T @ X, X.T @ y, float(y @ y)
    tril = np.tril_indices(q)
    dof = n - p if reml else n

    def deviance(theta: np.ndarray) -> float:
        lam = np.zeros((q, q))
        lam[tril] = theta
        m = lam.T @ ztz @ lam + np.eye(q)  # Λ' A Λ + I, G × q × q
        sign, logdet_m = np.linalg.slogdet(m)
        minv = np.linalg.inv(m)
        b = lam.T @ ztx  # G × q × p
        c = zty @ lam  # G × q
        mb = (minv @ b).reshape(-1, p)
        xvx = xtx - b.reshape(-1, p).T @ mb
        xvy = xty - mb.T @ c.reshape(-1)
        yvy = yty - float(np.sum(c * (minv @ c[:, :, None])[:, :, 0]))
        try:
            beta = np.linalg.solve(xvx, xvy)
        except np.linalg.LinAlgError:
            return np.inf
        r2 = yvy - beta @ xvy
        if r2 <= 0 or np.any(sign <= 0):
            return np.inf
        dev = logdet_m.sum() + dof * (1.0 + np.log(2 * np.pi * r2 / dof))
        if reml:
            dev += np.linalg.slogdet(xvx)[1]
        return float(dev)

    start = np.eye(q)[tril]
    bounds = [(0.0, None) if i == j else (None, None) for i, j in zip(*tril, strict=True)]
    # derivative-free, as lme4: finite differences of a deviance of order 1e5 are too noisy
    opt = optimize.minimize(deviance, start, method="Nelder-Mead", bounds=bounds,
                            options={"xatol": 1e-7, "fatol": 1e-7, "maxiter": maxiter})
    lam = np.zeros((q, q))
    lam[tril] = opt.x
    return lam @ lam.T, bool(opt.success)


def random_effects(
    resid: np.ndarray, z: np.ndarray, groups: np.ndarray, cov_re: np.ndarray, scale: float
) -> np.ndarray:
    """Predicted random effects (BLUPs) of each row's group, ``Ψ (I + Z_i' Z_i Ψ)⁻¹ Z_i' r_i``
    with ``Ψ = cov_re / σ²`` and ``r_i`` the marginal residuals of group ``i``.

    Returns
    -------
    numpy.ndarray
        ``n × q``: the random effects of the group of every row (rows of a group contiguous).
    """
    starts = _group_starts(groups)
    q = z.shape[1]
    psi = np.asarray(cov_re, dtype=float) / scale
    ztz = np.add.reduceat(z[:, :, None] * z[:, None, :], starts, axis=0)
    ztr = np.add.reduceat(z * resid[:, None], starts, axis=0)
    b = (psi @ np.linalg.inv(np.eye(q) + ztz @ psi) @ ztr[:, :, None])[:, :, 0]
    sizes = np.diff(np.r_[starts, resid.size])
    return np.repeat(b, sizes, axis=0)


def weeks_since_first_visit(visits: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """Join the arm and first visit date onto the visits and add ``week``.

    Visits without a pain score are dropped. Rows are sorted by episode and visit date.

    Raises
    ------
    AnalysisError
        Missing columns, visits of unknown episodes, or visits before the first visit.
    """
    miss_v = [c for c in _VISIT_COLUMNS if c not in visits.columns]
    miss_e = [c for c in _EPISODE_COLUMNS if c not in episodes.columns]
    if miss_v or miss_e:
        raise AnalysisError(f"Columns missing: visits {miss_v}, episodes {miss_e}.")
    ep = episodes.loc[:, list(_EPISODE_COLUMNS)]
    if ep["episode_id"].duplicated().any():
        raise AnalysisError("Episode identifiers are not unique.")
    df = visits.loc[:, list(_VISIT_COLUMNS)].merge(ep, on="episode_id", how="left",
                                                   validate="many_to_one")
    if df["arm"].isna().any():
        n = int(df["arm"].isna().sum())
        raise AnalysisError(f"{n} visit(s) belong to no episode of the episodes table.")
    days = (pd.to_datetime(df["visit_date"]) - pd.to_datetime(df["first_visit_date"])).dt.days
    if (days < 0).any():
        raise AnalysisError(f"{int((days < 0).sum())} visit(s) precede the first visit.")
    df["week"] = days.astype(float) / DAYS_PER_WEEK
    df["pain_nrs"] = pd.to_numeric(df["pain_nrs"]).astype(float)
    df = df.dropna(subset=["pain_nrs"])
    df["arm"] = df["arm"].astype(str)
    df["episode_id"] = df["episode_id"].astype(str)
    return df.sort_values(["episode_id", "visit_date"], kind="mergesort").reset_index(drop=True)


def _failures(caught: list[warnings.WarningMessage]) -> list[str]:
    """statsmodels' convergence warnings, except its boundary message (an absolute 0.01
    threshold that small but real slope variances trip routinely; the boundary is judged on
    the relative scale instead)."""
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, ConvergenceWarning) and "boundary" not in str(w.message)
    ]


def _clean(res: Any, caught: list[warnings.WarningMessage]) -> bool:
    return bool(res.converged) and not _failures(caught)


class PainTrajectoryModel:
    """Linear mixed model of visit pain (NRS 0–10) over weeks since the first visit, by arm.

    Parameters
    ----------
    reference
        Reference arm.
    spline_df
        Degrees of freedom of the natural spline of time (default 4); ``None`` for a straight
        line in ``week``.
    first_visit
        Add a first-visit (week 0) term per arm (default); see the module notes.
    grid
        Weeks at which to predict the mean curve; default every week from 0 to the 95th
        percentile of observed visit weeks.
    reml
        Restricted maximum likelihood (default) or maximum likelihood.
    method
        Optimiser(s) passed to ``MixedLM.fit`` (statsmodels' deterministic start values).
    maxiter
        Iteration limit of the optimiser.
    alpha
        1 − confidence level of the intervals (normal approximation).
    min_visits
        Weeks with at least this many visits in an arm enter the calibration summary.
    pattern_cuts
        Weeks ``(a, b)`` of an episode's last visit defining the follow-up patterns
        ``< a``, ``a–b`` and ``> b``.
    contrast_weeks
        Weeks at which each arm's mean pain is compared with the reference arm's (weeks
        beyond the last visit week are skipped).

    Attributes
    ----------
    summary : pandas.DataFrame
        Fixed effects ``term, coef, se, lower, upper, p``: ``intercept``, ``arm:<arm>``,
        ``first_visit`` (first visit against the curve's start), ``week_ns<k>`` (spline terms
        of the reference arm), ``first_visit:arm:<arm>`` and ``week_ns<k>:arm:<arm>``; with
        ``spline_df=None``: ``week`` and ``week:arm:<arm>`` per week. The arm difference at
        week 0 is ``arm:<arm> + first_visit:arm:<arm>`` (see :attr:`contrasts_`).
    variance_components_ : pandas.DataFrame
        ``component, estimate``: random intercept variance, intercept–slope covariance, slope
        variance (slope per week) and residual variance.
    predicted_ : pandas.DataFrame
        ``arm, week, pain_nrs, lower, upper``: the model's mean pain with a pointwise
        confidence band from the fixed effects (table ``trajectories_predicted``).
    observed_means_ : pandas.DataFrame
        ``arm, week, pain_nrs, n``: mean observed pain by arm and whole week, ``n`` visits
        (table ``trajectories_observed``).
    calibration_weeks_ : pandas.DataFrame
        ``arm, week, n, observed, predicted, diff, fitted``: per arm and whole week, the
        observed mean, the mean of the model's (population) predictions at the same visits,
        ``diff`` = observed − predicted, and the mean of the episode-specific fitted values
        (fixed effects plus the episode's predicted random effects).
    calibration_ : pandas.DataFrame
        ``arm, weeks, visits, mean_abs_diff, max_abs_diff, mean_diff,
        mean_abs_diff_conditional`` over the weeks with at least ``min_visits`` visits: the
        gap between observed means and the population curve (dropout plus misfit) and, last,
        between observed means and the fitted values (misfit of the model alone).
    by_pattern_ : pandas.DataFrame
        ``arm, followup, week, pain_nrs, n, episodes``: observed weekly means split by the week
        of the episode's last visit.
    contrasts_ : pandas.DataFrame
        ``arm, week, difference, se, lower, upper, p``: each arm's mean pain minus the
        reference arm's at ``contrast_weeks`` (negative: less pain), from the fixed effects.
    outcome_label_ : str
        :data:`OUTCOME_LABEL`.
    converged_, boundary_ : bool
        Clean convergence; (near) singular random-effects covariance.
    fit_seconds_ : float
        Wall time of the REML fit.
    spline_ : NaturalSpline or None
        The time basis (knots in ``spline_.knots_``, ``spline_.boundary_knots_``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ep = pd.DataFrame({"episode_id": [f"e{i}" for i in range(40)],
    ...                    "arm": ["rest_only", "strength_graded_running"] * 20,
    ...                    "first_visit_date": pd.Timestamp("2024-01-01")})
    >>> vis = ep.loc[ep.index.repeat(5), ["episode_id"]].reset_index(drop=True)
    >>> vis["visit_date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
    ...     np.tile(np.arange(5) * 14, 40), unit="D")
    >>> b0, b1 = np.repeat(rng.normal(0, 1, 40), 5), np.repeat(rng.normal(0, 0.1, 40), 5)
    >>> week = np.tile(np.arange(5) * 2.0, 40)
    >>> vis["pain_nrs"] = 6 + b0 + (b1 - 0.3) * week + rng.normal(0, 0.5, 200)
    >>> m = PainTrajectoryModel(spline_df=None, first_visit=False).fit(vis, ep)
    >>> list(m.summary["term"])
    ['intercept', 'arm:strength_graded_running', 'week', 'week:arm:strength_graded_running']
    >>> list(PainTrajectoryModel(spline_df=2).fit(vis, ep).summary["term"])[:5]
    ['intercept', 'arm:strength_graded_running', 'first_visit', 'week_ns1', 'week_ns2']
    """

    def __init__(
        self,
        reference: str = REFERENCE_ARM,
        grid: Sequence[float] | None = None,
        reml: bool = True,
        method: str | Sequence[str] = ("lbfgs",),
        maxiter: int = 500,
        alpha: float = 0.05,
        spline_df: int | None = SPLINE_DF,
        min_visits: int = CALIBRATION_MIN_VISITS,
        pattern_cuts: tuple[float, float] = PATTERN_CUTS,
        contrast_weeks: Sequence[float] = CONTRAST_WEEKS,
        first_visit: bool = True,
    ) -> None:
        if spline_df is not None and int(spline_df) < 1:
            raise AnalysisError("spline_df must be a positive integer or None")
        if not pattern_cuts[0] < pattern_cuts[1]:
            raise AnalysisError("pattern_cuts must be increasing")
        self.reference = reference
        self.grid = grid
        self.reml = reml
        self.method = method
        self.maxiter = maxiter
        self.alpha = alpha
        self.spline_df = spline_df
        self.min_visits = min_visits
        self.pattern_cuts = pattern_cuts
        self.contrast_weeks = tuple(float(w) for w in contrast_weeks)
        self.first_visit = first_visit

    # ------------------------------------------------------------------ design
    def _time_columns(self, week: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Fixed-effect time columns at ``week``: the first-visit indicator (if used), then
        the spline basis or ``week`` (per-week units for the straight line)."""
        if self.spline_ is None:
            cols, names = week[:, None], ["week"]
        else:
            cols = self.spline_.transform(week)
            names = [f"week_ns{k + 1}" for k in range(cols.shape[1])]
        if self.first_visit_term_:
            cols = np.column_stack([(week == 0).astype(float), cols])
            names = ["first_visit", *names]
        return cols, names

    def _design(self, week: np.ndarray, arm: np.ndarray) -> np.ndarray:
        """Fixed-effect design (columns in :attr:`terms_` order) for weeks and arm labels."""
        tcols, _ = self._time_columns(week)
        cols = [np.ones(week.size)]
        others = [a for a in self.arms_ if a != self.reference]
        dummies = [(arm == a).astype(float) for a in others]
        cols += dummies
        cols += [tcols[:, k] for k in range(tcols.shape[1])]
        for d in dummies:
            cols += [tcols[:, k] * d for k in range(tcols.shape[1])]
        return np.column_stack(cols)

    def _terms(self) -> list[str]:
        _, tnames = self._time_columns(np.zeros(1))
        others = [a for a in self.arms_ if a != self.reference]
        return (["intercept"] + [f"arm:{a}" for a in others] + tnames
                + [f"{t}:arm:{a}" for a in others for t in tnames])

    # ------------------------------------------------------------------ fit
    def fit(self, visits: pd.DataFrame, episodes: pd.DataFrame) -> PainTrajectoryModel:
        """Fit the mixed model and build every output table.

        Parameters
        ----------
        visits
            ``episode_id, visit_date, pain_nrs`` (other visit columns are ignored).
        episodes
            ``episode_id, arm, first_visit_date``.

        Returns
        -------
        PainTrajectoryModel
            ``self``, fitted.
        """
        df = weeks_since_first_visit(visits, episodes)
        present = set(df["arm"])
        if len(present) < 2:
            raise AnalysisError(f"Trajectories by arm need two arms; found {sorted(present)}.")
        if self.reference not in present:
            raise AnalysisError(f"Reference arm {self.reference!r} has no visits.")
        n_times = df["week"].nunique()
        need = 2 if self.spline_df is None else self.spline_df + 1
        if df["episode_id"].nunique() < 3 or n_times < need:
            raise AnalysisError("Too few episodes or visit times to fit pain trajectories.")
        self.arms_ = [a for a in ARMS if a in present] + sorted(present - set(ARMS))
        week = df["week"].to_numpy(float)
        arm = df["arm"].to_numpy(str)
        self.spline_ = None if self.spline_df is None else NaturalSpline(self.spline_df).fit(week)
        self.first_visit_term_ = self.first_visit and self._first_visits_everywhere(df)
        self.terms_ = self._terms()
        X = self._design(week, arm)
        # fixed-effect columns for the straight line in WEEK_UNIT units (better conditioned);
        # reported per week below
        scale = np.array([WEEK_UNIT if self.spline_ is None and "week" in t else 1.0
                          for t in self.terms_])
        exog = pd.DataFrame(X / scale, columns=self.terms_)
        exog_re = pd.DataFrame({"intercept": 1.0, "week10": week / WEEK_UNIT})
        y = df["pain_nrs"].to_numpy(float)
        groups = df["episode_id"].to_numpy()
        model = MixedLM(y, exog, groups=groups, exog_re=exog_re)
        methods = [self.method] if isinstance(self.method, str) else list(self.method)
        start = time.perf_counter()
        # statsmodels evaluates the likelihood group by group in Python (about 1 s per step
        # with 3,000 episodes): start it at the optimum of the same deviance computed
        # vectorised (lme4's formulation); it then confirms the optimum in a step or two
        psi, self.start_converged_ = profiled_deviance_start(
            y, exog.to_numpy(), exog_re.to_numpy(), groups, self.reml, maxiter=2 * self.maxiter)
        self.start_seconds_ = time.perf_counter() - start
        # statsmodels works with the Cholesky factor: keep the start strictly positive definite
        psi = psi + np.eye(psi.shape[0]) * max(1e-8, 1e-6 * float(np.trace(psi)))
        res, caught = self._fit_once(model, methods, MixedLMParams.from_components(cov_re=psi))
        if res is None or not _clean(res, caught):
            # the start did not lead to a clean optimum: try statsmodels' own start values
            res2, caught2 = self._fit_once(model, methods, None)
            if res2 is not None and (res is None or _clean(res2, caught2)):
                res, caught = res2, caught2
        if res is None:
            raise AnalysisError("The pain trajectory model could not be fitted (singular "
                                "matrices from every start).")
        self.fit_seconds_ = time.perf_counter() - start
        self._check_convergence(res, caught)
        self.result_ = res
        self.n_episodes_ = int(df["episode_id"].nunique())
        self.n_visits_ = len(df)
        self.outcome_label_ = OUTCOME_LABEL
        self._tidy(res, scale, X, exog_re.to_numpy(), df["episode_id"].to_numpy())
        self._predict(df)
        self.observed_means_ = self._observed(df)
        self._calibrate(df, exog_re.to_numpy())
        self.by_pattern_ = self._by_pattern(df)
        self.contrasts_ = self._contrasts(float(df["week"].max()))
        return self

    def _contrasts(self, last_week: float) -> pd.DataFrame:
        weeks = np.asarray([w for w in self.contrast_weeks if 0 <= w <= last_week], dtype=float)
        ref = self._design(weeks, np.full(weeks.size, self.reference))
        z = stats.norm.ppf(1 - self.alpha / 2)
        frames = []
        for arm in self.arms_:
            if arm == self.reference:
                continue
            x = self._design(weeks, np.full(weeks.size, arm)) - ref
            diff = x @ self.coef_
            se = np.sqrt(np.einsum("ij,jk,ik->i", x, self.cov_fe_, x))
            frames.append(pd.DataFrame({
                "arm": arm, "week": weeks, "difference": diff, "se": se,
                "lower": diff - z * se, "upper": diff + z * se,
                "p": 2 * stats.norm.sf(np.abs(diff / se)),
            }))
        return pd.concat(frames, ignore_index=True)[TABLES["trajectories_contrasts"]]

    def _fit_once(
        self, model: MixedLM, methods: list[str], start: MixedLMParams | None
    ) -> tuple[Any, list[warnings.WarningMessage]]:
        """One statsmodels fit with its warnings recorded (``None`` if a matrix was singular)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = model.fit(reml=self.reml, method=methods, maxiter=self.maxiter,
                                start_params=start)
            except np.linalg.LinAlgError:
                return None, []
        return res, list(caught)

    def _first_visits_everywhere(self, df: pd.DataFrame) -> bool:
        """Whether every arm has pain recorded at a first visit (week 0)."""
        at0 = set(df.loc[df["week"] == 0, "arm"])
        missing = [a for a in self.arms_ if a not in at0]
        if missing:
            warnings.warn(
                f"No pain recorded at the first visit in {missing}: the model has no separate "
                "first-visit term, and its curve at week 0 is the spline's extrapolation.",
                StatisticalWarning,
                stacklevel=3,
            )
        return not missing

    def _check_convergence(self, res: Any, caught: list[warnings.WarningMessage]) -> None:
        failed = _failures(caught)
        # statsmodels is the judge: a start search stopped early only matters if it fails too
        self.converged_ = bool(res.converged) and not failed
        if not self.converged_ and not self.start_converged_:
            failed.append("the search for start values also stopped at its iteration limit")
        if not self.converged_:
            warnings.warn(
                "The pain trajectory model did not converge cleanly"
                + (f" ({failed[0]})" if failed else "")
                + "; interpret the estimates with caution.",
                StatisticalWarning,
                stacklevel=3,
            )
        eig = np.linalg.eigvalsh(np.asarray(res.cov_re))
        self.boundary_ = bool(eig.min() < 1e-6 * float(res.scale))
        if self.boundary_:
            warnings.warn(
                "The random-effects covariance is (near) singular: episodes barely differ in "
                "intercept or slope, and the standard errors may be unreliable.",
                StatisticalWarning,
                stacklevel=3,
            )

    def _tidy(self, res: Any, scale: np.ndarray, X: np.ndarray, z: np.ndarray,
              groups: np.ndarray) -> None:
        fe = np.asarray(res.fe_params) / scale
        cov = gls_covariance(X, z, groups, np.asarray(res.cov_re), float(res.scale))
        se = np.sqrt(np.diag(cov))
        self.coef_, self.cov_fe_ = fe, cov
        z = stats.norm.ppf(1 - self.alpha / 2)
        self.summary = pd.DataFrame({
            "term": self.terms_,
            "coef": fe,
            "se": se,
            "lower": fe - z * se,
            "upper": fe + z * se,
            "p": 2 * stats.norm.sf(np.abs(fe / se)),
        })
        cov_re = np.asarray(res.cov_re)
        self.variance_components_ = pd.DataFrame({
            "component": ["intercept_var", "intercept_week_cov", "week_var", "residual_var"],
            "estimate": [cov_re[0, 0], cov_re[0, 1] / WEEK_UNIT, cov_re[1, 1] / WEEK_UNIT**2,
                         float(res.scale)],
        })

    def predict(self, weeks: Sequence[float] | np.ndarray, arm: str) -> pd.DataFrame:
        """Mean pain of ``arm`` at ``weeks`` with its pointwise confidence interval.

        Returns
        -------
        pandas.DataFrame
            ``arm, week, pain_nrs, lower, upper``.
        """
        if arm not in self.arms_:
            raise AnalysisError(f"arm {arm!r} was not fitted; arms: {self.arms_}")
        w = np.asarray(weeks, dtype=float)
        x = self._design(w, np.full(w.size, arm))
        mean = x @ self.coef_
        se = np.sqrt(np.einsum("ij,jk,ik->i", x, self.cov_fe_, x))
        z = stats.norm.ppf(1 - self.alpha / 2)
        return pd.DataFrame({"arm": arm, "week": w, "pain_nrs": mean,
                             "lower": mean - z * se, "upper": mean + z * se})

    def _grid(self, df: pd.DataFrame) -> np.ndarray:
        if self.grid is not None:
            return np.asarray(self.grid, dtype=float)
        top = max(1.0, float(np.floor(np.quantile(df["week"], 0.95))))
        return np.arange(0.0, top + 1.0)

    def _predict(self, df: pd.DataFrame) -> None:
        grid = self._grid(df)
        self.predicted_ = pd.concat([self.predict(grid, a) for a in self.arms_],
                                    ignore_index=True)

    def _in_arm_order(self, t: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        """Sort a table by arm (in :attr:`arms_` order), then by ``by``."""
        key = t["arm"].map({a: i for i, a in enumerate(self.arms_)})
        return (t.assign(_k=key).sort_values(["_k", *by], kind="mergesort")
                .drop(columns="_k").reset_index(drop=True))

    def _observed(self, df: pd.DataFrame) -> pd.DataFrame:
        out = (
            df.assign(week=np.floor(df["week"]))
            .groupby(["arm", "week"], sort=False)["pain_nrs"]
            .agg(pain_nrs="mean", n="size")
            .reset_index()
        )
        return self._in_arm_order(out, ["week"])[TABLES["trajectories_observed"]]

    def _calibrate(self, df: pd.DataFrame, z: np.ndarray) -> None:
        x = self._design(df["week"].to_numpy(float), df["arm"].to_numpy(str))
        marginal = x @ self.coef_
        blup = random_effects(df["pain_nrs"].to_numpy(float) - marginal, z,
                              df["episode_id"].to_numpy(), np.asarray(self.result_.cov_re),
                              float(self.result_.scale))
        d = df.assign(predicted=marginal, fitted=marginal + np.sum(z * blup, axis=1),
                      wk=np.floor(df["week"]))
        per = (
            d.groupby(["arm", "wk"], sort=True)
            .agg(n=("pain_nrs", "size"), observed=("pain_nrs", "mean"),
                 predicted=("predicted", "mean"), fitted=("fitted", "mean"))
            .reset_index()
            .rename(columns={"wk": "week"})
        )
        per["diff"] = per["observed"] - per["predicted"]
        per = self._in_arm_order(per, ["week"])
        self.calibration_weeks_ = per[TABLES["trajectories_calibration_weeks"]]
        rows = []
        for arm in self.arms_:
            g = per[(per["arm"] == arm) & (per["n"] >= self.min_visits)]
            rows.append({
                "arm": arm,
                "weeks": len(g),
                "visits": int(g["n"].sum()),
                "mean_abs_diff": float(g["diff"].abs().mean()) if len(g) else np.nan,
                "max_abs_diff": float(g["diff"].abs().max()) if len(g) else np.nan,
                "mean_diff": float(g["diff"].mean()) if len(g) else np.nan,
                "mean_abs_diff_conditional": (float((g["observed"] - g["fitted"]).abs().mean())
                                              if len(g) else np.nan),
            })
        self.calibration_ = pd.DataFrame(rows, columns=TABLES["trajectories_calibration"])

    def followup_labels(self) -> list[str]:
        """Labels of the follow-up patterns, in order."""
        a, b = self.pattern_cuts
        return [f"last visit before week {a:g}", f"last visit weeks {a:g}–{b:g}",
                f"last visit after week {b:g}"]

    def _by_pattern(self, df: pd.DataFrame) -> pd.DataFrame:
        a, b = self.pattern_cuts
        last = df.groupby("episode_id")["week"].transform("max").to_numpy()
        labels = self.followup_labels()
        pattern = np.where(last < a, labels[0], np.where(last <= b, labels[1], labels[2]))
        d = df.assign(followup=pattern, week_bin=np.floor(df["week"]))
        out = (
            d.groupby(["arm", "followup", "week_bin"], sort=True)
            .agg(pain_nrs=("pain_nrs", "mean"), n=("pain_nrs", "size"),
                 episodes=("episode_id", "nunique"))
            .reset_index()
            .rename(columns={"week_bin": "week"})
        )
        out["_f"] = out["followup"].map({lab: i for i, lab in enumerate(labels)})
        out = self._in_arm_order(out, ["_f", "week"])
        return out[TABLES["trajectories_by_pattern"]]

    # ------------------------------------------------------------------ outputs
    @property
    def trajectories_predicted(self) -> pd.DataFrame:
        """Alias of :attr:`predicted_` (table ``trajectories_predicted``)."""
        return self.predicted_

    @property
    def trajectories_observed(self) -> pd.DataFrame:
        """Alias of :attr:`observed_means_` (table ``trajectories_observed``)."""
        return self.observed_means_

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every output table by name, with the columns of :data:`TABLES`."""
        return {
            "trajectories": self.summary[SUMMARY_COLUMNS],
            "trajectories_predicted": self.predicted_,
            "trajectories_observed": self.observed_means_,
            "trajectories_calibration": self.calibration_,
            "trajectories_calibration_weeks": self.calibration_weeks_,
            "trajectories_by_pattern": self.by_pattern_,
            "trajectories_variance": self.variance_components_,
            "trajectories_contrasts": self.contrasts_,
        }
