"""Contract-shaped tables of the load–capacity simulator: episodes, visits, sessions, truth.

:func:`simulate_loadcap_cohort` draws runners (covariates as in the Weibull simulator), sites,
arms (randomised or observational allocation of :mod:`rehab_outcomes.simulation.cohort`),
simulates their days under their arm's policy *with* rule breaks, and censors by loss to
follow-up, the data cut and the 104-week administrative end exactly as the Weibull simulator.
"""

from __future__ import annotations

import logging as _logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pydantic

from rehab_outcomes import __version__
from rehab_outcomes.contract.schema import ARMS, CONTRACT_VERSION
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.simulation.calibration import draw_categorical
from rehab_outcomes.simulation.cohort import (
    _MAX_DAYS,
    _codes,
    _int_array,
    _levels,
    _random_keys,
    allocate,
    dropout_times,
    episodes_frame,
    lost_rate,
    write_csv,
)
from rehab_outcomes.simulation.loadcap import (
    N_DAYS,
    LoadCapParams,
    arm_policies,
    draw_runners,
    simulate_days,
)
from rehab_outcomes.simulation.params import (
    PARAMS_CONFIG,
    NonNegativeFloat,
    PositiveFloat,
    Probability,
    SimulationParams,
    check_params,
    merge_overrides,
    validate_sections,
)

log = _logging.getLogger(__name__)

#: Every file ``simulate --model load-capacity`` may write.
MANAGED_OUTPUTS: tuple[str, ...] = ("episodes.csv", "visits.csv", "visits.parquet", "sessions.csv",
                                    "truth.json", "policy_truth.csv")
#: Runners of the policy truth written beside a simulated cohort.
POLICY_TRUTH_N = 5_000

def definitions(lc: LoadCapParams) -> dict[str, str]:
    """The outcome definitions with the parameters' values (truth.json, docs/load-capacity.md)."""
    return {
        "pain_free": f"the last of {lc.pain_free_sessions} run sessions in a row, each continuous "
                     "running of at least 30 minutes with pain during <= 2/10",
        "flare": f"a run with pain during >= {lc.flare_pain}/10",
        "reinjury": "the first flare on a run after the pain-free date",
        "rule_break": "a step up in the walk-run programme when pain during exceeded the threshold "
                      "or next-morning pain was worse than the morning before the run",
    }


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class LoggingParams:
    """How runners log their sessions (every value an assumption)."""

    #: Per-runner share of sessions logged ~ Beta(a, b) (mean 0.75; assumption).
    log_share_a: PositiveFloat = 6.0
    log_share_b: PositiveFloat = 2.0
    #: Logging stops after an exponential time, mean days (app fatigue; assumption).
    log_stop_mean_days: PositiveFloat = 182.0
    #: Next-day pain missing on a logged run (assumption).
    next_day_missing: Probability = 0.25
    #: Runners without a cadence-recording watch (assumption).
    no_cadence_share: Probability = 0.40
    #: Noise SD of logged cadence, steps/min (assumption).
    cadence_noise_sd: NonNegativeFloat = 2.0


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class LoadCapConfig:
    """The load-capacity sections of a parameter file (``simulate --model load-capacity
    --config``): the model's parameters and how sessions are logged."""

    load_capacity: LoadCapParams = field(default_factory=LoadCapParams)
    logging: LoggingParams = field(default_factory=LoggingParams)


def loadcap_params_from_dict(sections: dict[str, Any] | None) -> LoadCapConfig:
    """Apply ``load_capacity`` and ``logging`` overrides to the defaults and check the result.

    Validated as the Weibull simulator's sections are (:func:`validate_sections`: strict types,
    the ranges of the fields, unknown keys refused), then for coherence.

    Parameters
    ----------
    sections
        A mapping with (any of) the sections ``load_capacity`` (fields of :class:`LoadCapParams`)
        and ``logging`` (fields of :class:`LoggingParams`); ``None`` or empty: the defaults.

    Raises
    ------
    ConfigError
        Naming the key at fault, e.g. ``load_capacity.event_probability``.

    Examples
    --------
    >>> loadcap_params_from_dict({"load_capacity": {"flare_pain": 5}}).load_capacity.flare_pain
    5
    >>> loadcap_params_from_dict({"logging": {"next_day_missing": 1.5}})
    Traceback (most recent call last):
    ...
    rehab_outcomes.exceptions.ConfigError: parameter 'logging.next_day_missing' must be at most 1.0, got 1.5
    """
    sections = {} if sections is None else sections
    if not isinstance(sections, dict):
        raise ConfigError("the load-capacity parameters must be a mapping of sections")
    defaults = {"load_capacity": asdict(LoadCapParams()), "logging": asdict(LoggingParams())}
    config = validate_sections(LoadCapConfig, merge_overrides(defaults, sections))
    check_loadcap_params(config.load_capacity)
    return config


def check_loadcap_params(lc: LoadCapParams) -> None:
    """Refuse load-capacity parameters that are incoherent together (ranges of single fields are
    checked when a parameter file is validated).

    Raises
    ------
    ConfigError
        Naming the parameters at fault.
    """
    # one uniform draw decides a spike (below spike_probability) or an event (the next slice)
    total = lc.spike_probability + lc.event_probability
    if total > 1:
        raise ConfigError("load_capacity.spike_probability + load_capacity.event_probability "
                          f"must not exceed 1 (they sum to {total:.6g})")


@dataclass
class LoadCapCohort:
    """A simulated load–capacity cohort: contract tables, sessions log, truth."""

    episodes: pd.DataFrame
    visits: pd.DataFrame
    sessions: pd.DataFrame
    truth: dict[str, Any]
    policy_truth: pd.DataFrame | None = None

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``episodes.csv``, ``visits.csv``, ``sessions.csv``, ``truth.json`` (and
        ``policy_truth.csv``) atomically (:class:`~rehab_outcomes.outputs.AtomicOutputs`)."""
        from rehab_outcomes.outputs import AtomicOutputs, write_json

        out_dir = Path(out_dir)
        names = ["episodes.csv", "visits.csv", "sessions.csv", "truth.json"]
        with AtomicOutputs(out_dir, managed=MANAGED_OUTPUTS) as tmp:
            write_csv(self.episodes, tmp / "episodes.csv")
            write_csv(self.visits, tmp / "visits.csv")
            write_csv(self.sessions, tmp / "sessions.csv")
            write_json(self.truth, tmp / "truth.json")
            if self.policy_truth is not None:
                names.append("policy_truth.csv")
                self.policy_truth.to_csv(tmp / "policy_truth.csv", index=False, lineterminator="\n",
                                         float_format="%.6g")
        return {name: out_dir / name for name in names}


def _visits(rng: np.random.Generator, weekly: dict[str, np.ndarray], ids: pa.Array,
            first_date: np.ndarray, baseline_pain: np.ndarray, pf_visit_day: np.ndarray,
            end_day: np.ndarray, params: SimulationParams) -> pd.DataFrame:
    """Weekly to fortnightly visits while in care (until pain-free, the end, or 26 weeks)."""
    v = params.visits
    n = len(end_day)
    care_cap = 7 * v.max_care_weeks
    m = care_cap // 7 + 1
    gaps = np.where(rng.random((n, m - 1)) < v.weekly_share, 7, 14)
    days = np.zeros((n, m + 1), np.int64)
    days[:, 1:m] = np.cumsum(gaps, axis=1)
    has_pf = (pf_visit_day >= 0) & (pf_visit_day <= np.minimum(end_day, care_cap))
    stop = np.where(has_pf, pf_visit_day - 1, np.minimum(end_day, care_cap))
    keep = np.zeros((n, m + 1), bool)
    keep[:, :m] = days[:, :m] <= stop[:, None]
    days[:, m] = np.maximum(pf_visit_day, 0)
    keep[:, m] = has_pf
    rows, cols = np.nonzero(keep)
    d = days[rows, cols]
    week = np.where(cols == m, d // 7, d // 7 - 1)
    week = np.clip(week, 0, weekly["pain"].shape[0] - 1)
    first = d == 0
    pain = np.where(first, baseline_pain[rows], weekly["pain"][week, rows])
    run = np.where(first, 0.0, weekly["run_minutes"][week, rows])
    strength = np.where(first, 0, weekly["strength"][week, rows])
    stage = np.where(first, 0, weekly["stage"][week, rows]).astype(np.int64)
    dates = first_date[rows] + d.astype("timedelta64[D]")
    return pd.DataFrame({
        "episode_id": pd.arrays.ArrowStringArray(ids.take(pa.array(rows))),
        "visit_date": dates.astype("datetime64[ns]"),
        "pain_nrs": pd.array(pain.astype(np.int64), dtype="Int64"),
        "run_minutes_week": np.round(run.astype(float), 1),
        "strength_sessions_week": pd.array(strength.astype(np.int64), dtype="Int64"),
        "walk_run_stage": _int_array(np.maximum(stage, 0), stage < 0),
    })


def _sessions(rng: np.random.Generator, log: dict[str, np.ndarray], ids: pa.Array,
              first_date: np.ndarray, end_day: np.ndarray, lp: LoggingParams) -> pd.DataFrame:
    """The sessions log: logged sessions within the episode's dates, with gaps."""
    n = len(end_day)
    share = rng.beta(lp.log_share_a, lp.log_share_b, n)
    stop = rng.standard_exponential(n) * lp.log_stop_mean_days
    watch = rng.random(n) >= lp.no_cadence_share
    r, day = log["runner"], log["day"].astype(np.int64)
    k = len(r)
    u_log, u_nd, z_cad = rng.random(k), rng.random(k), rng.standard_normal(k)
    keep = (day <= end_day[r]) & (day <= stop[r]) & (u_log < share[r])
    is_run = log["kind"] == 0
    nd_missing = ~is_run | (u_nd < lp.next_day_missing)
    cadence = np.clip(np.rint(log["cadence"] + lp.cadence_noise_sd * z_cad), 120, 230).astype(np.int64)
    cad_missing = ~is_run | ~watch[r]
    sel = np.flatnonzero(keep)
    r, day = r[sel], day[sel]
    kinds = np.array(["run", "strength", "cross_training"])
    return pd.DataFrame({
        "episode_id": pd.arrays.ArrowStringArray(ids.take(pa.array(r))),
        "session_date": (first_date[r] + day.astype("timedelta64[D]")).astype("datetime64[ns]"),
        "session_type": pd.array(kinds[log["kind"][sel]], dtype=pd.StringDtype("pyarrow")),
        "run_minutes": np.clip(np.round(log["run_minutes"][sel].astype(float), 1), 0, 300),
        "walk_minutes": np.clip(np.round(log["walk_minutes"][sel].astype(float), 1), 0, 300),
        "pain_during_nrs": pd.array(log["pain_during"][sel].astype(np.int64), dtype="Int64"),
        "pain_next_day_nrs": _int_array(log["pain_next_day"][sel].astype(np.int64), nd_missing[sel]),
        "cadence_spm": _int_array(cadence[sel], cad_missing[sel]),
    })


def simulate_loadcap_cohort(n: int, seed: int, params: SimulationParams | None = None,
                            design: str = "randomised", lc: LoadCapParams | None = None, *,
                            scenario: str | None = None, logging: LoggingParams | None = None,
                            policy_truth_n: int | None = POLICY_TRUTH_N) -> LoadCapCohort:
    """Simulate ``n`` episodes with the load–capacity model.

    Parameters
    ----------
    n
        Episodes (one per runner).
    seed
        Seed: the same seed and parameters give the same tables.
    params
        The Weibull simulator's parameters, used for the covariates, sites, allocation,
        follow-up and visit schedule (default :class:`SimulationParams`).
    design
        ``randomised`` or ``observational`` (arm depends on weekly km, symptom weeks, pain).
    lc
        Load–capacity parameters (default: the calibrated :class:`LoadCapParams`).
    scenario
        Name recorded in the truth.
    logging
        How sessions are logged.
    policy_truth_n
        Runners of the policy truth (``policy_truth.csv``); ``None``: not computed.

    Returns
    -------
    LoadCapCohort
    """
    from rehab_outcomes.simulation.loadcap_truth import TARGETS, policy_truth

    params = params or SimulationParams()
    lc = lc or LoadCapParams()
    logging = logging or LoggingParams()
    if design not in ("randomised", "observational"):
        raise ConfigError(f"unknown design '{design}' (use randomised or observational)")
    if not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"the number of episodes must be a positive whole number, got {n!r}")
    if seed < 0:
        raise ConfigError("the seed must not be negative")
    check_params(params)
    check_loadcap_params(lc)
    t0 = time.perf_counter()
    ss_run, ss_alloc, ss_fu, ss_visits, ss_log = np.random.SeedSequence(seed).spawn(5)
    runners = draw_runners(n, ss_run, lc, params.cohort)
    cov = runners.cov
    rng = np.random.default_rng(ss_alloc)
    site = draw_categorical(rng, n, params.sites.shares)
    arm = allocate(rng, cov, design, params)
    traj = simulate_days(runners, lc, arm_policies(adherence=True), arm.astype(np.int64), record=True)
    assert traj.log is not None and traj.weekly is not None

    fu = params.follow_up
    rng = np.random.default_rng(ss_fu)
    _, d_drop = dropout_times(rng, n, lost_rate(fu))
    withdrew = rng.random(n) < fu.withdrew_share
    start = np.datetime64(fu.recruitment_start, "D")
    first_day = np.sort(rng.integers(0, 7 * fu.recruitment_weeks, n))
    keys = _random_keys(rng, n)
    admin = min(7 * fu.admin_end_weeks, N_DAYS)
    if fu.data_cut is not None:
        d_cut = (np.datetime64(fu.data_cut, "D") - start).astype(np.int64) - first_day
    else:
        d_cut = np.full(n, _MAX_DAYS, dtype=np.int64)
    censor = np.minimum(np.minimum(d_drop, d_cut), admin)
    pf, re = traj.pain_free_day, traj.reinjury_day
    pf_obs = (pf >= 0) & (pf <= censor)
    re_obs = pf_obs & (re >= 0) & (re <= censor)
    last = np.where(re_obs, re, censor)
    dropped = d_drop < np.minimum(d_cut, admin)
    reason = np.where(re_obs, 0, np.where(dropped, np.where(withdrew, 2, 1), np.where(d_cut < admin, 3, 0)))
    first_date = start + first_day.astype("timedelta64[D]")
    nat = np.datetime64("NaT")
    pf_date = np.where(pf_obs, first_date + pf.astype("timedelta64[D]"), nat)
    re_date = np.where(re_obs, first_date + re.astype("timedelta64[D]"), nat)
    ids = _codes("EP", np.arange(1, n + 1, dtype=np.int64), max(6, len(str(n))))
    episodes = episodes_frame(ids, keys, _levels(site, params.sites.names), arm, cov, first_date,
                              pf_date, re_date, first_date + last.astype("timedelta64[D]"), reason)
    visits = _visits(np.random.default_rng(ss_visits), traj.weekly, ids, first_date,
                     cov.baseline_pain, np.where(pf_obs, pf, -1), last, params)
    sessions = _sessions(np.random.default_rng(ss_log), traj.log, ids, first_date, last, logging)
    blocked = traj.decisions_blocked
    truth: dict[str, Any] = {
        "model": "load-capacity",
        "package_version": __version__,
        "contract_version": CONTRACT_VERSION,
        "seed": int(seed),
        "n": int(n),
        "design": design,
        "scenario": scenario,
        "definitions": definitions(lc),
        "policies": {pol.name: asdict(pol) for pol in arm_policies(adherence=True)},
        "latent_by_arm": {
            name: {
                "pain_free_by_12_weeks": float(np.mean((pf[arm == k] >= 0) & (pf[arm == k] <= 84))),
                "pain_free_by_52_weeks": float(np.mean((pf[arm == k] >= 0) & (pf[arm == k] <= 364))),
                "rule_break_share": (float(traj.rule_breaks[arm == k].sum() / blocked[arm == k].sum())
                                     if blocked[arm == k].sum() else None),
            } for k, name in enumerate(ARMS) if (arm == k).any()
        },
        "calibration_targets": [{"target": t, "value": v, "tolerance": tol} for t, v, tol in TARGETS],
        "policy_truth": None if policy_truth_n is None else {
            "file": "policy_truth.csv", "n_runners": int(policy_truth_n), "seed": int(seed),
            "estimands": "latent outcomes (no loss to follow-up, 104-week end); rule followed exactly "
                         "except the natural-course row; re-injury HR: Cox, Breslow ties, among the "
                         "pain-free, clock from the pain-free date; MC SE by batch means (20 batches)",
        },
        "parameters": {"load_capacity": asdict(lc), "logging": asdict(logging), "cohort": params.to_dict()},
    }
    ptruth = None if policy_truth_n is None else policy_truth(policy_truth_n, seed, lc)
    log.info("load-capacity cohort of %s episodes in %.2f s", f"{n:,}", time.perf_counter() - t0)
    return LoadCapCohort(episodes, visits, sessions, truth, ptruth)
