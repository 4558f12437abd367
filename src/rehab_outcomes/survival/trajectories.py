"""Pain trajectories over the visits of an episode: a linear mixed model by arm.

:class:`PainTrajectoryModel` fits ``pain_nrs ~ week * arm`` with a random intercept and a random
slope of ``week`` per episode (statsmodels ``MixedLM``), where ``week`` counts weeks since the
episode's first visit and ``rest_only`` is the reference arm.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from rehab_outcomes.contract.outcomes import DAYS_PER_WEEK
from rehab_outcomes.contract.schema import ARMS, REFERENCE_ARM
from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning

_VISIT_COLUMNS = ("episode_id", "visit_date", "pain_nrs")
_EPISODE_COLUMNS = ("episode_id", "arm", "first_visit_date")
_ARM_RE = re.compile(r"C\(arm, Treatment\(reference='[^']*'\)\)\[T\.([^\]]+)\]")


#: Weeks per model time unit (fitting only; every reported estimate is per week).
WEEK_UNIT = 10.0

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


def weeks_since_first_visit(visits: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """Join the arm and first visit date onto the visits and add ``week``.

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
    df = visits.merge(ep, on="episode_id", how="left", validate="many_to_one")
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
    return df.sort_values(["episode_id", "visit_date"], kind="mergesort").reset_index(drop=True)


class PainTrajectoryModel:
    """Linear mixed model of pain (NRS 0–10) over weeks since the first visit, by arm.

    Parameters
    ----------
    reference
        Reference arm.
    grid
        Weeks at which to predict the population-average line; default every week from 0 to
        the 95th percentile of observed visit weeks.
    reml
        Restricted maximum likelihood (default) or maximum likelihood.
    method
        Optimiser(s) passed to ``MixedLM.fit``; the start values are statsmodels' deterministic
        defaults.
    maxiter
        Iteration limit of the optimiser.
    alpha
        1 − confidence level of the intervals.

    Attributes
    ----------
    summary : pandas.DataFrame
        Fixed effects ``term, coef, se, lower, upper, p`` with readable term names
        (``intercept``, ``week``, ``arm:<arm>``, ``week:arm:<arm>``).
    variance_components_ : pandas.DataFrame
        ``component, estimate``: random intercept and slope variances, their covariance and the
        residual variance.
    predicted_ : pandas.DataFrame
        ``arm, week, pain_nrs, lower, upper``: population-average prediction with a confidence
        band from the fixed effects.
    observed_means_ : pandas.DataFrame
        ``arm, week, pain_nrs, n``: mean observed pain by arm and whole week (for plotting).
    converged_ : bool
        Whether the optimiser converged with a positive definite Hessian.
    boundary_ : bool
        Whether the random-effects covariance is (near) singular.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ep = pd.DataFrame({"episode_id": [f"e{i}" for i in range(40)],
    ...                    "arm": ["rest_only", "strength_graded_running"] * 20,
    ...                    "first_visit_date": pd.Timestamp("2024-01-01")})
    >>> vis = ep.loc[ep.index.repeat(5), ["episode_id"]].reset_index(drop=True)
    >>> vis["visit_date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
    ...     np.tile(np.arange(5) * 14, 40), unit="D")
    >>> vis["pain_nrs"] = np.clip(6 - 0.3 * np.tile(np.arange(5) * 2, 40)
    ...                           + rng.normal(0, 1, 200), 0, 10)
    >>> m = PainTrajectoryModel().fit(vis, ep)
    >>> list(m.summary["term"])
    ['intercept', 'arm:strength_graded_running', 'week', 'week:arm:strength_graded_running']
    """

    def __init__(
        self,
        reference: str = REFERENCE_ARM,
        grid: Sequence[float] | None = None,
        reml: bool = True,
        method: str | Sequence[str] = ("lbfgs",),
        maxiter: int = 500,
        alpha: float = 0.05,
    ) -> None:
        self.reference = reference
        self.grid = grid
        self.reml = reml
        self.method = method
        self.maxiter = maxiter
        self.alpha = alpha

    def fit(self, visits: pd.DataFrame, episodes: pd.DataFrame) -> PainTrajectoryModel:
        """Fit the mixed model.

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
        if df["episode_id"].nunique() < 3 or df["week"].nunique() < 2:
            raise AnalysisError("Too few episodes or visit times to fit pain trajectories.")
        self.arms_ = [a for a in ARMS if a in present] + sorted(present - set(ARMS))
        df["arm"] = pd.Categorical(df["arm"], categories=self.arms_)
        formula = f"pain_nrs ~ week * C(arm, Treatment(reference='{self.reference}'))"
        # time enters in units of WEEK_UNIT weeks: the slope variance is then not tiny next to
        # the intercept variance, and the optimiser converges (estimates are reported per week)
        scaled = df.assign(week=df["week"] / WEEK_UNIT)
        model = smf.mixedlm(formula, scaled, groups=scaled["episode_id"], re_formula="~week")
        methods = [self.method] if isinstance(self.method, str) else list(self.method)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = model.fit(reml=self.reml, method=methods, maxiter=self.maxiter)
        # statsmodels' boundary message uses an absolute 0.01 threshold that small but real
        # slope variances (per week squared) trip routinely; the boundary is judged below.
        failed = [
            str(w.message)
            for w in caught
            if issubclass(w.category, ConvergenceWarning) and "boundary" not in str(w.message)
        ]
        self.converged_ = bool(res.converged) and not failed
        if not self.converged_:
            warnings.warn(
                "The pain trajectory model did not converge cleanly"
                + (f" ({failed[0]})" if failed else "")
                + "; interpret the estimates with caution.",
                StatisticalWarning,
                stacklevel=2,
            )
        eig = np.linalg.eigvalsh(np.asarray(res.cov_re))
        self.boundary_ = bool(eig.min() < 1e-6 * float(res.scale))
        if self.boundary_:
            warnings.warn(
                "The random-effects covariance is (near) singular: episodes barely differ in "
                "intercept or slope, and the standard errors may be unreliable.",
                StatisticalWarning,
                stacklevel=2,
            )
        self.result_ = res
        self.n_episodes_ = int(df["episode_id"].nunique())
        self.n_visits_ = len(df)
        self._tidy(res)
        self._predict(res, df)
        self.observed_means_ = self._observed(df)
        return self

    def _tidy(self, res: Any) -> None:
        names = list(res.model.exog_names)
        readable = [readable_term(n) for n in names]
        per_week = np.array([WEEK_UNIT if r.startswith("week") else 1.0 for r in readable])
        fe = np.asarray(res.fe_params) / per_week
        se = np.asarray(res.bse_fe) / per_week
        z = stats.norm.ppf(1 - self.alpha / 2)
        order = sorted(range(len(names)), key=lambda i: (readable[i].startswith("week"), i))
        self.summary = pd.DataFrame(
            {
                "term": [readable[i] for i in order],
                "coef": fe[order],
                "se": se[order],
                "lower": fe[order] - z * se[order],
                "upper": fe[order] + z * se[order],
                "p": 2 * stats.norm.sf(np.abs(fe[order] / se[order])),
            }
        )
        cov_re = np.asarray(res.cov_re)
        self.variance_components_ = pd.DataFrame(
            {
                "component": ["intercept_var", "intercept_week_cov", "week_var", "residual_var"],
                "estimate": [cov_re[0, 0], cov_re[0, 1] / WEEK_UNIT, cov_re[1, 1] / WEEK_UNIT**2,
                             float(res.scale)],
            }
        )
        self._names = names

    def _grid(self, df: pd.DataFrame) -> np.ndarray:
        if self.grid is not None:
            return np.asarray(self.grid, dtype=float)
        top = max(1.0, float(np.floor(np.quantile(df["week"], 0.95))))
        return np.arange(0.0, top + 1.0)

    def _predict(self, res: Any, df: pd.DataFrame) -> None:
        grid = self._grid(df)
        t = grid / WEEK_UNIT  # the model's time unit
        k_fe = len(self._names)
        fe = np.asarray(res.fe_params)
        cov = np.asarray(res.cov_params())[:k_fe, :k_fe]
        z = stats.norm.ppf(1 - self.alpha / 2)
        frames = []
        for arm in self.arms_:
            x = np.zeros((grid.size, k_fe))
            for j, name in enumerate(self._names):
                term = readable_term(name)
                if term == "intercept":
                    x[:, j] = 1.0
                elif term == "week":
                    x[:, j] = t
                elif term == f"arm:{arm}":
                    x[:, j] = 1.0
                elif term == f"week:arm:{arm}":
                    x[:, j] = t
            mean = x @ fe
            se = np.sqrt(np.einsum("ij,jk,ik->i", x, cov, x))
            frames.append(
                pd.DataFrame(
                    {"arm": arm, "week": grid, "pain_nrs": mean,
                     "lower": mean - z * se, "upper": mean + z * se}
                )
            )
        self.predicted_ = pd.concat(frames, ignore_index=True)

    @staticmethod
    def _observed(df: pd.DataFrame) -> pd.DataFrame:
        wk = np.floor(df["week"]).rename("week")
        out = (
            df.groupby([df["arm"].astype(str), wk], observed=True)["pain_nrs"]
            .agg(pain_nrs="mean", n="size")
            .reset_index()
        )
        return out
