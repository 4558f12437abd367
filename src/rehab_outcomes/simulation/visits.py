"""Clinic visits while in care: weekly to fortnightly, following the graded return to running.

Each episode is seen at its first visit (day 0), then every 7 or 14 days until the pain-free
date (one visit on that date records it), the end of follow-up, or the end of active care
(``max_care_weeks``), whichever comes first. The walk–run stage rises with the share of the way
to the episode's (latent) pain-free date; the final stage (continuous running) and pain at or
below the threshold are reached together at the pain-free visit and not before. A visit at
which the stage steps up records pain at or below the threshold (the progression rule); a visit
without a step records pain above it (or, before running starts, pain with daily activity).

Everything is vectorised over episodes × visit slots, in fixed-size chunks to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from rehab_outcomes.contract.schema import ARMS
from rehab_outcomes.simulation.params import VisitParams

#: Episodes per chunk (fixed: the random draws depend on it).
CHUNK = 100_000
_STR = pd.StringDtype("pyarrow")


@dataclass(frozen=True)
class VisitInputs:
    """What the visit generator needs from the episodes (one entry per episode)."""

    episode_id: pa.Array
    first_date: np.ndarray  # datetime64[D]
    arm: np.ndarray  # int8 codes into ARMS
    baseline_pain: np.ndarray  # int64
    pf_day_latent: np.ndarray  # int64, days from first visit to the latent pain-free date (>= 1)
    pf_observed: np.ndarray  # bool
    end_day: np.ndarray  # int64, days from first visit to last contact


def _chunk(rng: np.random.Generator, x: VisitInputs, lo: int, hi: int, v: VisitParams) -> dict[str, np.ndarray]:
    k = hi - lo
    care_cap = 7 * v.max_care_weeks
    m = care_cap // min(v.interval_days) + 1
    n_stage = len(v.stage_run_minutes)
    thr = v.pain_threshold
    arm = x.arm[lo:hi]
    base = x.baseline_pain[lo:hi].astype(float)
    d_pf = x.pf_day_latent[lo:hi]
    end = x.end_day[lo:hi]

    # visit days: regular slots, then one slot for the pain-free visit
    if len(v.interval_days) == 2:
        gaps = np.where(rng.random((k, m - 1)) < v.weekly_share, v.interval_days[0], v.interval_days[1])
    else:
        gaps = np.full((k, m - 1), v.interval_days[0])
    days = np.zeros((k, m + 1), dtype=np.int64)
    days[:, 1:m] = np.cumsum(gaps, axis=1)
    pf_visit = x.pf_observed[lo:hi] & (d_pf <= care_cap)
    stop = np.where(pf_visit, d_pf - 1, np.minimum(end, care_cap))
    keep = np.zeros((k, m + 1), dtype=bool)
    keep[:, :m] = days[:, :m] <= stop[:, None]
    days[:, m] = d_pf
    keep[:, m] = pf_visit

    # walk-run stage from progress towards the pain-free date
    progress = days / d_pf[:, None].astype(float)
    rest = np.asarray(v.rest_share_before_running, dtype=float)[arm][:, None]
    q = (progress - rest) / (1.0 - rest)
    stage = np.where(q <= 0, 0, np.minimum(n_stage - 1, 1 + np.floor(q * (n_stage - 1)))).astype(np.int64)
    stage[:, m] = n_stage
    stepped = np.zeros((k, m + 1), dtype=bool)
    stepped[:, 1:m] = stage[:, 1:m] > stage[:, : m - 1]
    stepped[:, m] = True

    # pain: <= threshold when stepping up, above it when held while running
    p = np.clip(progress, 0.0, 1.0)
    noise = rng.normal(0.0, 0.7, (k, m + 1))
    low = rng.integers(0, thr + 1, (k, m + 1))
    held_running = np.clip(np.rint(thr + 1 + np.maximum(base[:, None] - thr - 1, 0) * (1 - p) + noise),
                           thr + 1, 10)
    resting = np.clip(np.rint(base[:, None] * (1 - 0.5 * p) + noise), 0, 10)
    pain = np.where(stepped, low, np.where(stage > 0, held_running, resting)).astype(np.int64)
    pain[:, 0] = x.baseline_pain[lo:hi]

    # weekly load
    missed_run = rng.random((k, m + 1)) < v.missed_session_probability
    runs = np.where(stage > 0, v.run_sessions_per_week - missed_run, 0)
    runs[:, m] = np.maximum(runs[:, m], 1)
    minutes = np.concatenate([[0.0], np.asarray(v.stage_run_minutes, dtype=float)])
    run_minutes = runs * minutes[stage]
    missed_strength = rng.random((k, m + 1)) < v.missed_session_probability
    is_strength = (arm == ARMS.index("strength_graded_running"))[:, None]
    strength = np.where(is_strength, np.maximum(v.strength_sessions_per_week - missed_strength, 0), 0)
    strength[:, 0] = 0

    rows, cols = np.nonzero(keep)
    return {
        "row": rows + lo,
        "day": days[rows, cols],
        "pain": pain[rows, cols],
        "run_minutes": run_minutes[rows, cols].astype(float),
        "strength": strength[rows, cols].astype(np.int64),
        "stage": stage[rows, cols],
    }


def simulate_visits(rng: np.random.Generator, x: VisitInputs, v: VisitParams) -> pd.DataFrame:
    """The visits table of a cohort, typed as the contract's ``Visits`` model (parsed form)."""
    n = len(x.arm)
    parts = [_chunk(rng, x, lo, min(lo + CHUNK, n), v) for lo in range(0, n, CHUNK)]
    cat = {key: np.concatenate([p[key] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
           for key in ("row", "day", "pain", "run_minutes", "strength", "stage")}
    dates = x.first_date[cat["row"]] + cat["day"].astype("timedelta64[D]")
    return pd.DataFrame({
        "episode_id": pd.arrays.ArrowStringArray(x.episode_id.take(pa.array(cat["row"]))),
        "visit_date": dates.astype("datetime64[ns]"),
        "pain_nrs": pd.array(cat["pain"], dtype="Int64"),
        "run_minutes_week": cat["run_minutes"].astype(float),
        "strength_sessions_week": pd.array(cat["strength"], dtype="Int64"),
        "walk_run_stage": pd.array(cat["stage"], dtype="Int64"),
    })
