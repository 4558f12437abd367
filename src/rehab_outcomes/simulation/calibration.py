"""Covariates, linear predictors, site frailties and the calibration of the Weibull baselines.

The baselines are calibrated to *marginal* rest-only figures: the share not pain-free by 52
weeks, the median among those pain-free by then, and re-injury by 6 and 12 months. The margin is
taken over the covariate and frailty distribution with a fixed internal sample
(:data:`CALIBRATION_SEED`, :data:`CALIBRATION_N`), so calibration is deterministic.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from rehab_outcomes.contract.schema import ARMS, SEXES
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.simulation.params import (
    TERMS,
    WEEKS_6_MONTHS,
    WEEKS_12_MONTHS,
    CohortParams,
    Effects,
    SimulationParams,
    SiteParams,
)

CALIBRATION_SEED = 20_220_103
CALIBRATION_N = 24_000
#: Fixed seed of the order in which sites receive the balanced frailty quantiles.
FRAILTY_ORDER_SEED = 4_711


@dataclass(frozen=True)
class Covariates:
    """Baseline covariates as recorded (rounded), plus the true BMI behind missing values."""

    age_years: np.ndarray  # int64
    sex: np.ndarray  # int8 codes into SEXES
    bmi: np.ndarray  # float, NaN where missing
    bmi_true: np.ndarray
    weekly_km: np.ndarray
    symptom_weeks: np.ndarray
    baseline_pain: np.ndarray  # int64
    kujala: np.ndarray  # float, NaN where missing
    diagnosis: np.ndarray  # int8 codes into DIAGNOSES


def draw_covariates(rng: np.random.Generator, n: int, c: CohortParams) -> Covariates:
    """Draw ``n`` patients' baseline covariates (vectorised)."""
    age = np.clip(np.rint(rng.normal(c.age_mean, c.age_sd, n)), c.age_min, c.age_max).astype(np.int64)
    sex = draw_categorical(rng, n, c.sex_shares)
    bmi_true = np.round(np.clip(rng.normal(c.bmi_mean, c.bmi_sd, n), c.bmi_min, c.bmi_max), 1)
    bmi = np.where(rng.random(n) < c.bmi_missing, np.nan, bmi_true)
    km = rng.lognormal(math.log(c.weekly_km_median), c.weekly_km_sigma, n)
    km = np.round(np.clip(km, c.weekly_km_min, c.weekly_km_max), 1)
    sym = rng.lognormal(math.log(c.symptom_weeks_median), c.symptom_weeks_sigma, n)
    sym = np.clip(np.rint(sym), c.symptom_weeks_min, c.symptom_weeks_max)
    pain = np.clip(np.rint(rng.normal(c.pain_mean, c.pain_sd, n)), c.pain_min, c.pain_max).astype(np.int64)
    kuj = c.kujala_mean - c.kujala_per_pain_point * (pain - c.pain_mean) + rng.normal(0, c.kujala_sd, n)
    kuj = np.clip(np.rint(kuj), 0, 100)
    kuj = np.where(rng.random(n) < c.kujala_missing, np.nan, kuj)
    diagnosis = draw_categorical(rng, n, c.diagnosis_shares)
    return Covariates(age, sex, bmi, bmi_true, km, sym, pain, kuj, diagnosis)


def draw_categorical(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    cum = np.cumsum(np.asarray(shares, dtype=float))
    cum[-1] = 1.0 + 1e-12
    return np.searchsorted(cum, rng.random(n), side="right").astype(np.int8)


def centers(c: CohortParams) -> dict[str, float]:
    """Values at which the continuous terms are centred in the linear predictor."""
    return {
        "age_years": c.age_mean,
        "bmi": c.bmi_mean,
        "weekly_km_before_injury": c.weekly_km_median,
        "symptom_weeks": c.symptom_weeks_median,
        "baseline_pain_nrs": c.pain_mean,
    }


def design_columns(cov: Covariates, arm: np.ndarray, c: CohortParams) -> dict[str, np.ndarray]:
    """The Cox design columns (centred continuous terms, dummies), keyed by term name."""
    ctr = centers(c)
    return {
        "arm:stretching_only": (arm == ARMS.index("stretching_only")).astype(float),
        "arm:strength_graded_running": (arm == ARMS.index("strength_graded_running")).astype(float),
        "age_years": cov.age_years - ctr["age_years"],
        "sex:male": (cov.sex == SEXES.index("male")).astype(float),
        "sex:other": (cov.sex == SEXES.index("other")).astype(float),
        "bmi": cov.bmi_true - ctr["bmi"],
        "weekly_km_before_injury": cov.weekly_km - ctr["weekly_km_before_injury"],
        "symptom_weeks": cov.symptom_weeks - ctr["symptom_weeks"],
        "baseline_pain_nrs": cov.baseline_pain - ctr["baseline_pain_nrs"],
    }


def linear_predictor(cols: dict[str, np.ndarray], effects: Effects) -> np.ndarray:
    """Sum of log hazard ratio × design column over the Cox terms."""
    beta = effects.as_terms()
    out = np.zeros(len(next(iter(cols.values()))))
    for term, _ in TERMS:
        if beta[term] != 0.0:
            out += beta[term] * cols[term]
    return out


# ----------------------------------------------------------------------------------------------
# frailty


def frailty_quantiles(q: np.ndarray, distribution: str, variance: float) -> np.ndarray:
    """Quantiles of a mean-1 frailty with the given variance (1 everywhere if variance is 0)."""
    q = np.asarray(q, dtype=float)
    if variance == 0:
        return np.ones_like(q)
    if distribution == "gamma":
        return stats.gamma.ppf(q, a=1.0 / variance, scale=variance)
    sigma2 = math.log1p(variance)
    return np.exp(-sigma2 / 2 + math.sqrt(sigma2) * stats.norm.ppf(q))


def balanced_site_frailties(s: SiteParams) -> tuple[np.ndarray, np.ndarray]:
    """Fixed site frailties (pain-free, re-injury): quantiles (i + 0.5)/K in a fixed order."""
    k = len(s.names)
    order = np.random.default_rng(FRAILTY_ORDER_SEED).permuted(np.tile(np.arange(k), (2, 1)), axis=1)
    q = (order + 0.5) / k
    return (frailty_quantiles(q[0], s.frailty_distribution, s.pain_free_frailty_variance),
            frailty_quantiles(q[1], s.frailty_distribution, s.reinjury_frailty_variance))


def draw_site_frailties(rng: np.random.Generator, s: SiteParams) -> tuple[np.ndarray, np.ndarray]:
    """Site frailties of one cohort: balanced quantiles, or fresh draws in ``random`` mode."""
    if s.frailty_mode == "balanced":
        return balanced_site_frailties(s)
    u = rng.random((2, len(s.names)))
    return (frailty_quantiles(u[0], s.frailty_distribution, s.pain_free_frailty_variance),
            frailty_quantiles(u[1], s.frailty_distribution, s.reinjury_frailty_variance))


# ----------------------------------------------------------------------------------------------
# calibration


@dataclass(frozen=True)
class Weibull:
    """Baseline cumulative hazard ``H0(t) = (t / scale) ** shape`` (weeks; frailty 1, centred
    covariates, female, rest only)."""

    shape: float
    scale: float

    @property
    def rate(self) -> float:
        """``a`` in ``H0(t) = a * t ** shape``."""
        return self.scale ** (-self.shape)


@dataclass(frozen=True)
class Calibration:
    """Calibrated baselines and the marginal rest-only figures they reproduce."""

    pain_free: Weibull
    reinjury: Weibull
    achieved: dict[str, float]


def _solve(eta: np.ndarray, w: np.ndarray, t_early: float, p_early: float, t_late: float,
           p_late: float, shape: float | None, what: str) -> Weibull:
    """Weibull (shape, scale) with weighted mean F(t_late) = p_late and F(t_early) = p_early."""
    w = w / w.sum()
    e = np.exp(eta)

    def cdf(log_a: float, k: float, t: float) -> float:
        return float(1.0 - w @ np.exp(-np.exp(log_a) * t**k * e))

    def log_a_for(k: float) -> float:
        # start from the homogeneous solution; widen the bracket until it holds the root
        guess = math.log(-math.log1p(-p_late) / float(w @ (t_late**k * e)))
        lo, hi = guess - 1.0, guess + 6.0
        while cdf(lo, k, t_late) > p_late:
            lo -= 5.0
        while cdf(hi, k, t_late) < p_late:
            hi += 5.0
        return optimize.brentq(lambda la: cdf(la, k, t_late) - p_late, lo, hi, xtol=1e-11)

    if shape is None:
        def gap(k: float) -> float:
            return cdf(log_a_for(k), k, t_early) - p_early
        lo, hi = 0.15, 4.0
        if gap(lo) * gap(hi) > 0:
            raise ConfigError(f"{what}: calibration targets cannot be met by a Weibull baseline")
        shape = optimize.brentq(gap, lo, hi, xtol=1e-9)
    log_a = log_a_for(shape)
    return Weibull(shape=float(shape), scale=float(math.exp(-log_a / shape)))


def calibration_sample(params: SimulationParams) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Fixed sample for calibration: rest-only design columns and log frailties of both outcomes."""
    rng = np.random.default_rng(CALIBRATION_SEED)
    n = CALIBRATION_N
    cov = draw_covariates(rng, n, params.cohort)
    cols = design_columns(cov, np.zeros(n, dtype=np.int8), params.cohort)
    s = params.sites
    grid = (np.arange(n) + 0.5) / n
    if s.frailty_mode == "balanced":
        site = np.searchsorted(np.cumsum(s.shares), grid, side="right").clip(max=len(s.names) - 1)
        site = rng.permutation(site)
        fp, fr = balanced_site_frailties(s)
        zp, zr = fp[site], fr[site]
    else:
        zp = rng.permutation(frailty_quantiles(grid, s.frailty_distribution, s.pain_free_frailty_variance))
        zr = rng.permutation(frailty_quantiles(grid, s.frailty_distribution, s.reinjury_frailty_variance))
    return cols, np.log(zp), np.log(zr)


@functools.lru_cache(maxsize=32)
def calibrate(params: SimulationParams) -> Calibration:
    """Calibrate both Weibull baselines to the rest-only targets (deterministic, cached).

    Pain-free: marginal share not pain-free by 52 weeks and median among those pain-free by 52
    weeks. Re-injury: marginal share re-injured by 6 and 12 months after the pain-free date,
    among rest-only patients pain-free within 52 weeks (weighting by that probability).
    """
    cols, log_zp, log_zr = calibration_sample(params)
    pf, re = params.pain_free, params.reinjury
    eta_p = linear_predictor(cols, pf.effects) + log_zp
    p_late = 1.0 - pf.target_not_pain_free_52w
    wb_p = _solve(eta_p, np.ones_like(eta_p), pf.target_median_recovered_weeks, 0.5 * p_late,
                  52.0, p_late, pf.shape, "pain_free")
    weight = 1.0 - np.exp(-wb_p.rate * 52.0**wb_p.shape * np.exp(eta_p))
    eta_r = linear_predictor(cols, re.effects) + log_zr
    wb_r = _solve(eta_r, weight, WEEKS_6_MONTHS, re.target_6_months, WEEKS_12_MONTHS,
                  re.target_12_months, re.shape, "reinjury")
    wn = weight / weight.sum()

    def surv(wb: Weibull, eta: np.ndarray, t: float) -> np.ndarray:
        return np.exp(-wb.rate * t**wb.shape * np.exp(eta))

    achieved = {
        "pain_free_not_by_52w": float(surv(wb_p, eta_p, 52.0).mean()),
        "pain_free_by_median_target_share_of_recovered": float(
            (1 - surv(wb_p, eta_p, pf.target_median_recovered_weeks).mean()) / p_late),
        "reinjury_by_6_months": float(1 - wn @ surv(wb_r, eta_r, WEEKS_6_MONTHS)),
        "reinjury_by_12_months": float(1 - wn @ surv(wb_r, eta_r, WEEKS_12_MONTHS)),
    }
    return Calibration(wb_p, wb_r, achieved)


__all__ = [
    "Calibration",
    "Covariates",
    "Weibull",
    "calibrate",
    "design_columns",
    "draw_covariates",
    "linear_predictor",
]


def per_unit_log_hr(hr: float, x: np.ndarray, in_group: np.ndarray) -> float:
    """Per-unit log hazard ratio equivalent to a binary effect.

    A binary effect (e.g. "symptoms > 4 months: HR 0.70") is carried by a linear term in ``x``
    whose log hazard ratio between the group means equals ``log(hr)``:
    ``log(hr) / (mean(x | in group) - mean(x | not in group))``.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0, 4.0])
    >>> round(per_unit_log_hr(0.5, x, x > 2), 4)
    -0.3466
    """
    x = np.asarray(x, dtype=float)
    g = np.asarray(in_group, dtype=bool)
    return math.log(hr) / float(x[g].mean() - x[~g].mean())
