"""Write the small synthetic example export under data/example/.

Usage: python scripts/make_example_data.py [--out data/example]

The rows are made up (no real person): 240 episodes from four sites with a few deliberately broken
rows, so that ``rehab-outcomes validate`` has something to quarantine, plus a matching visits table
and a recode file showing how a clinic's own codes are translated explicitly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from rehab_outcomes.contract.schema import ARMS, DIAGNOSES

SEED = 20240611


def make_episodes(n: int = 240, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sites = rng.choice(["north", "south", "east", "west"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    arm = rng.choice(ARMS, size=n)
    first = pd.Timestamp("2023-01-02") + pd.to_timedelta(rng.integers(0, 540, n), unit="D")
    hr = np.select([arm == "strength_graded_running", arm == "stretching_only"], [1.5, 1.05], 1.0)
    weeks_pf = rng.weibull(0.8, n) * 14 / hr ** (1 / 0.8)
    follow = rng.uniform(20, 90, n)
    pf_seen = weeks_pf < follow
    pf_date = first + pd.to_timedelta(np.round(weeks_pf * 7), unit="D")
    weeks_re = rng.exponential(60, n)
    re_seen = pf_seen & (weeks_pf + weeks_re < follow)
    re_date = pf_date + pd.to_timedelta(np.maximum(1, np.round(weeks_re * 7)), unit="D")
    last = first + pd.to_timedelta(np.round(follow * 7), unit="D")
    lost = rng.random(n) < 0.2
    df = pd.DataFrame({
        "episode_id": [f"EP{i:05d}" for i in range(1, n + 1)],
        "patient_key": [f"PK{rng.integers(16**9):09x}" for _ in range(n)],
        "site": sites,
        "arm": arm,
        "diagnosis": rng.choice(DIAGNOSES[:3], size=n, p=[0.55, 0.30, 0.15]),
        "age_years": np.clip(np.round(rng.normal(31, 7, n)), 16, 70).astype(int),
        "sex": rng.choice(["female", "male"], size=n, p=[0.62, 0.38]),
        "bmi": np.round(rng.normal(23.3, 2.8, n), 1),
        "weekly_km_before_injury": np.round(np.exp(rng.normal(np.log(20), 0.5, n)), 1),
        "symptom_weeks": np.round(rng.gamma(2.0, 8.7, n), 1),
        "baseline_pain_nrs": np.clip(np.round(rng.normal(5, 1.5, n)), 2, 9).astype(int),
        "baseline_kujala": np.clip(np.round(rng.normal(75, 9, n)), 0, 100).astype(int),
        "first_visit_date": first.strftime("%Y-%m-%d"),
        "pain_free_run_date": np.where(pf_seen, pf_date.strftime("%Y-%m-%d"), ""),
        "reinjury_date": np.where(re_seen, re_date.strftime("%Y-%m-%d"), ""),
        "last_contact_date": last.strftime("%Y-%m-%d"),
        "exit_reason": np.where(lost, "lost_to_follow_up", "completed"),
    })
    df.loc[rng.random(n) < 0.08, "bmi"] = np.nan  # some missing BMI
    # deliberately broken rows, each breaking one rule of the contract
    df.loc[5, "age_years"] = 97                       # above 90: refused, never capped
    df.loc[11, "sex"] = "F"                           # clinic code: needs --recode
    df.loc[17, "arm"] = "Rest"                        # clinic code: needs --recode
    df.loc[23, "first_visit_date"] = "03/02/2023"     # not ISO
    df.loc[29, ["pain_free_run_date", "reinjury_date"]] = ["", "2023-09-01"]  # re-injury w/o return
    df.loc[31, "episode_id"] = "EP00030"              # duplicate id: both copies quarantined
    df.loc[37, "baseline_pain_nrs"] = 12              # out of range
    df.loc[41, "patient_key"] = "4010232137"          # looks like an NHS number (valid check digit)
    return df


def make_visits(episodes: pd.DataFrame, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    rows = []
    for ep in episodes.head(60).itertuples():
        start = pd.Timestamp(ep.first_visit_date) if "-" in ep.first_visit_date else None
        if start is None:
            continue
        end = pd.Timestamp(ep.last_contact_date)
        n_visits = max(1, min(8, (end - start).days // 14))
        for k in range(n_visits):
            rows.append({
                "episode_id": ep.episode_id,
                "visit_date": (start + pd.Timedelta(days=14 * k)).strftime("%Y-%m-%d"),
                "pain_nrs": int(max(0, ep.baseline_pain_nrs - k + rng.integers(-1, 2))),
                "run_minutes_week": float(min(90, 8 * k * 3)),
                "strength_sessions_week": 2 if ep.arm == "strength_graded_running" else 0,
            })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/example"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    episodes = make_episodes()
    episodes.to_csv(args.out / "episodes.csv", index=False, lineterminator="\n")
    make_visits(episodes).to_csv(args.out / "visits.csv", index=False, lineterminator="\n")
    (args.out / "recode.yaml").write_text(
        "# Example of an explicit recoding of a clinic's own codes (rehab-outcomes validate --recode)\n"
        "sex:\n  F: female\n  M: male\narm:\n  Rest: rest_only\n  Stretch: stretching_only\n"
        "  Strength: strength_graded_running\n",
        encoding="utf-8",
    )
    print(f"wrote {len(episodes)} episodes to {args.out}")


if __name__ == "__main__":
    main()
