"""The simulator's truth as two estimands: conditional and marginal arm hazard ratios.

*Conditional* log hazard ratios are the simulator's parameters: the arm terms of the Cox model
with the default covariates, conditional on them and on the site frailty (a Cox model with these
terms stratified by site is correctly specified and targets them).

*Marginal* log hazard ratios are what a Cox model with the **arm only** estimates in large
samples. Covariates and frailty are left out, so the hazards of the arms are no longer
proportional and the arm-only estimate is not a parameter of the model: it is defined here as
the limit (``n → ∞``) of the arm-only Cox partial-likelihood estimate in a stated population,
computed by Monte Carlo (:func:`marginal_truth`):

``population`` (the marginal truth)
    Every patient of the covariate, site and frailty distribution under every arm, arms in the
    shares of the randomised design, **latent** (uncensored) event times. For re-injury the
    clock starts at the pain-free date and everyone reaches pain-free running in the latent
    world (the Weibull has no cure fraction), so the re-injury estimand is over the whole
    population, as if everyone had returned to running: a causal contrast, with no selection
    after treatment.
``under_follow_up``
    The same population with the simulator's censoring (loss to follow-up, administrative end,
    data cut with uniform recruitment) applied, what an arm-only analysis of the simulated data
    converges to. It differs from ``population`` because the arm-only hazard ratio changes over
    time (frailty and covariate selection) and censoring weights early times more. For
    re-injury it is taken among those whose pain-free date is observed, a subset selected after
    treatment (not a causal contrast).

Each estimate is the mean over :data:`MARGINAL_SEEDS` independent samples of
:data:`MARGINAL_N` patients (streams ``SeedSequence([MARGINAL_BASE_SEED, k])``, fixed, so the
marginal truth is a property of the parameters, not of a cohort's seed); its Monte Carlo
standard error is the standard deviation over the samples divided by ``√ seeds``. Each sample
uses common random numbers: a patient's latent times under the three arms share one uniform
draw, which makes the arm contrasts far more precise than independent arms would (the limit
only depends on each arm's marginal distribution, so it is unchanged).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from rehab_outcomes.simulation.params import SimulationParams

log = logging.getLogger(__name__)

#: Version of the computation: part of the key of stored results (bump when it changes).
TRUTH_VERSION = 1
#: Stored marginal truths of the built-in scenarios (``python -m rehab_outcomes.simulation.truth``).
TABLE_PATH = Path(__file__).with_name("marginal_truth.json")
#: Base of the marginal truth's random streams (independent of any cohort seed).
MARGINAL_BASE_SEED = 20_250_611
#: Independent Monte Carlo samples pooled into the marginal truth.
MARGINAL_SEEDS = 8
#: Patients per sample (each under all three arms).
MARGINAL_N = 100_000
#: Arm terms of the analysis (reference ``rest_only``).
ARM_TERMS: tuple[str, ...] = tuple(f"arm:{a}" for a in ARMS[1:])
OUTCOMES: tuple[str, ...] = ("pain_free", "reinjury")
ESTIMANDS: tuple[str, ...] = ("population", "under_follow_up")
#: Arm shares of the marginal estimand: the randomised design's probabilities, equal thirds
#: (the power module's trials, exactly ``n`` per arm), or the observational allocation model
#: (the arm-only fit of the observational design: confounded, not a causal contrast).
ALLOCATIONS: tuple[str, ...] = ("randomised", "equal", "observational")

DEFINITIONS: dict[str, str] = {
    "conditional": (
        "log hazard ratio of each term of the default Cox model (arm, age, sex, BMI, weekly km, "
        "symptom weeks, baseline pain), conditional on these covariates and on the site frailty: "
        "the simulator's parameters; a Cox model with these terms stratified by site targets them"
    ),
    "population": (
        "marginal log hazard ratio of each arm against rest_only: the large-sample limit of the "
        "arm-only Cox partial-likelihood estimate on the latent (uncensored) event times of the "
        "whole population (covariate, site and frailty distribution) under each arm, arms in the "
        "randomised design's shares; for re-injury (clock from the pain-free date) over the whole "
        "population, as everyone reaches pain-free running in the latent world. The same in "
        "both designs: an arm-only Cox model of a randomised trial, or an IPTW-weighted one of "
        "the observational design, targets it in the absence of censoring; an unweighted "
        "arm-only fit of the observational design is confounded"
    ),
    "under_follow_up": (
        "as 'population', with the simulator's censoring applied (loss to follow-up, "
        "administrative end, data cut): the large-sample limit of the arm-only Cox model fitted "
        "to the simulated data of the randomised design; for re-injury among episodes whose "
        "pain-free date is observed (a subset selected after treatment, not a causal contrast)"
    ),
}


# ----------------------------------------------------------------------------------------------
# the arm-only Cox fit


def arm_cox(time: np.ndarray, event: np.ndarray, arm: np.ndarray, weight: np.ndarray | None = None,
            k: int = len(ARMS), tol: float = 1e-12, max_iter: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Cox model with arm only (Breslow ties): log hazard ratios of arms ``1..k-1``.

    Made for very large samples of continuous latent times: the rows are sorted once, the
    weight at risk in each arm at each event time is a reverse cumulative sum read at the first
    row of the event's time, and every Newton step is a few vector operations on the events. With tied event times this is Breslow's
    likelihood (continuous latent times have none).

    Parameters
    ----------
    time, event, arm
        Follow-up, event indicator (1 = event) and arm code ``0..k-1`` (0 = reference).
    weight
        Case weights (default 1).
    k
        Number of arms.
    tol, max_iter
        Newton–Raphson stops when the relative change of the log partial likelihood is below
        ``tol``.

    Returns
    -------
    tuple of numpy.ndarray
        The log hazard ratios (``k − 1``) and their model-based variance (inverse information,
        ``(k − 1) × (k − 1)``; with case weights as counts).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> arm = np.repeat([0, 1], 20_000)
    >>> t = rng.exponential(1 / np.exp(0.5 * arm))
    >>> beta, var = arm_cox(t, np.ones_like(t), arm, k=2)
    >>> round(float(beta[0]), 1), bool(var[0, 0] < 1e-3)
    (0.5, True)
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    arm = np.asarray(arm, dtype=np.intp)
    w = np.ones(time.size) if weight is None else np.asarray(weight, dtype=float)
    order = np.argsort(time)
    ts, ev, a_s, w_s = time[order], event[order], arm[order], w[order]
    # the first row of each run of equal times: everyone from there on is at risk
    new_time = np.empty(ts.size, dtype=bool)
    new_time[:1] = True
    np.not_equal(ts[1:], ts[:-1], out=new_time[1:])
    starts = np.flatnonzero(new_time)
    first = starts[np.cumsum(new_time) - 1][ev]
    w_ev = w_s[ev]
    at_risk = []  # weight at risk in each arm at each event time (time >= t)
    observed = np.empty(k)  # weighted events per arm
    for a in range(k):
        wa = np.where(a_s == a, w_s, 0.0)
        at_risk.append(np.cumsum(wa[::-1])[::-1][first])
        observed[a] = float(wa[ev].sum())

    def pieces(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        # dot products by einsum: a BLAS call on long vectors is slow on a busy machine
        s0 = at_risk[0].copy()
        for j in range(1, k):
            s0 += at_risk[j] * math.exp(beta[j - 1])
        q = [at_risk[j] * (math.exp(beta[j - 1]) / s0) for j in range(1, k)]  # risk-set shares
        wq = [w_ev * x for x in q]
        loglik = float(observed[1:] @ beta - np.einsum("i,i->", w_ev, np.log(s0)))
        score = observed[1:] - np.array([x.sum() for x in wq])
        info = np.empty((k - 1, k - 1))
        for i in range(k - 1):
            for j in range(i, k - 1):
                cross = float(np.einsum("i,i->", wq[i], q[j]))
                info[i, j] = info[j, i] = (float(wq[i].sum()) if i == j else 0.0) - cross
        return loglik, score, info

    beta = np.zeros(k - 1)
    loglik, score, info = pieces(beta)
    for _ in range(max_iter):
        step = np.linalg.solve(info, score)
        for _ in range(30):  # step halving
            new = beta + step
            ll_new, score_new, info_new = pieces(new)
            if ll_new >= loglik - 1e-12 * abs(loglik):
                break
            step = step / 2
        done = abs(ll_new - loglik) <= tol * abs(ll_new)
        beta, loglik, score, info = new, ll_new, score_new, info_new
        if done:
            break
    return beta, np.linalg.inv(info)


# ----------------------------------------------------------------------------------------------
# one Monte Carlo sample


def _allocation_weights(params: SimulationParams, cov: Any, allocation: str, n: int) -> np.ndarray:
    """``n × 3`` arm weights of each patient (rows sum to 1)."""
    shares = _shares(params, allocation)
    if not isinstance(shares, str):
        return np.broadcast_to(np.asarray(shares), (n, len(ARMS)))
    from rehab_outcomes.simulation.cohort import allocation_logits

    logits = allocation_logits(cov, params.allocation, params)
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    return prob / prob.sum(axis=1, keepdims=True)


def censoring_weeks(params: SimulationParams, rng: np.random.Generator, n: int) -> np.ndarray:
    """Continuous censoring times (weeks from the first visit) of the simulator's follow-up:
    exponential loss, administrative end, and the data cut after a first visit uniform over the
    recruitment window (the day of the first visit is whole, as in the simulator)."""
    from rehab_outcomes.simulation.cohort import lost_rate

    fu = params.follow_up
    rate = lost_rate(fu)
    lost = rng.standard_exponential(n) / rate if rate > 0 else np.full(n, np.inf)
    censor = np.minimum(lost, float(fu.admin_end_weeks))
    first_day = rng.integers(0, 7 * fu.recruitment_weeks, n)
    if fu.data_cut is not None:
        cut_day = (np.datetime64(fu.data_cut, "D") - np.datetime64(fu.recruitment_start, "D")).astype(np.int64)
        censor = np.minimum(censor, (cut_day - first_day) / 7.0)
    return censor


def marginal_sample(params: SimulationParams, seed: np.random.SeedSequence | int, n: int,
                    allocation: str = "randomised") -> dict[str, np.ndarray]:
    """Arm-only Cox estimates of one Monte Carlo sample of ``n`` patients under every arm.

    Returns
    -------
    dict
        ``"{estimand}:{outcome}"`` → log hazard ratios (stretching, strength) against rest only,
        for the estimands of :data:`ESTIMANDS` and the outcomes of :data:`OUTCOMES`.
    """
    _shares(params, allocation)  # refuses an unknown allocation
    rng = np.random.default_rng(seed)
    cal = calibrate(params)
    s = params.sites
    cov = draw_covariates(rng, n, params.cohort)
    if s.frailty_mode == "balanced":
        site = draw_categorical(rng, n, s.shares)
        fp, fr = balanced_site_frailties(s)
        log_zp, log_zr = np.log(fp[site]), np.log(fr[site])
    else:  # a fresh frailty per patient: the margin over the frailty distribution
        u = rng.random((2, n))
        log_zp = np.log(frailty_quantiles(u[0], s.frailty_distribution, s.pain_free_frailty_variance))
        log_zr = np.log(frailty_quantiles(u[1], s.frailty_distribution, s.reinjury_frailty_variance))
    cols = design_columns(cov, np.zeros(n, dtype=np.int8), params.cohort)  # rest only
    e_pf = rng.standard_exponential(n)  # common random numbers across arms
    e_re = rng.standard_exponential(n)
    censor = censoring_weeks(params, rng, n)
    w = _allocation_weights(params, cov, allocation, n)

    k = len(ARMS)
    arm = np.repeat(np.arange(k), n)
    weight = w.T.ravel()  # arm-major, as `arm`
    times = {}
    for outcome, wb, draws, log_z in (("pain_free", cal.pain_free, e_pf, log_zp),
                                      ("reinjury", cal.reinjury, e_re, log_zr)):
        effects = getattr(params, outcome).effects
        eta0 = linear_predictor(cols, effects) + log_z
        beta = effects.as_terms()
        shift = np.array([0.0, *(beta[t] for t in ARM_TERMS)])
        eta = (eta0[None, :] + shift[:, None]).ravel()
        times[outcome] = (np.tile(draws, k) / (wb.rate * np.exp(eta))) ** (1.0 / wb.shape)
    out: dict[str, np.ndarray] = {}
    ones = np.ones(arm.size, dtype=bool)
    out["population:pain_free"] = arm_cox(times["pain_free"], ones, arm, weight)[0]
    out["population:reinjury"] = arm_cox(times["reinjury"], ones, arm, weight)[0]
    c = np.tile(censor, k)
    t_pf = times["pain_free"]
    pf_seen = t_pf <= c
    out["under_follow_up:pain_free"] = arm_cox(np.minimum(t_pf, c), pf_seen, arm, weight)[0]
    left = (c - t_pf)[pf_seen]  # follow-up left after the pain-free date
    t_re = times["reinjury"][pf_seen]
    out["under_follow_up:reinjury"] = arm_cox(np.minimum(t_re, left), t_re <= left, arm[pf_seen],
                                              weight[pf_seen])[0]
    return out


# ----------------------------------------------------------------------------------------------
# pooled


@dataclass(frozen=True)
class MarginalTruth:
    """Marginal log hazard ratios pooled over Monte Carlo samples.

    Attributes
    ----------
    allocation
        Arm shares of the estimand (:data:`ALLOCATIONS`).
    base_seed, n_per_seed
        Random streams ``SeedSequence([base_seed, k])`` and patients per sample.
    samples
        ``"{estimand}:{outcome}"`` → ``seeds × 2`` log hazard ratios (stretching, strength).
    source
        ``computed`` in this process, or ``stored`` (read from :data:`TABLE_PATH`).
    """

    allocation: str
    base_seed: int
    n_per_seed: int
    samples: dict[str, np.ndarray]
    source: str = "computed"

    @property
    def seeds(self) -> int:
        """Number of pooled samples."""
        return int(next(iter(self.samples.values())).shape[0])

    def log_hr(self, estimand: str, outcome: str) -> np.ndarray:
        """Pooled log hazard ratios (stretching, strength) against rest only."""
        return self.samples[f"{estimand}:{outcome}"].mean(axis=0)

    def mc_se(self, estimand: str, outcome: str) -> np.ndarray:
        """Monte Carlo standard errors of :meth:`log_hr` (SD over samples / √ samples)."""
        x = self.samples[f"{estimand}:{outcome}"]
        return x.std(axis=0, ddof=1) / math.sqrt(x.shape[0])

    def record(self, estimand: str, outcome: str) -> dict[str, dict[str, float]]:
        """JSON-ready ``log_hr``, ``hr`` and ``mc_se`` (of the log HR) by arm term."""
        b, se = self.log_hr(estimand, outcome), self.mc_se(estimand, outcome)
        return {
            "log_hr": dict(zip(ARM_TERMS, map(float, b), strict=True)),
            "hr": dict(zip(ARM_TERMS, (math.exp(v) for v in b), strict=True)),
            "mc_se": dict(zip(ARM_TERMS, map(float, se), strict=True)),
        }

    def monte_carlo(self) -> dict[str, Any]:
        """How the figures were computed (JSON-ready)."""
        return {
            "samples": self.seeds,
            "patients_per_sample": self.n_per_seed,
            "streams": f"SeedSequence([{self.base_seed}, k]), k = 0..{self.seeds - 1}",
            "arm_shares": self.allocation,
            "common_random_numbers": "each patient under every arm, one exponential draw per "
                                     "outcome shared by the arms",
            "mc_se": "standard deviation of the log HR over samples / sqrt(samples)",
            "time": "continuous weeks (the analysis' day-rounded Efron fit differs by < 1e-4)",
        }


def _shares(params: SimulationParams, allocation: str) -> list[float] | str:
    if allocation not in ALLOCATIONS:
        raise ValueError(f"unknown allocation {allocation!r} (use {', '.join(ALLOCATIONS)})")
    if allocation == "observational":
        return "observational"
    p = np.asarray(params.allocation.randomised_probabilities, dtype=float)
    if allocation == "equal" or (p <= 0).any():  # an arm left out: its contrast needs a share
        return [1.0 / len(ARMS)] * len(ARMS)
    return [float(v) for v in p / p.sum()]


def truth_key(params: SimulationParams, allocation: str, seeds: int, n: int, base_seed: int) -> str:
    """Key of a marginal truth among stored results: a hash of everything it depends on (the
    parameters except the visit schedule, the arm shares, the Monte Carlo settings and
    :data:`TRUTH_VERSION`)."""
    relevant = {k: v for k, v in params.to_dict().items() if k != "visits"}
    payload = json.dumps({"version": TRUTH_VERSION, "params": relevant,
                          "shares": _shares(params, allocation), "seeds": seeds, "n": n,
                          "base_seed": base_seed}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


@functools.lru_cache(maxsize=1)
def stored_truths() -> dict[str, Any]:
    """The stored marginal truths (:data:`TABLE_PATH`), keyed by :func:`truth_key`."""
    if not TABLE_PATH.is_file():
        return {}
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))["entries"]


@functools.lru_cache(maxsize=32)
def marginal_truth(params: SimulationParams, allocation: str = "randomised",
                   seeds: int = MARGINAL_SEEDS, n: int = MARGINAL_N,
                   base_seed: int = MARGINAL_BASE_SEED, use_stored: bool = True) -> MarginalTruth:
    """Marginal log hazard ratios of the arms, pooled over ``seeds`` samples of ``n`` patients.

    Deterministic given the arguments and cached per parameter set. The built-in scenarios'
    results are stored with the package (:data:`TABLE_PATH`, keyed by :func:`truth_key`, so a
    changed parameter is never served a stale result); any other parameter set is computed
    (a few seconds). See the module docstring for the estimands.

    Parameters
    ----------
    params
        Simulator parameters.
    allocation
        Arm shares: ``randomised`` (the design's probabilities, equal thirds if one of them is
        0; the marginal truth), ``equal`` (thirds: the power module's trials) or
        ``observational`` (the allocation model: what an unweighted arm-only fit of the
        observational design converges to).
    seeds, n, base_seed
        Samples, patients per sample and the base of the streams.
    use_stored
        Serve a stored result when there is one.

    Examples
    --------
    >>> from rehab_outcomes.simulation import load_params
    >>> m = marginal_truth(load_params("default"))
    >>> m.source, [round(float(v), 4) for v in m.log_hr("population", "pain_free")]
    ('stored', [0.0395, 0.3348])
    >>> null = marginal_truth(load_params("null"), seeds=2, n=2_000, use_stored=False)
    >>> [round(abs(float(v)), 9) for v in null.log_hr("population", "pain_free")]  # arms share draws
    [0.0, 0.0]
    """
    if seeds < 2:
        raise ValueError("the Monte Carlo standard error needs at least 2 samples")
    shares = _shares(params, allocation)
    label = "observational allocation model" if shares == "observational" else \
        "arms in shares " + ", ".join(f"{v:.4g}" for v in shares)  # type: ignore[union-attr]
    if use_stored:
        entry = stored_truths().get(truth_key(params, allocation, seeds, n, base_seed))
        if entry is not None:
            samples = {k: np.asarray(v, dtype=float) for k, v in entry["samples"].items()}
            return MarginalTruth(label, base_seed, n, samples, source="stored")
    t0 = time.perf_counter()
    runs = [marginal_sample(params, np.random.SeedSequence([base_seed, i]), n, allocation)
            for i in range(seeds)]
    pooled = {key: np.stack([r[key] for r in runs]) for key in runs[0]}
    log.info("marginal truth (%s, %d samples of %s patients) computed in %.1f s", label, seeds,
             f"{n:,}", time.perf_counter() - t0)
    return MarginalTruth(label, base_seed, n, pooled)


def store_builtin_truths(path: Path = TABLE_PATH) -> dict[str, Any]:
    """Compute the marginal truths of the built-in scenarios (randomised and observational
    shares) and write them to ``path``. Returns the entries."""
    from rehab_outcomes.simulation.scenarios import SCENARIOS, load_params

    entries: dict[str, Any] = {}
    for scenario in SCENARIOS:
        params = load_params(scenario)
        for allocation in ("randomised", "equal", "observational"):
            key = truth_key(params, allocation, MARGINAL_SEEDS, MARGINAL_N, MARGINAL_BASE_SEED)
            if key in entries:
                continue  # randomised with equal probabilities is "equal"
            m = marginal_truth(params, allocation, use_stored=False)
            entries[key] = {"scenario": scenario, "allocation": allocation,
                            "samples": {k: v.tolist() for k, v in m.samples.items()}}
    record = {"version": TRUTH_VERSION,
              "note": "written by `python -m rehab_outcomes.simulation.truth`; keys: truth_key()",
              "entries": entries}
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    stored_truths.cache_clear()
    marginal_truth.cache_clear()
    return entries


__all__ = [
    "ALLOCATIONS",
    "ARM_TERMS",
    "DEFINITIONS",
    "ESTIMANDS",
    "MARGINAL_BASE_SEED",
    "MARGINAL_N",
    "MARGINAL_SEEDS",
    "MarginalTruth",
    "arm_cox",
    "censoring_weeks",
    "marginal_sample",
    "marginal_truth",
    "store_builtin_truths",
    "stored_truths",
    "truth_key",
]


if __name__ == "__main__":  # regenerate the stored table
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(f"{len(store_builtin_truths())} marginal truths written to {TABLE_PATH}")
