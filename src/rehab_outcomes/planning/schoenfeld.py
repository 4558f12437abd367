"""Analytic power of the Cox arm terms (Schoenfeld 1983) from the simulator's truth.

For one arm against the reference, with ``D`` expected events in the two arms together, a share
``p`` of their runners in the compared arm and a true log hazard ratio ``β``, the Wald (or
log-rank) test at two-sided level ``α`` has power

    Φ(|β| · sqrt(D · p · (1 − p)) − z_{1 − α/2}) + Φ(−|β| · sqrt(D · p · (1 − p)) − z_{1 − α/2})

(the second term, rejection in the wrong direction, is negligible except near β = 0, where it
makes the power equal to α).

The expected events come from the simulator's model: for each arm, the probability that the
pain-free time is observed before censoring, averaged over the simulator's fixed calibration
sample of covariates and site frailties
(:func:`~rehab_outcomes.simulation.calibration.calibration_sample`) and over the censoring
distribution in days (loss to follow-up, administrative end, data cut with uniform recruitment).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from rehab_outcomes.contract.schema import ARMS
from rehab_outcomes.planning.trials import TrialModel
from rehab_outcomes.simulation.calibration import calibration_sample, centers, linear_predictor
from rehab_outcomes.simulation.cohort import allocation_logits

if TYPE_CHECKING:
    from rehab_outcomes.simulation.truth import MarginalTruth

_GRID = 2001


def schoenfeld_power(log_hr: np.ndarray | float, events: np.ndarray | float,
                     share: np.ndarray | float = 0.5, alpha: float = 0.05) -> np.ndarray:
    """Schoenfeld's approximate power of a two-sided test of one hazard ratio.

    Examples
    --------
    >>> round(float(schoenfeld_power(np.log(1.5), 191)), 3)
    0.8
    """
    z = stats.norm.ppf(1 - alpha / 2)
    lhr, d, p = (np.asarray(v, dtype=float) for v in (log_hr, events, share))
    shift = np.abs(lhr) * np.sqrt(d * p * (1 - p))
    return stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z)


def schoenfeld_events(log_hr: float, power: float = 0.8, share: float = 0.5,
                      alpha: float = 0.05) -> float:
    """Events needed for ``power`` (the inverse of :func:`schoenfeld_power`).

    Examples
    --------
    >>> round(schoenfeld_events(np.log(1.5)))
    191
    """
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return z**2 / (log_hr**2 * share * (1 - share))


def censoring_pmf(model: TrialModel) -> np.ndarray:
    """``P(C = c)`` for ``c = 0 .. admin_days``: the censoring day of a trial runner."""
    c = np.arange(model.admin_days + 2, dtype=float)
    surv = np.exp(-model.lost_rate * c / 7.0)  # P(floor(7 · dropout weeks) >= c)
    if model.cut_day is not None:  # first visit uniform over the recruitment window
        surv *= np.clip((model.cut_day - c + 1) / model.recruitment_days, 0.0, 1.0)
    surv[c > model.admin_days] = 0.0
    return surv[:-1] - surv[1:]


@dataclass(frozen=True)
class ExpectedEvents:
    """Expected allocation share and event probability of each arm (order of ``ARMS``).

    ``share[j]`` is the expected share of runners in arm ``j``; ``event_probability[j]`` is the
    probability that a runner of arm ``j`` is observed pain-free.
    """

    share: np.ndarray
    event_probability: np.ndarray

    def events(self, n_per_arm: int) -> np.ndarray:
        """Expected events per arm in a trial of ``3 × n_per_arm`` runners."""
        return len(ARMS) * n_per_arm * self.share * self.event_probability


@functools.lru_cache(maxsize=16)
def expected_events(model: TrialModel) -> ExpectedEvents:
    """Allocation shares and event probabilities of each arm under the simulator's truth (cached)."""
    p = model.params
    cols, log_zp, _ = calibration_sample(p)
    eta0 = linear_predictor(cols, p.pain_free.effects) + log_zp  # rest-only linear predictor
    beta = p.pain_free.effects.as_terms()
    arm_lhr = np.array([0.0, beta["arm:stretching_only"], beta["arm:strength_graded_running"]])
    pmf = censoring_pmf(model)
    h0 = model.rate * (np.arange(pmf.size) / 7.0) ** model.shape  # H0 at each censoring day
    nz = pmf > 0
    h0, pmf = h0[nz], pmf[nz]
    n = eta0.size
    if model.design == "randomised":
        weights = np.full((n, len(ARMS)), 1.0 / len(ARMS))
    else:
        ctr = centers(p.cohort)
        cov = SimpleNamespace(
            weekly_km=cols["weekly_km_before_injury"] + ctr["weekly_km_before_injury"],
            symptom_weeks=cols["symptom_weeks"] + ctr["symptom_weeks"],
            baseline_pain=cols["baseline_pain_nrs"] + ctr["baseline_pain_nrs"],
        )
        logits = allocation_logits(cov, p.allocation, p)  # type: ignore[arg-type]
        prob = np.exp(logits - logits.max(axis=1, keepdims=True))
        weights = prob / prob.sum(axis=1, keepdims=True)
    share = weights.mean(axis=0)
    # P(T <= C | eta) = sum_c P(C = c) F(c / 7 | eta) is smooth in eta: tabulate it on a fine
    # grid and interpolate (error below 1e-6).
    lo, hi = eta0.min() + arm_lhr.min() - 0.01, eta0.max() + arm_lhr.max() + 0.01
    grid = np.linspace(lo, hi, _GRID)
    table = (-np.expm1(-np.exp(grid)[:, None] * h0[None, :])) @ pmf
    prob_event = np.empty(len(ARMS))
    for j, lhr in enumerate(arm_lhr):
        observed = np.interp(eta0 + lhr, grid, table)
        prob_event[j] = float(weights[:, j] @ observed / weights[:, j].sum())
    return ExpectedEvents(share, prob_event)


def _marginal(model: TrialModel) -> MarginalTruth:
    from rehab_outcomes.simulation.truth import marginal_truth

    # randomised trials have exactly n runners per arm; observational ones the allocation model
    return marginal_truth(model.params, "equal" if model.design == "randomised" else "observational")


def marginal_log_hr(model: TrialModel) -> np.ndarray:
    """Log hazard ratios of the arm-only Cox model in large trials (stretching, strength).

    The arm-only model estimates a *marginal* hazard ratio, smaller in size than the simulator's
    conditional one (covariates and site frailty are left out); the hazards of the arms are then
    not proportional, so it is defined as the large-sample limit of the arm-only fit under the
    trial's censoring: the simulator's ``under_follow_up`` marginal truth of the pain-free time
    (:func:`rehab_outcomes.simulation.truth.marginal_truth`), with the trials' arm shares (equal
    thirds; the allocation model in the observational design, where it carries the confounding
    bias), pooled over 8 fixed Monte Carlo samples of 100,000 runners under every arm. Its Monte
    Carlo standard error is :func:`marginal_log_hr_mc_se`. Cached per model.

    Examples
    --------
    >>> from rehab_outcomes.planning.trials import trial_model
    >>> from rehab_outcomes.simulation import load_params
    >>> [round(float(v), 3) for v in marginal_log_hr(trial_model(load_params("default")))]
    [0.043, 0.358]
    """
    return _marginal(model).log_hr("under_follow_up", "pain_free")


def marginal_log_hr_mc_se(model: TrialModel) -> np.ndarray:
    """Monte Carlo standard errors of :func:`marginal_log_hr` (stretching, strength)."""
    return _marginal(model).mc_se("under_follow_up", "pain_free")


def true_log_hr(model: TrialModel) -> np.ndarray:
    """The simulator's conditional log hazard ratios of the arm terms (stretching, strength)."""
    beta = model.params.pain_free.effects.as_terms()
    return np.array([beta["arm:stretching_only"], beta["arm:strength_graded_running"]])


__all__ = [
    "ExpectedEvents",
    "censoring_pmf",
    "expected_events",
    "marginal_log_hr",
    "marginal_log_hr_mc_se",
    "schoenfeld_events",
    "schoenfeld_power",
    "true_log_hr",
]
