"""Validated cohorts for the dashboard tests: tiny sites, a small arm, known provenance.

- :func:`make_cohort`: sites of 3, 7, 12, 40 and 400 episodes; in "Dunmore" (40 episodes)
  stretching only has four.
- :func:`make_attack_cohort`: the measured disclosure attacks: a site of 12 split 11/0/1, a site
  of 20 split 10/10/0, two sites split 20/20/10, and an arm of 93 with only 3 pain-free events
  (beside two large sites).
- :func:`make_sessions`: a validated training log of a cohort's strength + graded running
  episodes (a few of them without a log), for the pain-rule section.

The rows go through :func:`validate_episodes`, so their types are exactly those of
``episodes.valid.parquet``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rehab_outcomes.contract import validate_episodes

RUN_DATE = "2025-06-01"
ADMIN_END = pd.Timestamp(RUN_DATE)
SITE_ARMS: dict[str, tuple[int, int, int]] = {
    # site: (rest only, stretching only, strength + graded running)
    "Ashby": (1, 1, 1),
    "Brook": (2, 3, 2),
    "Calder": (4, 4, 4),
    "Dunmore": (18, 4, 18),
    "Elmfield": (130, 130, 140),
}
ARM_ORDER = ("rest_only", "stretching_only", "strength_graded_running")
#: Weekly hazard of reaching pain-free running, by arm, among those who ever will.
PAIN_FREE_HAZARD = {"rest_only": 0.07, "stretching_only": 0.075, "strength_graded_running": 0.11}
NEVER_PAIN_FREE = 0.3
#: Weekly hazard of re-injury after return (≈ 29 % by 26 weeks for rest only).
REINJURY_HAZARD = {"rest_only": 0.013, "stretching_only": 0.0125, "strength_graded_running": 0.011}
LOSS_HAZARD = -np.log(0.75) / 52.0  # 25 % lost by a year
CONFIG = {"seed": 20240611, "dashboard": {"threshold_note": "default"}, "hazard_ratio": 1.5}


#: Sites of the attack cohort (rest only, stretching only, strength + graded running).
ATTACK_SITE_ARMS: dict[str, tuple[int, int, int]] = {
    "Kirkby": (11, 0, 1),
    "Lowfield": (10, 10, 0),
    "Marsh": (20, 20, 10),
    "Northgate": (20, 20, 10),
    "Oakham": (150, 160, 93),
    "Pellow": (300, 280, 310),
}
#: (site, arm) -> the number of its episodes that ever become pain-free.
ATTACK_FEW_EVENTS: dict[tuple[str, str], int] = {("Oakham", "strength_graded_running"): 3}


def make_raw(seed: int = 20240611, site_arms: dict[str, tuple[int, int, int]] | None = None,
             few_events: dict[tuple[str, str], int] | None = None) -> pd.DataFrame:
    """Raw text export of the cohort (as a clinic would send it).

    ``few_events``: (site, arm) groups in which only the first so many episodes ever become
    pain-free (the others are followed without the event).
    """
    site_arms = SITE_ARMS if site_arms is None else site_arms
    rng = np.random.default_rng(seed)
    site = np.concatenate([np.repeat(s, sum(c)) for s, c in site_arms.items()])
    arm = np.concatenate([np.repeat(ARM_ORDER, c) for c in site_arms.values()])
    n = len(site)
    first = pd.Timestamp("2023-01-02") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    admin = (ADMIN_END - first).days.to_numpy().astype(float) / 7.0
    hazard = np.array([PAIN_FREE_HAZARD[a] for a in arm])
    pf = np.where(rng.random(n) < NEVER_PAIN_FREE, np.inf, rng.exponential(1.0 / hazard) + 1.0)
    for (s_name, a_name), keep in (few_events or {}).items():
        rows = np.flatnonzero((site == s_name) & (arm == a_name))
        pf[rows[keep:]] = np.inf
        pf[rows[:keep]] = 3.0 + np.arange(keep)
    loss = rng.exponential(1.0 / LOSS_HAZARD, n) + 0.5
    re_h = np.array([REINJURY_HAZARD[a] for a in arm])
    re = pf + rng.exponential(1.0 / re_h)
    end = np.minimum(np.minimum(loss, admin), 104.0)
    has_pf = pf < end
    has_re = has_pf & (re < end)
    last = np.where(has_re, np.maximum(re, end), end)
    last = np.minimum(last, admin)

    def date(weeks: np.ndarray, ok: np.ndarray) -> list[str | None]:
        days = np.round(np.where(ok, weeks, 0.0) * 7.0).astype(int)
        dates = first + pd.to_timedelta(days, unit="D")
        return [d.strftime("%Y-%m-%d") if k else None for d, k in zip(dates, ok, strict=True)]

    pf_days = np.round(np.where(has_pf, pf, 0) * 7)
    re_days = np.maximum(np.round(np.where(has_re, re, 0) * 7), pf_days + 1)
    last_days = np.maximum(np.round(last * 7), np.where(has_re, re_days, pf_days))
    lost = (loss < admin) & (loss < 104.0)
    exit_reason = np.where(lost, "lost_to_follow_up", "completed")
    return pd.DataFrame({
        "episode_id": [f"EP{i:05d}" for i in range(n)],
        "patient_key": [f"PK{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}x{i:05d}" for i in range(n)],
        "site": site,
        "arm": arm,
        "diagnosis": rng.choice(["patellofemoral_pain", "itb_syndrome", "patellar_tendinopathy"],
                                n, p=[0.55, 0.3, 0.15]),
        "age_years": np.clip(np.round(rng.normal(31, 7, n)), 16, 70).astype(int).astype(str),
        "sex": rng.choice(["female", "male"], n, p=[0.62, 0.38]),
        "bmi": np.round(rng.normal(23.3, 2.8, n).clip(16, 40), 1).astype(str),
        "weekly_km_before_injury": np.round(rng.lognormal(np.log(20), 0.5, n), 1).astype(str),
        "symptom_weeks": np.round(rng.gamma(2.0, 8.0, n), 1).astype(str),
        "baseline_pain_nrs": rng.integers(2, 10, n).astype(str),
        "baseline_kujala": rng.integers(50, 95, n).astype(str),
        "first_visit_date": first.strftime("%Y-%m-%d"),
        "pain_free_run_date": date(pf_days / 7, has_pf),
        "reinjury_date": date(re_days / 7, has_re),
        "last_contact_date": date(last_days / 7, np.ones(n, dtype=bool)),
        "exit_reason": exit_reason,
    })


def make_cohort(seed: int = 20240611) -> pd.DataFrame:
    """Validated episodes of the cohort (every row valid)."""
    raw = make_raw(seed)
    result = validate_episodes(raw)
    assert result.n_quarantined == 0, result.quarantine.head()
    return result.valid


def make_attack_cohort(seed: int = 20240611) -> pd.DataFrame:
    """Validated episodes of the attack cohort (see the module docstring)."""
    result = validate_episodes(make_raw(seed, ATTACK_SITE_ARMS, ATTACK_FEW_EVENTS))
    assert result.n_quarantined == 0, result.quarantine.head()
    return result.valid


#: Strength + graded running episodes without a training log, per site (by default).
UNLOGGED: dict[str, int] = {"Dunmore": 3, "Elmfield": 2, "Pellow": 3}


def make_sessions(cohort: pd.DataFrame, seed: int = 7,
                  unlogged: dict[str, int] | None = None) -> pd.DataFrame:
    """A validated training log of the strength + graded running episodes of ``cohort``.

    Over the first twelve weeks of follow-up (to the last contact): a run every third day, 30 %
    of them not logged, with pain during 0–4 and next-day pain 0–2 at random; after a run with
    pain above 2 the runner steps up (15 % more minutes) with probability 0.25, otherwise with
    probability 0.6; a strength session every week. The first ``unlogged[site]`` episodes of a
    site keep no log.
    """
    from rehab_outcomes.contract.validate import validate_sessions

    unlogged = UNLOGGED if unlogged is None else unlogged
    rng = np.random.default_rng(seed)
    graded = cohort[cohort["arm"].astype(str) == "strength_graded_running"]
    skipped: dict[str, int] = {}
    rows: list[dict[str, str | None]] = []
    for ep in graded.itertuples(index=False):
        site = str(ep.site)
        if skipped.get(site, 0) < unlogged.get(site, 0):
            skipped[site] = skipped.get(site, 0) + 1
            continue
        first = pd.Timestamp(ep.first_visit_date)
        days = min(int((pd.Timestamp(ep.last_contact_date) - first).days), 84)
        minutes, pain = 8.0, 0
        for day in range(0, days + 1):
            date = (first + pd.Timedelta(days=day)).strftime("%Y-%m-%d")
            if day % 7 == 1:
                rows.append({"episode_id": str(ep.episode_id), "session_date": date,
                             "session_type": "strength", "run_minutes": "0",
                             "walk_minutes": "0", "pain_during_nrs": "1",
                             "pain_next_day_nrs": None, "cadence_spm": None})
            if day % 3 or rng.random() < 0.3:  # a run every third day, some not logged
                continue
            if rng.random() < (0.25 if pain > 2 else 0.6):
                minutes = min(round(minutes * 1.15, 1), 60.0)
            pain = int(rng.integers(0, 5))
            rows.append({"episode_id": str(ep.episode_id), "session_date": date,
                         "session_type": "run", "run_minutes": f"{minutes:g}",
                         "walk_minutes": "10", "pain_during_nrs": str(pain),
                         "pain_next_day_nrs": str(int(rng.integers(0, 3))), "cadence_spm": None})
    result = validate_sessions(pd.DataFrame(rows).astype(pd.StringDtype("pyarrow")), cohort)
    assert result.n_quarantined == 0, result.quarantine.head()
    return result.valid


def write_analysis(cohort: pd.DataFrame, folder: Path, sessions: pd.DataFrame | None = None
                   ) -> Path:
    """Run the package's analysis on ``cohort`` into ``folder`` (as `rehab-outcomes analyse`,
    with ``--sessions`` when a training log is given)."""
    import warnings

    from rehab_outcomes.survival.pipeline import run_analysis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_analysis(cohort, provenance={}, sessions=sessions).write(folder)
    return folder


def make_validation(n_valid: int) -> dict[str, Any]:
    """A ``validation.json`` report with a few quarantined rows (all small counts)."""
    rows_by_rule = {
        "age_years:less_than_or_equal_to(90)": 4,
        "episode_id:field_uniqueness": 2,
        "first_visit_date:type:iso_date": 1,
    }
    return {
        "input": {"file": "episodes.csv", "sha256": "ab" * 32},
        "contract_version": "1.0.0",
        "package_version": "0.1.0",
        "n_in": n_valid + 7,
        "n_valid": n_valid,
        "n_quarantined": 7,
        "failures_by_rule": dict(rows_by_rule),
        "rows_by_rule": rows_by_rule,
        "columns_ignored": [],
        "recoded": {},
    }


def provenance(run_date: str = RUN_DATE) -> dict[str, Any]:
    """Provenance passed to :func:`build_dashboard` in the tests."""
    return {"run_date": run_date, "config": CONFIG, "package_version": "0.1.0",
            "data_file": "episodes.csv", "data_sha256": "ab" * 32}
