"""Simulated cohorts with known truth: :func:`simulate_cohort` and the :class:`Cohort` it returns.

Hazards of both outcomes are proportional hazards with a Weibull baseline on the weekly scale,
a linear predictor in exactly the default Cox terms (arm, age, sex, BMI, weekly km, symptom
weeks, baseline pain) and a multiplicative site frailty, so a Cox model with these terms
stratified by site is correctly specified. See ``docs/simulation.md``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from rehab_outcomes import __version__
from rehab_outcomes.contract.schema import ARMS, CONTRACT_VERSION, DIAGNOSES, EXIT_REASONS, SEXES
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.simulation.calibration import (
    Calibration,
    Covariates,
    calibrate,
    centers,
    design_columns,
    draw_categorical,
    draw_covariates,
    draw_site_frailties,
    linear_predictor,
)
from rehab_outcomes.simulation.params import (
    WEEKS_6_MONTHS,
    WEEKS_12_MONTHS,
    AllocationParams,
    FollowUpParams,
    SimulationParams,
    check_params,
)
from rehab_outcomes.simulation.visits import VisitInputs, simulate_visits

log = logging.getLogger(__name__)

Design = Literal["randomised", "observational"]
DESIGNS: tuple[str, ...] = ("randomised", "observational")
_MAX_DAYS = 10_000_000  # event times beyond any follow-up are capped before conversion to days
_KEY_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)


@dataclass
class Cohort:
    """A simulated cohort: contract-shaped tables, the truth behind them and the latent times.

    Attributes
    ----------
    episodes
        One row per episode, typed like the parsed contract ``Episodes`` frame.
    visits
        The visits table (``None`` if not simulated).
    truth
        Parameters, seed, package version and the truth (JSON-ready): the conditional log
        hazard ratios of every term and the marginal ones of the arms with their Monte Carlo SE
        (:func:`build_truth`).
    latent
        Per episode: arm, site, the continuous latent event times in weeks before censoring
        (``t_pain_free``, ``t_reinjury`` from the pain-free date, ``t_dropout``) and the linear
        predictors.
    """

    episodes: pd.DataFrame
    visits: pd.DataFrame | None
    truth: dict[str, Any]
    latent: pd.DataFrame = field(repr=False)

    def write(self, out_dir: str | Path, visits_format: str = "csv") -> dict[str, Path]:
        """Write ``episodes.csv``, ``visits.csv`` (or ``.parquet``) and ``truth.json``.

        Files are written to a temporary folder beside ``out_dir`` and moved into place
        together (:class:`~rehab_outcomes.outputs.AtomicOutputs`), so a failed run leaves no
        partial output; a visits file of an earlier run that this run does not write (the
        other format, or any when no visits were simulated) is removed. Returns the paths
        written.
        """
        from rehab_outcomes.outputs import AtomicOutputs

        if visits_format not in ("csv", "parquet"):
            raise ConfigError(f"visits format must be 'csv' or 'parquet', got {visits_format!r}")
        out_dir = Path(out_dir)
        names = ["episodes.csv", "truth.json"]
        with AtomicOutputs(out_dir, managed=MANAGED_OUTPUTS) as tmp:
            write_csv(self.episodes, tmp / "episodes.csv")
            if self.visits is not None:
                name = f"visits.{visits_format}"
                names.append(name)
                if visits_format == "csv":
                    write_csv(self.visits, tmp / name)
                else:
                    pq.write_table(to_arrow(self.visits), tmp / name, compression="zstd")
            text = json.dumps(self.truth, indent=2, allow_nan=False) + "\n"
            (tmp / "truth.json").write_text(text, encoding="utf-8")
        return {name: out_dir / name for name in names}


#: Every file ``simulate`` may write.
MANAGED_OUTPUTS: tuple[str, ...] = ("episodes.csv", "visits.csv", "visits.parquet", "truth.json")


# ----------------------------------------------------------------------------------------------
# writing


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """Arrow table of a contract frame: dates as ``date32``, nullable ints as ``int64``."""
    arrays = {}
    for col in df.columns:
        arr = pa.array(df[col], from_pandas=True)
        if pa.types.is_timestamp(arr.type):
            arr = pc.cast(arr, pa.date32())
        elif pa.types.is_large_string(arr.type):
            arr = pc.cast(arr, pa.string())
        arrays[col] = arr
    return pa.table(arrays)


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write a contract frame as UTF-8 CSV: ISO dates, empty cells for missing values, ``\\n``
    line ends, floats in their shortest round-trip form (byte-identical for identical frames).

    Text cells that a spreadsheet would run as a formula get a leading ``'``
    (:func:`rehab_outcomes.outputs.neutralise_frame`; simulated values never start so)."""
    from rehab_outcomes.outputs import neutralise_frame

    pacsv.write_csv(to_arrow(neutralise_frame(df)), str(path),
                    pacsv.WriteOptions(quoting_style="needed"))


# ----------------------------------------------------------------------------------------------
# pieces of the generator


def _codes(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded decimal ``numbers`` as an Arrow string array (vectorised)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = ((numbers[:, None] // powers) % 10 + 48).astype(np.uint8)
    pre = np.broadcast_to(np.frombuffer(prefix.encode("ascii"), dtype=np.uint8), (len(numbers), len(prefix)))
    raw = np.ascontiguousarray(np.hstack([pre, digits])).view(f"S{len(prefix) + width}").ravel()
    return pc.cast(pa.array(raw, type=pa.binary(len(prefix) + width)), pa.string())


def _random_keys(rng: np.random.Generator, n: int, length: int = 12) -> pa.Array:
    """Pseudonymous patient keys ``pk`` + ``length`` base-32 characters."""
    body = _KEY_ALPHABET[rng.integers(0, 32, (n, length))]
    pre = np.broadcast_to(np.frombuffer(b"pk", dtype=np.uint8), (n, 2))
    raw = np.ascontiguousarray(np.hstack([pre, body])).view(f"S{length + 2}").ravel()
    return pc.cast(pa.array(raw, type=pa.binary(length + 2)), pa.string())


def _levels(codes: np.ndarray, levels: tuple[str, ...]) -> pd.arrays.ArrowStringArray:
    dictionary = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(list(levels)))
    return pd.arrays.ArrowStringArray(dictionary.dictionary_decode())


def _int_array(values: np.ndarray, missing: np.ndarray | None = None) -> pd.arrays.IntegerArray:
    mask = np.zeros(len(values), dtype=bool) if missing is None else missing
    return pd.arrays.IntegerArray(np.where(mask, 0, values).astype(np.int64), mask)


def allocation_logits(cov: Covariates, a: AllocationParams, params: SimulationParams) -> np.ndarray:
    """Observational design: log-odds of each arm (columns in ``ARMS`` order; rest_only = 0)."""
    ctr = centers(params.cohort)
    km = cov.weekly_km - ctr["weekly_km_before_injury"]
    sym = cov.symptom_weeks - ctr["symptom_weeks"]
    pain = cov.baseline_pain - ctr["baseline_pain_nrs"]
    out = np.zeros((len(km), len(ARMS)))
    out[:, 1] = a.stretching_intercept + a.stretching_km * km + a.stretching_symptom * sym + a.stretching_pain * pain
    out[:, 2] = a.strength_intercept + a.strength_km * km + a.strength_symptom * sym + a.strength_pain * pain
    return out


def allocate(rng: np.random.Generator, cov: Covariates, design: str, params: SimulationParams) -> np.ndarray:
    """Arm codes (into ``ARMS``): fixed probabilities, or the multinomial logit (observational)."""
    n = len(cov.age_years)
    a = params.allocation
    if design == "randomised":
        return draw_categorical(rng, n, a.randomised_probabilities)
    logits = allocation_logits(cov, a, params)
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    cum = np.cumsum(prob / prob.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0 + 1e-12
    return (rng.random(n)[:, None] >= cum).sum(axis=1).astype(np.int8)


def weibull_times(rng: np.random.Generator, rate: float, shape: float, eta: np.ndarray) -> np.ndarray:
    """Event times (weeks) with cumulative hazard ``rate * t**shape * exp(eta)``."""
    return (rng.standard_exponential(len(eta)) / (rate * np.exp(eta))) ** (1.0 / shape)


def days_after(weeks: np.ndarray) -> np.ndarray:
    """Whole days (>= 1) on or after a continuous time in weeks."""
    return np.maximum(np.ceil(np.minimum(weeks * 7.0, _MAX_DAYS)), 1).astype(np.int64)


def lost_rate(fu: FollowUpParams) -> float:
    """Weekly rate of the exponential loss to follow-up that loses ``lost_by_12_months``."""
    return -math.log1p(-fu.lost_by_12_months) / WEEKS_12_MONTHS


def dropout_times(rng: np.random.Generator, n: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Exponential loss-to-follow-up times: (weeks, whole days before them); never with rate 0."""
    weeks = rng.standard_exponential(n) / rate if rate > 0 else np.full(n, np.inf)
    return weeks, np.floor(np.minimum(weeks * 7.0, _MAX_DAYS)).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# the generator


def episodes_frame(ids: pa.Array, keys: pa.Array, site: pd.arrays.ArrowStringArray,
                   arm: np.ndarray, cov: Any, first_date: np.ndarray, pf_date: np.ndarray,
                   re_date: np.ndarray, last_date: np.ndarray, reason: np.ndarray) -> pd.DataFrame:
    """The episodes table in the contract's shape, from simulated codes, covariates and dates
    (one statement for every simulator)."""
    return pd.DataFrame({
        "episode_id": pd.arrays.ArrowStringArray(ids),
        "patient_key": pd.arrays.ArrowStringArray(keys),
        "site": site,
        "arm": _levels(arm, ARMS),
        "diagnosis": _levels(cov.diagnosis, DIAGNOSES),
        "age_years": _int_array(cov.age_years),
        "sex": _levels(cov.sex, SEXES),
        "bmi": cov.bmi,
        "weekly_km_before_injury": cov.weekly_km,
        "symptom_weeks": cov.symptom_weeks,
        "baseline_pain_nrs": _int_array(cov.baseline_pain),
        "baseline_kujala": _int_array(np.nan_to_num(cov.kujala).astype(np.int64), np.isnan(cov.kujala)),
        "first_visit_date": first_date.astype("datetime64[ns]"),
        "pain_free_run_date": pf_date.astype("datetime64[ns]"),
        "reinjury_date": re_date.astype("datetime64[ns]"),
        "last_contact_date": last_date.astype("datetime64[ns]"),
        "exit_reason": _levels(reason.astype(np.int8), EXIT_REASONS),
    })


def simulate_cohort(
    n: int,
    seed: int,
    params: SimulationParams | None = None,
    design: Design = "randomised",
    *,
    visits: bool = True,
    scenario: str | None = None,
) -> Cohort:
    """Simulate a cohort of ``n`` episodes with known truth.

    Parameters
    ----------
    n
        Number of episodes (one per patient).
    seed
        Seed of :class:`numpy.random.Generator`; the same seed and parameters give the same cohort.
    params
        Parameters (default: the ``default`` scenario); see :func:`load_params`.
    design
        ``randomised`` (fixed allocation probabilities) or ``observational`` (arm depends on
        weekly km, symptom weeks and baseline pain through a multinomial logit).
    visits
        Also simulate the visits table.
    scenario
        Name recorded in ``truth.json`` (informational).

    Examples
    --------
    >>> c = simulate_cohort(200, seed=1, visits=False)
    >>> len(c.episodes), sorted(c.truth["pain_free"]["log_hr"])[:2]
    (200, ['age_years', 'arm:strength_graded_running'])
    """
    params = params or SimulationParams()
    if design not in DESIGNS:
        raise ConfigError(f"unknown design '{design}' (use randomised or observational)")
    if not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"the number of episodes must be a positive whole number, got {n!r}")
    if seed < 0:
        raise ConfigError("the seed must not be negative")
    check_params(params)
    t0 = time.perf_counter()
    cal = calibrate(params)
    log.info("calibrated baselines (%.2f s): pain-free shape %.3f scale %.2f weeks; re-injury "
             "shape %.3f scale %.2f weeks", time.perf_counter() - t0, cal.pain_free.shape,
             cal.pain_free.scale, cal.reinjury.shape, cal.reinjury.scale)
    ss_episodes, ss_visits = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(ss_episodes)
    p, fu = params, params.follow_up

    cov = draw_covariates(rng, n, p.cohort)
    site = draw_categorical(rng, n, p.sites.shares)
    frail_pf, frail_re = draw_site_frailties(rng, p.sites)
    arm = allocate(rng, cov, design, p)
    cols = design_columns(cov, arm, p.cohort)
    lp_pf = linear_predictor(cols, p.pain_free.effects)
    lp_re = linear_predictor(cols, p.reinjury.effects)
    t_pf = weibull_times(rng, cal.pain_free.rate, cal.pain_free.shape, lp_pf + np.log(frail_pf[site]))
    t_re = weibull_times(rng, cal.reinjury.rate, cal.reinjury.shape, lp_re + np.log(frail_re[site]))
    t_drop, d_drop = dropout_times(rng, n, lost_rate(fu))
    withdrew = rng.random(n) < fu.withdrew_share
    start = np.datetime64(fu.recruitment_start, "D")
    first_day = np.sort(rng.integers(0, 7 * fu.recruitment_weeks, n))
    keys = _random_keys(rng, n)

    # whole days and censoring
    d_pf = days_after(t_pf)
    d_re = days_after(t_re)
    admin = 7 * fu.admin_end_weeks
    if fu.data_cut is not None:
        d_cut = (np.datetime64(fu.data_cut, "D") - start).astype(np.int64) - first_day
    else:
        d_cut = np.full(n, _MAX_DAYS, dtype=np.int64)
    censor = np.minimum(np.minimum(d_drop, d_cut), admin)
    pf_obs = d_pf <= censor
    re_obs = pf_obs & (d_pf + d_re <= censor)
    last = np.where(re_obs, d_pf + d_re, censor)
    dropped = d_drop < np.minimum(d_cut, admin)
    reason = np.where(re_obs, 0, np.where(dropped, np.where(withdrew, 2, 1), np.where(d_cut < admin, 3, 0)))

    first_date = start + first_day.astype("timedelta64[D]")
    nat = np.datetime64("NaT")
    pf_date = np.where(pf_obs, first_date + d_pf.astype("timedelta64[D]"), nat)
    re_date = np.where(re_obs, first_date + (d_pf + d_re).astype("timedelta64[D]"), nat)
    last_date = first_date + last.astype("timedelta64[D]")
    width = max(6, len(str(n)))
    ids = _codes("EP", np.arange(1, n + 1, dtype=np.int64), width)

    episodes = episodes_frame(ids, keys, _levels(site, p.sites.names), arm, cov, first_date,
                              pf_date, re_date, last_date, reason)
    latent = pd.DataFrame({
        "episode_id": episodes["episode_id"],
        "arm": episodes["arm"],
        "site": episodes["site"],
        "t_pain_free": t_pf,
        "t_reinjury": t_re,
        "t_dropout": t_drop,
        "lp_pain_free": lp_pf,
        "lp_reinjury": lp_re,
        "frailty_pain_free": frail_pf[site],
        "frailty_reinjury": frail_re[site],
    })
    log.info("simulated %s episodes (%s design) in %.2f s", f"{n:,}", design, time.perf_counter() - t0)

    visit_table = None
    if visits:
        t1 = time.perf_counter()
        inputs = VisitInputs(ids, first_date, arm, cov.baseline_pain, d_pf, pf_obs, last)
        visit_table = simulate_visits(np.random.default_rng(ss_visits), inputs, p.visits)
        log.info("simulated %s visits in %.2f s", f"{len(visit_table):,}", time.perf_counter() - t1)

    truth = build_truth(params, cal, seed, n, design, scenario, frail_pf, frail_re)
    return Cohort(episodes, visit_table, truth, latent)


def build_truth(params: SimulationParams, cal: Calibration, seed: int, n: int, design: str,
                scenario: str | None, frail_pf: np.ndarray, frail_re: np.ndarray) -> dict[str, Any]:
    """The JSON-ready record of what generated a cohort.

    Both estimands of the truth: the conditional log hazard ratios of every term (the
    parameters: ``<outcome>.log_hr``) and the marginal ones of the arms, pooled over fixed Monte
    Carlo samples with their Monte Carlo SE (``<outcome>.marginal``: latent times of the whole
    population; ``<outcome>.marginal_under_follow_up``: with the simulator's censoring), see
    :mod:`rehab_outcomes.simulation.truth`. The marginal truth depends on the parameters only,
    not on ``seed``, ``n`` or ``design``.
    """
    from rehab_outcomes.simulation.truth import DEFINITIONS, marginal_truth

    p = params
    a = p.allocation
    t0 = time.perf_counter()
    marginal: Any = None
    try:
        marginal = marginal_truth(p, "randomised")
        log.info("marginal truth (%s) in %.2f s", marginal.source, time.perf_counter() - t0)
    except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:  # degenerate parameters
        log.warning("no marginal truth for these parameters: %s", exc)

    def outcome(effects: Any, wb: Any, targets: dict[str, float], frail: np.ndarray,
                name: str) -> dict[str, Any]:
        log_hr = effects.as_terms()
        return {
            "log_hr": log_hr,
            "hr": {k: math.exp(v) for k, v in log_hr.items()},
            "marginal": None if marginal is None else marginal.record("population", name),
            "marginal_under_follow_up": (None if marginal is None
                                         else marginal.record("under_follow_up", name)),
            "baseline": {"distribution": "weibull", "time_unit": "weeks", "shape": wb.shape,
                         "scale": wb.scale,
                         "cumulative_hazard": "(t / scale) ** shape * exp(lp) * site_frailty"},
            "site_frailty": dict(zip(p.sites.names, map(float, frail), strict=True)),
            "targets_rest_only": targets,
        }

    if design == "observational":
        allocation: dict[str, Any] = {
            "model": "multinomial logit, reference rest_only",
            "centering": {k: v for k, v in centers(p.cohort).items()
                          if k in ("weekly_km_before_injury", "symptom_weeks", "baseline_pain_nrs")},
            "log_odds": {
                arm: {"intercept": getattr(a, f"{pre}_intercept"),
                      "weekly_km_before_injury": getattr(a, f"{pre}_km"),
                      "symptom_weeks": getattr(a, f"{pre}_symptom"),
                      "baseline_pain_nrs": getattr(a, f"{pre}_pain")}
                for arm, pre in (("stretching_only", "stretching"), ("strength_graded_running", "strength"))
            },
        }
    else:
        allocation = {"model": "fixed probabilities",
                      "probabilities": dict(zip(ARMS, a.randomised_probabilities, strict=True))}
    fu = p.follow_up
    return {
        "package_version": __version__,
        "contract_version": CONTRACT_VERSION,
        "seed": int(seed),
        "n": int(n),
        "design": design,
        "scenario": scenario,
        "reference_levels": {"arm": "rest_only", "sex": "female"},
        "estimands": {
            "conditional": {"where": "<outcome>.log_hr", "definition": DEFINITIONS["conditional"]},
            "marginal": {"where": "<outcome>.marginal", "definition": DEFINITIONS["population"]},
            "marginal_under_follow_up": {"where": "<outcome>.marginal_under_follow_up",
                                         "definition": DEFINITIONS["under_follow_up"]},
            "marginal_monte_carlo": None if marginal is None else marginal.monte_carlo(),
        },
        "centering": centers(p.cohort),
        "linear_predictor": "sum of log_hr[term] * (value - centering) over the terms "
                            "(BMI effect uses the true BMI, also where the record is missing)",
        "pain_free": outcome(p.pain_free.effects, cal.pain_free, {
            "not_pain_free_by_52_weeks": p.pain_free.target_not_pain_free_52w,
            "median_weeks_among_pain_free_by_52_weeks": p.pain_free.target_median_recovered_weeks,
        }, frail_pf, "pain_free"),
        "reinjury": outcome(p.reinjury.effects, cal.reinjury, {
            "by_6_months": p.reinjury.target_6_months, "by_12_months": p.reinjury.target_12_months,
            "weeks_6_months": WEEKS_6_MONTHS, "weeks_12_months": WEEKS_12_MONTHS,
            "population": "rest-only patients pain-free within 52 weeks",
        }, frail_re, "reinjury"),
        "calibration_achieved": cal.achieved,
        "allocation": allocation,
        "censoring": {
            "lost_rate_per_week": lost_rate(fu),
            "admin_end_weeks": fu.admin_end_weeks,
            "data_cut": fu.data_cut,
        },
        "parameters": p.to_dict(),
    }
