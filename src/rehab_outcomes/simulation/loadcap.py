"""A mechanistic load–capacity simulator of the return to running (``simulate --model load-capacity``).

A daily model per runner, vectorised across runners: every state is an array of shape
``(n_runners,)`` updated day by day for :data:`N_DAYS` days (104 weeks).

- **strength** ``S`` rises by a share of its remaining headroom at each strength session
  (diminishing returns) and decays after four weeks without one (detraining);
- **tissue conditioning** ``R`` relaxes (time constant ~10 weeks) towards a level set by the
  tolerated running of the past four weeks (a deconditioned level without running);
- **capacity** ``C = C0 · (1 + S) · (1 + R)`` in load units (minutes of running at the runner's
  usual pace and cadence);
- **load** of a session ``L = intensity · cadence factor · run minutes + walk weight · walk minutes``;
  higher cadence lowers the load per minute;
- **irritability** ``I`` rises by ``k · max(0, L/C − 1)^1.5`` on an overloaded day and decays
  (time constant 2 days); a slow **sensitisation** ``D`` (starting at the baseline pain) heals
  at a per-runner rate and takes up part of the irritability (repeated overload keeps it up);
- **pain** during a run, in the morning and the next morning follow from ``D + I`` and the
  relative load, with noise, rounded to the 0–10 NRS.

Policies (:class:`Policy`) decide what each runner does each day; every parameter is in
:class:`LoadCapParams` with its source or the word "assumption". The model's structure is an
assumption: no published computational load–capacity model of patellofemoral pain with
parameter values exists (``docs/load-capacity.md``).

Random numbers are drawn for every runner every day in a fixed order whatever the policy, so
re-simulating the same runners under another policy uses common random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Annotated

import numpy as np
import pydantic

from rehab_outcomes.contract.schema import ARMS
from rehab_outcomes.simulation.calibration import Covariates, draw_covariates
from rehab_outcomes.simulation.params import (
    PARAMS_CONFIG,
    CohortParams,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
)

#: Days simulated: 104 weeks (the administrative end of follow-up).
N_DAYS = 728
#: Stages of the walk–run programme: (run minutes per repeat, walk minutes per repeat, repeats).
#: Stage 0 is "1 min run / 2 min walk × 8" (clinical-defaults.md); each later stage is harder;
#: from the 30-minute continuous stage on, each step adds 10 % (assumption) up to the runner's
#: earlier session length.
WALK_RUN_STAGES: tuple[tuple[float, float, int], ...] = (
    (1, 2, 8), (2, 2, 6), (3, 2, 5), (5, 2, 4), (8, 2, 3), (10, 2, 3), (15, 1, 2),
    (20, 0, 1), (25, 0, 1), (30, 0, 1),
)
_N_CONT_EXTRA = 16  # continuous stages after 30 min: 30 · 1.1^k, k = 1..16 (≈ 138 min)


#: Ranges of the fields of :class:`LoadCapParams` checked when a parameter file sets them.
#: Conditioning below −1 would make the capacity ``C0 · (1 + S) · (1 + R)`` negative.
TissueLevel = Annotated[float, pydantic.Field(gt=-1)]
RunsPerWeek = Annotated[int, pydantic.Field(ge=1, le=7)]
PainNRS = Annotated[int, pydantic.Field(ge=1, le=10)]
#: Strength sessions per week: a row of :data:`STRENGTH_DAYS`.
StrengthDose = Annotated[int, pydantic.Field(ge=0, le=3)]


def _stage_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    run = [r * k for r, _, k in WALK_RUN_STAGES] + [30.0 * 1.1 ** k for k in range(1, _N_CONT_EXTRA + 1)]
    walk = [w * k for _, w, k in WALK_RUN_STAGES] + [0.0] * _N_CONT_EXTRA
    cont = [k == 1 and w == 0 for _, w, k in WALK_RUN_STAGES] + [True] * _N_CONT_EXTRA
    return np.asarray(run, float), np.asarray(walk, float), np.asarray(cont, bool)


STAGE_RUN, STAGE_WALK, STAGE_CONTINUOUS = _stage_tables()
#: Index of the first stage of 30 minutes continuous running.
STAGE_30 = len(WALK_RUN_STAGES) - 1
#: Days of the week with a run (a rest day between runs) and with strength sessions (by dose).
RUN_DAYS = np.array([True, False, True, False, True, False, False])
STRENGTH_DAYS = np.array([
    [False] * 7,
    [False, True, False, False, False, False, False],
    [False, True, False, False, False, True, False],
    [False, True, False, True, False, True, False],
])


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class LoadCapParams:
    """Every parameter of the load–capacity model, with its source (``docs/load-capacity.md``).

    Fields marked *calibrated* are fitted by
    :func:`rehab_outcomes.simulation.loadcap_truth.calibrate_loadcap` to the targets of
    ``clinical-defaults.md``; their defaults are the fitted values.
    """

    # --- strength (muscle) ---
    #: Maximum strength gain (+30 %, range +20 to +40 %): Seynnes 2007; Dolak 2011 (assumption
    #: per load-capacity.md). *Calibrated* within that range to the strength arm's HR 1.5: the
    #: fit lands on the lower bound +20 %.
    strength_gain_max: NonNegativeFloat = 0.20
    #: Share of the remaining headroom gained per session: with 2–3 sessions/week the time
    #: constant is ~3 weeks (Seynnes 2007 +39 % in 35 days at 3×/week; inferred).
    strength_gain_per_session: Probability = 0.125
    #: Strength kept this many days without sessions, then decays (Mujika & Padilla 2001; assumption).
    detraining_delay_days: NonNegativeInt = 28
    #: Detraining time constant, days (~10 weeks; Mujika & Padilla 2001, Bosquet 2013; assumption).
    detraining_tau_days: PositiveFloat = 70.0
    # --- tissue conditioning from running ---
    #: Tissue capacity time constant, days (~10 weeks; Bohm 2015, Kjaer 2009; inferred).
    tissue_tau_days: PositiveFloat = 70.0
    #: Conditioning level without running (−20 % capacity; assumption).
    tissue_rest_level: TissueLevel = -0.20
    #: Conditioning per unit of tolerated load (4-week average, relative to C0; assumption).
    tissue_gain: NonNegativeFloat = 0.60
    #: Averaging time of the tolerated load, days (chronic 28-day window; assumption).
    tolerated_tau_days: PositiveFloat = 28.0
    # --- capacity at the first visit ---
    #: log of the median ratio of capacity to the runner's earlier session load (runners whose
    #: capacity is below their earlier load do not recover by rest; assumption). *Calibrated* to 35 % of rest-only
    #: patients never pain-free by 52 weeks (Collins 2013, clinical-defaults.md).
    capacity_ratio_log_mean: float = 0.0314
    #: SD of that log ratio between runners (assumption).
    capacity_ratio_log_sd: NonNegativeFloat = 0.25
    #: Running pace: minutes per km, to turn weekly km into session minutes (assumption).
    minutes_per_km: PositiveFloat = 5.5
    #: Runs per week before the injury (assumption).
    runs_per_week_before: RunsPerWeek = 3
    #: SD of log running intensity between runners (assumption).
    intensity_log_sd: NonNegativeFloat = 0.10
    #: Load of a minute of walking relative to a minute of running (assumption).
    walk_weight: NonNegativeFloat = 0.20
    #: Load per minute per +5 % cadence: −4 % per distance (Willson 2014; inferred, range −2 to −7 %).
    cadence_load_per_5pct: float = -0.04
    #: Usual cadence, steps/min: mean and SD (assumption).
    cadence_mean: PositiveFloat = 166.0
    cadence_sd: NonNegativeFloat = 8.0
    # --- irritability, sensitisation, pain ---
    #: Irritability decay time constant, days (~2 days, Magnusson 2010 by analogy; assumption).
    irritability_tau_days: PositiveFloat = 2.0
    #: Irritability per unit of excess load^exponent (assumption).
    irritability_gain: NonNegativeFloat = 4.0
    #: Damage grows faster than load (Edwards 2018: k > 1; exponent not found: assumption).
    overload_exponent: PositiveFloat = 1.5
    #: Median daily healing rate of sensitisation (per day). *Calibrated* to the rest-only
    #: median of ≈ 10 weeks among those pain-free by 52 weeks (clinical-defaults.md).
    healing_rate: NonNegativeFloat = 0.02332
    #: SD of the log healing rate between runners (assumption).
    healing_log_sd: NonNegativeFloat = 0.6
    #: Healing multiplier with symptoms > 4 months (sign and size from the recovery HR 0.70 of
    #: clinical-defaults.md; assumption that it acts on healing).
    healing_long_symptoms: NonNegativeFloat = 0.70
    #: Healing multiplier with Kujala ≤ 70 (from the recovery HR 0.75; assumption).
    healing_low_kujala: NonNegativeFloat = 0.75
    #: Share of irritability taken up by sensitisation per day (assumption).
    consolidation: Probability = 0.03
    #: Pain at rest per unit of D + I (assumption).
    pain_rest_weight: NonNegativeFloat = 0.6
    #: Extra running pain per unit of D + I and relative load (capped at 2; assumption).
    pain_run_weight: NonNegativeFloat = 0.4
    #: Running pain per unit of excess relative load (assumption).
    pain_overload_weight: NonNegativeFloat = 6.0
    #: SD of the noise of each pain rating before rounding (assumption).
    pain_noise_sd: NonNegativeFloat = 0.8
    #: Stretching: multiplier of the healing rate (stretching alone shows little benefit; no
    #: capacity gain). *Calibrated* to the stretching arm's HR 1.05 (clinical-defaults.md).
    stretching_healing: NonNegativeFloat = 1.128
    # --- sessions ---
    #: A scheduled run or strength session is skipped with this probability (assumption).
    skip_probability: Probability = 0.15
    #: Continuous runs overshoot the plan by |N(0, sd)| of it (assumption).
    run_overshoot_sd: NonNegativeFloat = 0.08
    #: A continuous run is a spike (longer) with this probability (assumption: about one run
    #: in a hundred is much longer than planned).
    spike_probability: Probability = 0.01
    #: A spike is this much longer (> 10 % longer than the longest run: BJSM 2025; size assumption).
    spike_factor: PositiveFloat = 1.5
    #: A run brings an acute tissue event (a misstep, a steep descent, a fall: load that the
    #: capacity model does not see) with this probability, whatever the runner's capacity.
    #: Assumption; *calibrated* to rest-only re-injury 50 % by 12 months.
    event_probability: Probability = 0.00456
    #: Irritability added by such an event (assumption: enough for a flare on that run).
    event_irritability: NonNegativeFloat = 6.0
    #: Pain-free running: this many run sessions in a row, each of at least 30 minutes of
    #: continuous running with pain during ≤ 2/10 (assumption: three in a row, about a week,
    #: so that a runner whose pain hovers around the threshold is not counted by luck).
    pain_free_sessions: PositiveInt = 3
    #: Pain during a run at or above this is a flare: above the 5/10 that the pain-monitoring
    #: model accepts (Silbernagel 2007; assumption).
    flare_pain: PainNRS = 6
    #: Graded programme: sessions at a stage before a step up (2; Trials 2023 army protocol).
    sessions_per_stage: PositiveInt = 2
    #: Days without running after a flare: graded (step back and skip a run) / ungraded (assumption).
    flare_pause_graded: NonNegativeInt = 2
    flare_pause_ungraded: NonNegativeInt = 7
    #: Strength sessions per week kept after 12 weeks past the pain-free date (maintenance; assumption).
    maintenance_strength_per_week: StrengthDose = 1
    # --- adherence: stepping up against the rule ---
    #: Log-odds of a rule break at a step-up decision the rule forbids (assumption).
    break_intercept: float = -2.0
    #: Per log(earlier weekly km / 20): eager runners break the rule more (assumption).
    break_per_log_km: float = 1.0
    #: Per unit of "felt good recently" (share of recent runs at pain ≤ 2, EWMA; assumption).
    break_per_felt_good: float = 1.5
    #: Weight of the latest run in "felt good recently" (assumption).
    felt_good_weight: Probability = 0.5


@dataclass(frozen=True)
class Policy:
    """What a runner is told to do (the same for every runner of a policy).

    Attributes
    ----------
    name
        Label in outputs.
    graded
        Walk–run programme (``True``) or ungraded return at the earlier volume after rest.
    pain_threshold
        Graded: step up only if pain during ≤ this; ``None`` = no pain rule (step up after each
        stage's sessions whatever the pain).
    next_day_rule
        Graded: step up only if next-morning pain is not worse than the morning before the run.
    strength_per_week
        Strength sessions per week (0–3).
    stretching
        Daily stretching (no capacity gain; multiplies healing by ``stretching_healing``).
    cadence_pct
        Cadence raised by this percentage on every run.
    rest_weeks
        Ungraded: weeks without running before returning.
    adherence
        ``True``: runners break the pain rule as the adherence model says (the observed
        natural course); ``False``: the rule is followed exactly (policy truth).
    """

    name: str
    graded: bool = True
    pain_threshold: float | None = 2.0
    next_day_rule: bool = True
    strength_per_week: int = 2
    stretching: bool = False
    cadence_pct: float = 0.0
    rest_weeks: int = 3
    adherence: bool = True


#: The policy of each arm, in ``ARMS`` order (rest_only, stretching_only, strength_graded_running).
ARM_POLICIES: tuple[Policy, ...] = (
    Policy("rest_only", graded=False, pain_threshold=None, next_day_rule=False, strength_per_week=0),
    Policy("stretching_only", graded=False, pain_threshold=None, next_day_rule=False,
           strength_per_week=0, stretching=True),
    Policy("strength_graded_running"),
)


@dataclass
class Runners:
    """Runner-level draws (covariates and latent traits), one entry per runner."""

    cov: Covariates
    capacity0: np.ndarray  # C0, load units
    target_minutes: np.ndarray  # earlier session length, floored at 30 min
    intensity: np.ndarray
    cadence: np.ndarray  # usual cadence, spm
    healing: np.ndarray  # per-day healing rate before policy multipliers
    seed_days: np.random.SeedSequence = field(repr=False)


@dataclass
class Trajectory:
    """Outcome days of each runner (−1: not reached within :data:`N_DAYS`) and adherence counts.

    ``log`` holds the day-by-day sessions when recorded (see :func:`simulate_days`): ``kind``
    0 run, 1 strength, 2 cross-training (ungraded arms, on run days while not running).
    """

    pain_free_day: np.ndarray
    reinjury_day: np.ndarray
    decisions_blocked: np.ndarray  # step-up decisions the rule forbade
    rule_breaks: np.ndarray  # of which stepped up anyway
    log: dict[str, np.ndarray] | None = None
    weekly: dict[str, np.ndarray] | None = None


def draw_runners(n: int, seed: int | np.random.SeedSequence, p: LoadCapParams,
                 cohort: CohortParams | None = None) -> Runners:
    """Draw ``n`` runners: covariates (:func:`draw_covariates`) and latent traits.

    Parameters
    ----------
    n
        Number of runners.
    seed
        Seed (or seed sequence); the same seed gives the same runners.
    p
        Model parameters.
    cohort
        Covariate distribution (default :class:`CohortParams`).

    Returns
    -------
    Runners
        With a child seed sequence for the daily draws.
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    ss_cov, ss_traits, ss_days = ss.spawn(3)
    cov = draw_covariates(np.random.default_rng(ss_cov), n, cohort or CohortParams())
    rng = np.random.default_rng(ss_traits)
    earlier = cov.weekly_km * p.minutes_per_km / p.runs_per_week_before
    intensity = np.exp(rng.normal(0.0, p.intensity_log_sd, n))
    ratio = np.exp(rng.normal(p.capacity_ratio_log_mean, p.capacity_ratio_log_sd, n))
    capacity0 = ratio * intensity * earlier
    cadence = rng.normal(p.cadence_mean, p.cadence_sd, n)
    healing = p.healing_rate * np.exp(rng.normal(0.0, p.healing_log_sd, n))
    healing = healing * np.where(cov.symptom_weeks > 52.0 / 3.0, p.healing_long_symptoms, 1.0)
    healing = healing * np.where(np.nan_to_num(cov.kujala, nan=100.0) <= 70, p.healing_low_kujala, 1.0)
    return Runners(cov, capacity0, np.maximum(earlier, 30.0), intensity, cadence, healing, ss_days)


def _per_runner(policies: tuple[Policy, ...], which: np.ndarray) -> dict[str, np.ndarray]:
    def col(attr: str, fn: object = float) -> np.ndarray:
        return np.asarray([getattr(pol, attr) for pol in policies])[which]

    thr = np.asarray([np.inf if pol.pain_threshold is None else pol.pain_threshold for pol in policies])
    return {
        "graded": col("graded").astype(bool),
        "threshold": thr[which],
        "next_day": col("next_day_rule").astype(bool),
        "strength": col("strength_per_week").astype(np.int64),
        "stretching": col("stretching").astype(bool),
        "cadence": col("cadence_pct").astype(float),
        "rest_days": 7 * col("rest_weeks").astype(np.int64),
        "adherence": col("adherence").astype(bool),
    }


def _pain(value: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(value + noise), 0, 10).astype(np.int8)


def simulate_days(runners: Runners, p: LoadCapParams, policies: tuple[Policy, ...],
                  which: np.ndarray | None = None, *, record: bool = False,
                  n_days: int = N_DAYS) -> Trajectory:
    """Run the daily model for every runner under its policy.

    Parameters
    ----------
    runners
        From :func:`draw_runners`.
    p
        Model parameters.
    policies
        The policies; runner ``i`` follows ``policies[which[i]]``.
    which
        Index into ``policies`` per runner (default: all follow ``policies[0]``).
    record
        Keep the day-by-day sessions (``Trajectory.log``) and weekly summaries
        (``Trajectory.weekly``) for the output tables; costs memory, not needed for truth.
    n_days
        Days to simulate.

    Returns
    -------
    Trajectory
        Pain-free and re-injury days, step-up decisions and rule breaks.

    Notes
    -----
    Eight arrays of random numbers are drawn every day for every runner in a fixed order, so
    the same runners under another policy see the same noise (common random numbers).
    """
    n = len(runners.capacity0)
    which = np.zeros(n, dtype=np.int64) if which is None else np.asarray(which)
    pol = _per_runner(policies, which)
    rng = np.random.default_rng(runners.seed_days)
    graded, thr, nd_rule = pol["graded"], pol["threshold"], pol["next_day"]
    adherent_break = pol["adherence"]
    cad_factor = np.maximum(1.0 + p.cadence_load_per_5pct * pol["cadence"] / 5.0, 0.1)
    per_min = runners.intensity * cad_factor
    cadence_run = runners.cadence * (1.0 + pol["cadence"] / 100.0)
    healing = runners.healing * np.where(pol["stretching"], p.stretching_healing, 1.0)
    decay_heal = np.exp(-healing)
    c0 = runners.capacity0
    target = runners.target_minutes
    km = runners.cov.weekly_km
    break_lin = p.break_intercept + p.break_per_log_km * np.log(km / 20.0)
    strength_dose = pol["strength"]

    # state
    S = np.zeros(n)
    R = np.zeros(n)
    A = np.zeros(n)
    I_ = np.zeros(n)
    D = runners.cov.baseline_pain.astype(float)
    last_strength = np.full(n, -10_000, dtype=np.int64)
    stage = np.zeros(n, dtype=np.int64)
    at_stage = np.zeros(n, dtype=np.int64)
    pause_until = np.where(graded, 0, pol["rest_days"]).astype(np.int64)
    felt_good = np.zeros(n)
    streak = np.zeros(n, dtype=np.int64)
    pf_day = np.full(n, -1, dtype=np.int64)
    re_day = np.full(n, -1, dtype=np.int64)
    blocked = np.zeros(n, dtype=np.int64)
    breaks = np.zeros(n, dtype=np.int64)
    # the highest stage needed: first continuous stage reaching the runner's earlier minutes
    top_stage = np.maximum(np.searchsorted(STAGE_RUN[STAGE_30:], target, side="left") + STAGE_30, STAGE_30)
    top_stage = np.minimum(top_stage, len(STAGE_RUN) - 1)

    e_irr = math.exp(-1.0 / p.irritability_tau_days)
    e_tol = math.exp(-1.0 / p.tolerated_tau_days)
    e_det = math.exp(-1.0 / p.detraining_tau_days)
    k_tis = 1.0 - math.exp(-1.0 / p.tissue_tau_days)

    logs: list[tuple[np.ndarray, ...]] = []
    n_weeks = (n_days + 6) // 7
    weekly = None
    if record:
        weekly = {"run_minutes": np.zeros((n_weeks, n), np.float32),
                  "strength": np.zeros((n_weeks, n), np.int8),
                  "stage": np.zeros((n_weeks, n), np.int8),
                  "pain": np.zeros((n_weeks, n), np.int8)}
        last_pain = runners.cov.baseline_pain.astype(np.int8)
        ran_week = np.zeros(n, bool)

    for d in range(n_days):
        dow = d % 7
        # fixed draws (common random numbers)
        z = rng.standard_normal((4, n))
        u = rng.random((4, n))
        # strength
        dose_now = np.where((pf_day >= 0) & (d > pf_day + 84),
                            np.minimum(strength_dose, p.maintenance_strength_per_week), strength_dose)
        strength_today = STRENGTH_DAYS[dose_now, dow] & (u[0] >= p.skip_probability)
        S = np.where(strength_today, S + p.strength_gain_per_session * (p.strength_gain_max - S), S)
        last_strength = np.where(strength_today, d, last_strength)
        S = np.where(d - last_strength > p.detraining_delay_days, S * e_det, S)
        C = c0 * (1.0 + S) * (1.0 + R)
        # run prescription
        run_today = RUN_DAYS[dow] & (d >= pause_until) & (u[1] >= p.skip_probability)
        st = np.minimum(stage, top_stage)
        g_run = np.where(STAGE_CONTINUOUS[st], np.minimum(STAGE_RUN[st], target), STAGE_RUN[st])
        run_min = np.where(graded, g_run, target)
        walk_min = np.where(graded, STAGE_WALK[st], 0.0)
        continuous = ~graded | STAGE_CONTINUOUS[st]
        spike = continuous & (u[2] < p.spike_probability)
        run_min = np.where(continuous, run_min * (1.0 + p.run_overshoot_sd * np.abs(z[3])), run_min)
        run_min = np.where(spike, run_min * p.spike_factor, run_min)
        run_min = np.where(run_today, run_min, 0.0)
        walk_min = np.where(run_today, walk_min, 0.0)
        L = per_min * run_min + p.walk_weight * walk_min
        x = L / C
        excess = np.maximum(x - 1.0, 0.0)
        event = run_today & (u[2] >= p.spike_probability) & (u[2] < p.spike_probability + p.event_probability)
        I_ = np.where(event, I_ + p.event_irritability, I_)
        Z = D + I_
        morning = _pain(p.pain_rest_weight * Z, p.pain_noise_sd * z[0])
        during = _pain(Z * (p.pain_rest_weight + p.pain_run_weight * np.minimum(x, 2.0))
                       + p.pain_overload_weight * excess, p.pain_noise_sd * z[1])
        I_ = I_ + p.irritability_gain * excess ** p.overload_exponent
        next_day = _pain(p.pain_rest_weight * (D + I_ * e_irr), p.pain_noise_sd * z[2])

        # outcomes
        flare = run_today & (during >= p.flare_pain)
        new_re = flare & (pf_day >= 0) & (d > pf_day) & (re_day < 0)
        re_day = np.where(new_re, d, re_day)
        qual = run_today & continuous & (run_min >= 30.0) & (during <= 2)
        streak = np.where(run_today, np.where(qual, streak + 1, 0), streak)
        new_pf = (streak >= p.pain_free_sessions) & (pf_day < 0)
        pf_day = np.where(new_pf, d, pf_day)

        # graded stepping
        ok = (during <= thr) & (~nd_rule | (next_day <= morning))
        eligible = at_stage + 1 >= p.sessions_per_stage
        p_break = 1.0 / (1.0 + np.exp(-(break_lin + p.break_per_felt_good * felt_good)))
        forbidden = graded & run_today & ~flare & ~ok & eligible & (stage < top_stage)
        brk = forbidden & adherent_break & (u[3] < p_break)
        blocked += forbidden
        breaks += brk
        step_up = graded & run_today & ~flare & ((ok & eligible) | brk) & (stage < top_stage)
        counted = graded & run_today & ~flare & ok & ~eligible
        at_stage = np.where(step_up, 0, np.where(counted, at_stage + 1, at_stage))
        stage = np.where(step_up, stage + 1, stage)
        stage = np.where(graded & flare, np.maximum(stage - 1, 0), stage)
        at_stage = np.where(flare, 0, at_stage)
        pause_until = np.where(flare, d + 1 + np.where(graded, p.flare_pause_graded,
                                                       p.flare_pause_ungraded), pause_until)
        felt_good = np.where(run_today, (1 - p.felt_good_weight) * felt_good
                             + p.felt_good_weight * (during <= 2), felt_good)

        # capacity and tissue
        tolerated = np.minimum(L, C) / c0
        A = A * e_tol + (1.0 - e_tol) * tolerated
        R = R + k_tis * (p.tissue_rest_level + p.tissue_gain * A - R)
        I_ = I_ * e_irr
        D = D * decay_heal + p.consolidation * I_

        if record:
            cross = ~graded & RUN_DAYS[dow] & (d < pause_until) & (u[1] >= p.skip_probability)
            kind = np.where(run_today, 0, np.where(strength_today, 1, 2)).astype(np.int8)
            idx = np.flatnonzero(run_today | strength_today | cross)
            logs.append((idx, np.full(len(idx), d, np.int16), kind[idx],
                         run_min[idx].astype(np.float32), walk_min[idx].astype(np.float32),
                         np.where(run_today, during, morning)[idx], next_day[idx],
                         cadence_run[idx].astype(np.float32)))
            w = d // 7
            weekly["run_minutes"][w] += run_min.astype(np.float32)
            weekly["strength"][w] += strength_today
            # pain of the week's last run; in a week without a run, the Sunday morning's
            ran_week = np.where(dow == 0, run_today, ran_week | run_today)
            last_pain = np.where(run_today, during, last_pain)
            if dow == 6:
                last_pain = np.where(ran_week, last_pain, morning)
            weekly["pain"][w] = last_pain
            # graded: programme stage + 1 (capped at 20); ungraded: 0 before running, then -1 (none)
            weekly["stage"][w] = np.where(graded, np.minimum(stage + 1, 20),
                                          np.where(d >= pol["rest_days"], -1, 0))

    log = None
    if record:
        names = ("runner", "day", "kind", "run_minutes", "walk_minutes", "pain_during",
                 "pain_next_day", "cadence")
        log = {k: np.concatenate([part[i] for part in logs]) for i, k in enumerate(names)}
    return Trajectory(pf_day, re_day, blocked, breaks, log, weekly)


def arm_policies(adherence: bool = True) -> tuple[Policy, ...]:
    """The arms' policies (``ARMS`` order), with or without rule breaks."""
    return tuple(replace(pol, adherence=adherence) for pol in ARM_POLICIES)


def arm_index(name: str) -> int:
    """Index of an arm in ``ARMS``."""
    return ARMS.index(name)
