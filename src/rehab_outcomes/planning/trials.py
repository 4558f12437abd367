"""Many simulated trials at once: arm, time to pain-free running and its event indicator.

A *trial* is a simulator cohort of ``3 × n_per_arm`` runners reduced to what a test of the
primary outcome needs, generated with the simulator's own functions and parameters:

- covariates as the simulator draws them (:func:`~rehab_outcomes.simulation.calibration.draw_covariates`)
  and a site drawn with the site shares; site frailties as the simulator's (balanced quantiles,
  or in ``random`` mode fresh draws per trial);
- arm: ``randomised``, exactly ``n_per_arm`` runners in each arm; ``observational``, each of the
  ``3 × n_per_arm`` runners gets an arm from the simulator's allocation model
  (:func:`~rehab_outcomes.simulation.cohort.allocate`), so arm sizes vary;
- pain-free time: Weibull proportional hazards with the calibrated baseline
  (:func:`~rehab_outcomes.simulation.calibration.calibrate`) and the linear predictor of all the
  simulator's terms (arm, age, sex, BMI, weekly km, symptom weeks, baseline pain) plus the log
  site frailty (:func:`~rehab_outcomes.simulation.calibration.linear_predictor`);
- censoring as the simulator's: exponential loss to follow-up, administrative end and the data
  cut, with the first visit uniform over the recruitment window; times in whole days, as
  ``derive_outcomes`` computes ``pain_free_weeks`` (days / 7) and ``pain_free_event``.

Random numbers come in fixed blocks of :data:`TRIAL_BLOCK` trials; block ``b`` of a run uses the
stream ``SeedSequence([seed, key(scenario), n_per_arm, b])``, so any trial is the same however the
work is split.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from rehab_outcomes.contract.schema import ARMS
from rehab_outcomes.simulation.calibration import (
    balanced_site_frailties,
    calibrate,
    design_columns,
    draw_categorical,
    draw_covariates,
    frailty_quantiles,
    linear_predictor,
)
from rehab_outcomes.simulation.cohort import (
    allocate,
    days_after,
    dropout_times,
    lost_rate,
    weibull_times,
)
from rehab_outcomes.simulation.params import SimulationParams

#: Trials per random-number block (chunk boundaries are aligned to blocks).
TRIAL_BLOCK = 100
_MAX_DAYS = 10_000_000


@dataclass(frozen=True)
class TrialModel:
    """What generates a trial: simulator parameters, design and the derived constants.

    Attributes
    ----------
    params, design
        Simulator parameters and ``randomised`` or ``observational``.
    rate, shape
        Calibrated Weibull baseline of the pain-free time, ``H0(t) = rate · t ** shape``.
    lost_rate
        Weekly rate of loss to follow-up.
    admin_days
        Administrative end of follow-up, days after the first visit.
    cut_day
        Data cut, days after the start of recruitment (``None``: no cut).
    recruitment_days
        Length of the recruitment window in days.
    """

    params: SimulationParams
    design: str
    rate: float
    shape: float
    lost_rate: float
    admin_days: int
    cut_day: int | None
    recruitment_days: int


def trial_model(params: SimulationParams, design: str = "randomised") -> TrialModel:
    """Build the trial generator of a parameter set (calibrates the baseline, cached)."""
    if design not in ("randomised", "observational"):
        raise ValueError(f"unknown design {design!r}")
    cal = calibrate(params)
    fu = params.follow_up
    cut = None
    if fu.data_cut is not None:
        cut = int((np.datetime64(fu.data_cut, "D") - np.datetime64(fu.recruitment_start, "D"))
                  .astype(np.int64))
    return TrialModel(
        params=params,
        design=design,
        rate=cal.pain_free.rate,
        shape=cal.pain_free.shape,
        lost_rate=lost_rate(fu),
        admin_days=7 * fu.admin_end_weeks,
        cut_day=cut,
        recruitment_days=7 * fu.recruitment_weeks,
    )


def stream_key(scenario: str) -> int:
    """Stable 32-bit key of a scenario name for the random streams."""
    return zlib.crc32(scenario.encode("utf-8"))


def block_rng(seed: int, scenario: str, n_per_arm: int, block: int) -> np.random.Generator:
    """The random stream of one block of trials."""
    ss = np.random.SeedSequence([int(seed), stream_key(scenario), int(n_per_arm), int(block)])
    return np.random.Generator(np.random.PCG64(ss))


@dataclass(frozen=True)
class Trials:
    """Simulated trials, arrays ``trials × runners``.

    Attributes
    ----------
    arm
        Arm codes into ``ARMS`` (0 = rest_only).
    days
        Follow-up in whole days from the first visit (pain-free date or last contact).
    event
        1 when pain-free running was reached during follow-up.
    """

    arm: np.ndarray
    days: np.ndarray
    event: np.ndarray

    @property
    def weeks(self) -> np.ndarray:
        """``pain_free_weeks`` as the analysis computes it (days / 7)."""
        return self.days / 7.0

    @staticmethod
    def concat(parts: list[Trials]) -> Trials:
        """Trials of several blocks stacked (all with the same number of runners)."""
        return Trials(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("arm", "days", "event")))


def simulate_trials(model: TrialModel, rng: np.random.Generator, n_trials: int,
                    n_per_arm: int) -> Trials:
    """Simulate ``n_trials`` trials of ``3 × n_per_arm`` runners with one random stream.

    Examples
    --------
    >>> from rehab_outcomes.simulation import load_params
    >>> tr = simulate_trials(trial_model(load_params()), np.random.default_rng(1), 4, 10)
    >>> tr.arm.shape, int(tr.arm[0].sum())
    ((4, 30), 30)
    """
    p = model.params
    n = len(ARMS) * n_per_arm
    size = n_trials * n
    cov = draw_covariates(rng, size, p.cohort)
    site = draw_categorical(rng, size, p.sites.shares).reshape(n_trials, n)
    s = p.sites
    if s.frailty_mode == "balanced":
        frail = np.broadcast_to(balanced_site_frailties(s)[0], (n_trials, len(s.names)))
    else:
        u = rng.random((n_trials, len(s.names)))
        frail = frailty_quantiles(u, s.frailty_distribution, s.pain_free_frailty_variance)
    if model.design == "randomised":
        arm = np.repeat(np.arange(len(ARMS), dtype=np.int8), n_per_arm)
        arm = np.broadcast_to(arm, (n_trials, n)).ravel()
    else:
        arm = allocate(rng, cov, "observational", p)
    lp = linear_predictor(design_columns(cov, arm, p.cohort), p.pain_free.effects)
    eta = lp + np.log(np.take_along_axis(frail, site.astype(np.intp), axis=1)).ravel()
    d_pf = days_after(weibull_times(rng, model.rate, model.shape, eta))
    _, d_drop = dropout_times(rng, size, model.lost_rate)
    first_day = rng.integers(0, model.recruitment_days, size)
    censor = np.minimum(d_drop, model.admin_days)
    if model.cut_day is not None:
        censor = np.minimum(censor, model.cut_day - first_day)
    event = d_pf <= censor
    days = np.where(event, d_pf, censor)
    shape = (n_trials, n)
    return Trials(arm.reshape(shape).astype(np.int8), days.reshape(shape),
                  event.reshape(shape).astype(np.int8))


def simulate_blocks(model: TrialModel, seed: int, scenario: str, n_per_arm: int,
                    blocks: range, n_trials: int) -> Trials:
    """Trials of the given blocks of a run of ``n_trials`` trials (the last block may be short)."""
    parts = []
    for b in blocks:
        size = min(TRIAL_BLOCK, n_trials - b * TRIAL_BLOCK)
        if size > 0:
            parts.append(simulate_trials(model, block_rng(seed, scenario, n_per_arm, b), size,
                                         n_per_arm))
    return Trials.concat(parts)
