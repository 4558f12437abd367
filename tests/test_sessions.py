"""The optional training log (`sessions`) in the data contract: validated like visits."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_clean_export, run_cli, write_csv

from rehab_outcomes.contract.validate import run_validation


def _sessions(episodes: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, ep in episodes.head(10).iterrows():
        first = pd.Timestamp(ep["first_visit_date"])
        for k, kind in enumerate(["run", "strength", "cross_training", "run"]):
            rows.append({
                "episode_id": ep["episode_id"],
                "session_date": (first + pd.Timedelta(days=2 * k + 1)).strftime("%Y-%m-%d"),
                "session_type": kind,
                "run_minutes": "8" if kind == "run" else "0",
                "walk_minutes": "16" if kind == "run" else "0",
                "pain_during_nrs": "2",
                "pain_next_day_nrs": "" if k == 3 else "1",
                "cadence_spm": "172" if kind == "run" and k == 0 else "",
            })
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("column", "value", "rule"), [
    ("session_type", "yoga", "session_type:isin("),
    ("run_minutes", "400", "run_minutes:less_than_or_equal_to(300)"),
    ("pain_during_nrs", "11", "pain_during_nrs:less_than_or_equal_to(10)"),
    ("pain_next_day_nrs", "2.5", "pain_next_day_nrs:type:integer"),
    ("cadence_spm", "90", "cadence_spm:greater_than_or_equal_to(120)"),
    ("session_date", "2001-01-01", "session_date:session_within_episode"),
    ("episode_id", "EP99999", "episode_id:episode_exists"),
    ("episode_id", "EP 07700 900123", "episode_id:not_identifying"),
])
def test_each_session_rule_quarantines_a_bad_row(tmp_path: Path, column: str, value: str,
                                                 rule: str) -> None:
    ep = make_clean_export(20)
    ses = _sessions(ep)
    ses.loc[0, column] = value
    run = run_validation(write_csv(ep, tmp_path / "e.csv"), tmp_path / "o",
                         sessions_path=write_csv(ses, tmp_path / "s.csv"))
    assert run.sessions is not None
    assert run.sessions.n_quarantined == 1 and run.sessions.n_valid == len(ses) - 1
    assert any(r.startswith(rule) for r in run.report["sessions"]["rows_by_rule"])
    assert "07700" not in (tmp_path / "o/sessions_quarantine.csv").read_text()


def test_cadence_only_on_runs_and_clean_log_passes(tmp_path: Path) -> None:
    ep = make_clean_export(20)
    ses = _sessions(ep)
    r = run_cli("validate", str(write_csv(ep, tmp_path / "e.csv")), "--sessions",
                str(write_csv(ses, tmp_path / "s.csv")), "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "o/validation.json").read_text())
    assert report["sessions"]["n_quarantined"] == 0
    valid = pd.read_parquet(tmp_path / "o/sessions.valid.parquet")
    assert len(valid) == len(ses) and str(valid["pain_next_day_nrs"].dtype) == "Int64"
    ses.loc[1, "cadence_spm"] = "170"  # a strength session with a cadence
    run = run_validation(write_csv(ep, tmp_path / "e.csv"), tmp_path / "o2",
                         sessions_path=write_csv(ses, tmp_path / "s2.csv"))
    assert run.report["sessions"]["rows_by_rule"] == {"cadence_spm:cadence_only_for_runs": 1}


def test_mapping_applies_to_the_sessions_table(tmp_path: Path) -> None:
    ep = make_clean_export(20)
    ses = _sessions(ep).rename(columns={"session_type": "Activity"})
    ses["Activity"] = ses["Activity"].map({"run": "Run", "strength": "Gym",
                                           "cross_training": "Bike"})
    (tmp_path / "m.yaml").write_text(
        "columns: {Activity: session_type}\n"
        "values: {session_type: {Run: run, Gym: strength, Bike: cross_training}}\n")
    run = run_validation(write_csv(ep, tmp_path / "e.csv"), tmp_path / "o",
                         sessions_path=write_csv(ses, tmp_path / "s.csv"),
                         mapping_path=tmp_path / "m.yaml")
    assert run.report["sessions"]["n_quarantined"] == 0
    assert run.report["sessions"]["recoded"]["session_type"]["Gym -> strength"] == 10


def test_simulated_training_log_is_valid(tmp_path: Path) -> None:
    r = run_cli("-q", "simulate", "--model", "load-capacity", "--n", "150", "--seed", "3",
                "--out", str(tmp_path / "sim"))
    assert r.returncode == 0, r.stderr
    r = run_cli("-q", "validate", str(tmp_path / "sim/episodes.csv"), "--visits",
                str(tmp_path / "sim/visits.csv"), "--sessions", str(tmp_path / "sim/sessions.csv"),
                "--strict", "--out", str(tmp_path / "val"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "val/validation.json").read_text())
    assert report["sessions"]["n_in"] == report["sessions"]["n_valid"] > 1000
