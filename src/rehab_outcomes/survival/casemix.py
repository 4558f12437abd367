"""Fair comparison of sites: observed against case-mix expected outcome, with funnel limits.

The registry method (as the National Joint Registry and NHS PROMs compare hospitals), for the
share of patients running pain-free by a horizon (12 weeks):

1. **Case-mix model.** A Cox model of time to pain-free running on all sites together, with the
   arm and the baseline covariates but *not* the site (complete cases of the covariates).
2. **Expected.** For each episode the model's probability of being pain-free by the horizon,
   ``1 - exp(-H0(h) exp(lp))`` (Efron baseline hazard, as R's ``survfit.coxph``); a site's
   *expected* share ``E`` is the mean over its episodes: what the site would achieve if its
   patients did as well as patients like them did across all sites.
3. **Observed.** The site's Kaplan–Meier estimate ``O = 1 - S(h)`` (the package's
   :class:`~rehab_outcomes.survival.km.KaplanMeier`) on the same episodes, so patients lost to
   follow-up before the horizon count for as long as they were followed, and its Greenwood
   variance ``V``.
4. **Risk-adjusted share** ``A = p0 + (O - E)``, ``p0`` the Kaplan–Meier share of all sites.
   Under the null (the site performs as expected) ``O - E`` has standard error
   ``s = sqrt(E (1 - E) / m)``, where ``m = O (1 - O) / V`` is the site's *effective number
   of patients*: as many patients followed to the horizon would give the same precision, so
   loss to follow-up widens the site's limits. A site is plotted at the precision-equivalent
   ``n* = p0 (1 - p0) / s²``, so that its distance to the limits is exactly its z-score
   ``z = (O - E) / s``.
5. **Funnel limits** ``p0 ± z_q sqrt(p0 (1 - p0) / n + τ²)`` at 95 % (``z = 1.96``) and
   99.8 % (``z = 3.09``).
6. **Overdispersion** (Spiegelhalter 2005, *Statistics in Medicine* 24:1185–1202, and
   Spiegelhalter et al. 2012, *JRSS A* 175:1–47): the z-scores are winsorised at their 10th
   and 90th percentiles, ``φ = Σ z_w² / I``. If ``I φ > I - 1`` the sites differ by more than
   chance: with ``method="additive"`` (default) a random-effects variance
   ``τ² = (I φ - (I - 1)) / (Σ w - Σ w² / Σ w)``, ``w = 1 / s²``, is added to every site's
   variance; with ``"multiplicative"`` the limits are widened by ``sqrt(φ)``. With fewer than
   ``min_sites`` sites no overdispersion is estimated (``φ`` and ``τ²`` are reported as
   not estimated).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival._util import build_design, survival_arrays
from rehab_outcomes.survival.cox import CoxPH
from rehab_outcomes.survival.km import km_arrays

__all__ = [
    "LIMITS",
    "SiteComparison",
    "compare_sites",
    "efron_baseline_cumhaz",
    "expected_probability",
    "funnel_limits",
    "overdispersion",
]

#: Two-sided coverage of the funnel limits and their normal quantiles.
LIMITS: Final = {"95": float(stats.norm.ppf(0.975)), "99.8": float(stats.norm.ppf(0.999))}
Method = Literal["additive", "multiplicative", "none"]
BANDS: Final = ("above_998", "above_95", "within", "below_95", "below_998")
TABLE_COLUMNS: Final = [
    "site", "n", "n_used", "observed", "observed_se", "expected", "effective_n",
    "adjusted", "se_null", "precision_n", "z", "z_adjusted", "band",
]


def efron_baseline_cumhaz(time: np.ndarray, event: np.ndarray, lp: np.ndarray,
                          horizon: float) -> float:
    """Baseline cumulative hazard at ``horizon`` for linear predictors ``lp`` (Efron ties).

    At each event time with ``d`` tied events, risk-set sum ``S0`` and events' sum ``D0`` of
    ``exp(lp)``, the increment is ``Σ_{k<d} 1 / (S0 - (k/d) D0)`` (R's ``survfit.coxph`` for an
    Efron fit). ``lp`` is the linear predictor at the covariate values the hazard refers to
    (centred covariates: the mean patient).
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=np.int64)
    risk = np.exp(np.asarray(lp, dtype=float))
    order = np.lexsort((e, t))
    t, e, risk = t[order], e[order], risk[order]
    utime, first, inv = np.unique(t, return_index=True, return_inverse=True)
    s0 = np.cumsum(np.bincount(inv, weights=risk, minlength=utime.size)[::-1])[::-1]
    d0 = np.bincount(inv, weights=risk * e, minlength=utime.size)
    d = np.bincount(inv, weights=e, minlength=utime.size)
    ev = np.flatnonzero(e == 1)
    ev = ev[t[ev] <= horizon]
    if ev.size == 0:
        return 0.0
    g = inv[ev]
    # rank of each event row among the tied events of its time (rows are sorted by time)
    start = np.searchsorted(ev, np.searchsorted(t, utime[g], side="left"))
    k = np.arange(ev.size) - start
    frac = k / d[g]
    return float(np.sum(1.0 / (s0[g] - frac * d0[g])))


def _analysed(fit: CoxPH, episodes: pd.DataFrame, duration_col: str, event_col: str,
              terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times, events and centred linear predictors of the rows the fit analysed (in order)."""
    time, event, _w, ok = survival_arrays(episodes, duration_col, event_col, None)
    design = build_design(episodes, list(terms), ok)
    if list(design.names) != list(fit.terms_):
        raise AnalysisError("the case-mix design does not match the fitted model")
    keep = design.complete
    lp = (design.X - fit.means_) @ fit.params_.to_numpy()
    return time[keep], event[keep].astype(np.int64), lp, keep


def expected_probability(time: np.ndarray, event: np.ndarray, lp: np.ndarray,
                         horizon: float) -> np.ndarray:
    """Each episode's model probability of the event by ``horizon`` (``lp`` centred)."""
    h0 = efron_baseline_cumhaz(time, event, lp, horizon)
    return 1.0 - np.exp(-h0 * np.exp(lp))


def overdispersion(z: np.ndarray, se: np.ndarray, winsor: float = 0.10,
                   min_sites: int = 5) -> tuple[float, float]:
    """Spiegelhalter's winsorised ``φ`` and additive ``τ²`` from z-scores and standard errors.

    Returns ``(nan, 0.0)`` with fewer than ``min_sites`` sites; ``τ² = 0`` when ``I φ <= I - 1``.
    """
    z = np.asarray(z, dtype=float)
    se = np.asarray(se, dtype=float)
    ok = np.isfinite(z) & np.isfinite(se) & (se > 0)
    z, se = z[ok], se[ok]
    n = z.size
    if n < max(min_sites, 2):
        return float("nan"), 0.0
    lo, hi = np.quantile(z, [winsor, 1.0 - winsor])
    zw = np.clip(z, lo, hi)
    phi = float(np.mean(zw**2))
    if n * phi <= n - 1:
        return phi, 0.0
    w = 1.0 / se**2
    tau2 = (n * phi - (n - 1)) / (w.sum() - (w**2).sum() / w.sum())
    return phi, float(max(tau2, 0.0))


def funnel_limits(target: float, n: np.ndarray, z: float, tau2: float = 0.0,
                  phi: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits ``target ± z sqrt(phi p(1-p)/n + tau2)``, clipped to [0, 1]."""
    n = np.asarray(n, dtype=float)
    se = np.sqrt(phi * target * (1.0 - target) / n + tau2)
    return np.clip(target - z * se, 0.0, 1.0), np.clip(target + z * se, 0.0, 1.0)


@dataclass(frozen=True)
class SiteComparison:
    """Observed and expected shares by site, their funnel position and the overdispersion."""

    table: pd.DataFrame
    target: float
    horizon: float
    phi: float
    tau2: float
    method: str
    covariates: tuple[str, ...]
    n_model: int
    n_dropped: int

    def limits(self, n: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Funnel limits (95 and 99.8 %) at numbers ``n`` on the plot's x axis."""
        tau2 = self.tau2 if self.method == "additive" else 0.0
        phi = self.phi if self.method == "multiplicative" and np.isfinite(self.phi) else 1.0
        phi = max(phi, 1.0)
        return {k: funnel_limits(self.target, n, z, tau2, phi) for k, z in LIMITS.items()}


def _band(z: float) -> str:
    if not np.isfinite(z):
        return "not_plotted"
    if z > LIMITS["99.8"]:
        return "above_998"
    if z > LIMITS["95"]:
        return "above_95"
    if z < -LIMITS["99.8"]:
        return "below_998"
    if z < -LIMITS["95"]:
        return "below_95"
    return "within"


def compare_sites(
    episodes: pd.DataFrame,
    covariates: Sequence[str],
    horizon: float = 12.0,
    *,
    duration_col: str = "pain_free_weeks",
    event_col: str = "pain_free_event",
    site_col: str = "site",
    method: Method = "additive",
    min_sites: int = 5,
    max_fit_rows: int | None = 200_000,
    seed: int = 20240611,
) -> SiteComparison:
    """Observed against case-mix expected share with the event by ``horizon``, by site.

    Parameters
    ----------
    episodes
        Episodes with derived outcomes (:func:`~rehab_outcomes.contract.derive_outcomes`).
    covariates
        Terms of the case-mix model (the analysis' Cox covariates; ``site`` is left out).
    horizon
        Weeks.
    method
        Overdispersion: ``"additive"`` (random effects, default), ``"multiplicative"`` or
        ``"none"``.
    max_fit_rows
        The model's coefficients are estimated on a seeded random sample of this many episodes
        when there are more (``None``: all); the baseline hazard and every expected share use
        all episodes. With 200,000 episodes the coefficients' standard errors are already far
        below what moves an expected share.

    Returns
    -------
    SiteComparison
        ``table`` has one row per site (sorted by name): ``n`` episodes, ``n_used`` complete
        cases, ``observed`` (KM), ``observed_se`` (Greenwood), ``expected``, ``effective_n``,
        ``adjusted`` (``p0 + O - E``), ``se_null``, ``precision_n`` (x of the funnel),
        ``z``, ``z_adjusted`` (with ``τ²`` or ``φ``) and ``band``.
    """
    if method not in ("additive", "multiplicative", "none"):
        raise AnalysisError(f"method must be additive, multiplicative or none, not {method!r}")
    terms = [c for c in covariates if c != site_col]
    if "arm" not in terms:
        terms.insert(0, "arm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        sample = episodes
        if max_fit_rows is not None and len(episodes) > max_fit_rows:
            pick = np.random.default_rng(seed).choice(len(episodes), max_fit_rows, replace=False)
            sample = episodes.iloc[np.sort(pick)]
        fit = CoxPH().fit(sample, duration_col, event_col, covariates=terms, group_col=None)
        t, e, lp, used = _analysed(fit, episodes, duration_col, event_col, terms)
    p_i = expected_probability(t, e, lp, horizon)
    site = episodes[site_col].astype(str).to_numpy()[used]
    overall = km_arrays(t, e.astype(float), np.ones_like(t))
    p0 = _share_at(overall, horizon)
    rows = []
    all_sites = sorted(episodes[site_col].astype(str).unique(), key=lambda s: (s.casefold(), s))
    n_by_site = episodes[site_col].astype(str).value_counts()
    codes = pd.Categorical(site, categories=all_sites).codes
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(all_sites) + 1))
    for k, name in enumerate(all_sites):
        rows_k = order[bounds[k]:bounds[k + 1]]
        row = {"site": name, "n": int(n_by_site.get(name, 0)), "n_used": int(rows_k.size)}
        if rows_k.size:
            cur = km_arrays(t[rows_k], e[rows_k].astype(float), np.ones(rows_k.size))
            obs = _share_at(cur, horizon)
            var = _greenwood_at(cur, horizon)
            exp_ = float(p_i[rows_k].mean())
        else:
            obs, var, exp_ = np.nan, np.nan, np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            m = obs * (1 - obs) / var if var > 0 else np.nan
            se0 = np.sqrt(exp_ * (1 - exp_) / m) if m > 0 else np.nan
            z = (obs - exp_) / se0 if se0 > 0 else np.nan
            n_star = p0 * (1 - p0) / se0**2 if se0 > 0 else np.nan
        row.update(observed=obs, observed_se=float(np.sqrt(var)) if var >= 0 else np.nan,
                   expected=exp_, effective_n=m, adjusted=float(np.clip(p0 + obs - exp_, 0, 1)),
                   se_null=se0, precision_n=n_star, z=z)
        rows.append(row)
    table = pd.DataFrame(rows)
    phi, tau2 = overdispersion(table["z"].to_numpy(), table["se_null"].to_numpy(),
                               min_sites=min_sites)
    if method == "additive":
        z_adj = (table["observed"] - table["expected"]) / np.sqrt(table["se_null"] ** 2 + tau2)
    elif method == "multiplicative" and np.isfinite(phi):
        z_adj = table["z"] / np.sqrt(max(phi, 1.0))
    else:
        z_adj = table["z"]
    table["z_adjusted"] = z_adj.astype(float)
    table["band"] = [_band(v) for v in table["z_adjusted"]]
    return SiteComparison(table=table[TABLE_COLUMNS], target=p0, horizon=float(horizon),
                          phi=phi, tau2=tau2 if method == "additive" else 0.0, method=method,
                          covariates=tuple(terms), n_model=int(t.size),
                          n_dropped=int(len(episodes) - t.size))


def _index_at(cur: dict[str, np.ndarray], horizon: float) -> int:
    return int(np.searchsorted(cur["time"], horizon, side="right")) - 1


def _share_at(cur: dict[str, np.ndarray], horizon: float) -> float:
    """``1 - S(horizon)`` of a :func:`km_arrays` curve."""
    i = _index_at(cur, horizon)
    return 0.0 if i < 0 else float(1.0 - cur["surv"][i])


def _greenwood_at(cur: dict[str, np.ndarray], horizon: float) -> float:
    """Greenwood variance of ``S(horizon)``."""
    i = _index_at(cur, horizon)
    if i < 0:
        return 0.0
    return float(cur["surv"][i] ** 2 * cur["var_cumhaz"][i])
