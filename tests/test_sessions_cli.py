"""A training log from end to end on the command line: `simulate --model load-capacity` ->
`validate --sessions` -> `analyse --sessions --policy-truth`.

Numbers of the simulator are never hard-coded here (its parameters are recalibrated from time to
time): only the shape of the outputs and which claims can be assessed. That a bad session row is
quarantined (never dropped) is tested rule by rule in test_sessions.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

from rehab_outcomes.contract.io import sha256_of
from rehab_outcomes.survival.pipeline import MANAGED_OUTPUTS, SESSION_PARQUET, SESSION_TABLES

#: The claims that need a training log (docs/claims.md).
SESSION_CLAIMS = ["4", "5", "6"]


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated load-capacity cohort (1,500 runners, seed 3), validated with its sessions."""
    tmp = tmp_path_factory.mktemp("sessions_cli")
    r = run_cli("-q", "simulate", "--model", "load-capacity", "--n", "1500", "--seed", "3",
                "--out", str(tmp / "sim"))
    assert r.returncode == 0, r.stderr
    for name in ("episodes.csv", "visits.csv", "sessions.csv", "truth.json", "policy_truth.csv"):
        assert (tmp / "sim" / name).stat().st_size > 0, name
    r = run_cli("-q", "validate", str(tmp / "sim/episodes.csv"), "--visits",
                str(tmp / "sim/visits.csv"), "--sessions", str(tmp / "sim/sessions.csv"),
                "--out", str(tmp / "val"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp / "val/validation.json").read_text())
    ses = report["sessions"]
    assert ses["n_quarantined"] == 0 and ses["n_valid"] == ses["n_in"] > 0
    assert (tmp / "val/sessions.valid.parquet").is_file()
    return tmp


def _analyse(tmp: Path, out: str, *extra: str) -> Path:
    # without --visits: the pain trajectories are tested elsewhere and take time
    r = run_cli("-q", "analyse", str(tmp / "val/episodes.valid.parquet"), "--validation",
                str(tmp / "val/validation.json"), *extra, "--out", str(tmp / out))
    assert r.returncode == 0, r.stderr
    return tmp / out


def _verdicts(folder: Path) -> pd.Series:
    claims = pd.read_csv(folder / "claims.csv", dtype={"claim_id": str})
    return claims.set_index("claim_id")["verdict"]


@pytest.mark.slow
def test_analyse_with_sessions_adds_the_time_varying_tables_and_claims_4_to_6(
        validated: Path) -> None:
    ses_file = validated / "val/sessions.valid.parquet"
    out = _analyse(validated, "an", "--sessions", str(ses_file), "--policy-truth",
                   str(validated / "sim/policy_truth.csv"))
    for table in SESSION_TABLES:
        assert len(pd.read_csv(out / f"{table}.csv")) > 0, table
    assert len(pd.read_parquet(out / SESSION_PARQUET)) > 0
    verdicts = _verdicts(out)
    assert (verdicts.loc[SESSION_CLAIMS] != "not_assessable").all(), verdicts.to_dict()
    summary = json.loads((out / "summary.json").read_text())
    prov = summary["provenance"]
    assert prov["sessions_file"] == "sessions.valid.parquet"
    assert prov["sessions_sha256"] == sha256_of(ses_file)
    assert summary["sessions"]["n_sessions"] == len(pd.read_parquet(ses_file))
    assert summary["sessions"]["policy_truth"] is not None
    # the folder holds exactly the files of this run: no file outside the managed ones
    assert {p.name for p in out.iterdir()} <= set(MANAGED_OUTPUTS)


@pytest.mark.slow
def test_analyse_without_sessions_leaves_claims_4_to_6_not_assessable(validated: Path) -> None:
    out = _analyse(validated, "an_without")
    verdicts = _verdicts(out)
    assert (verdicts.loc[SESSION_CLAIMS] == "not_assessable").all(), verdicts.to_dict()
    for table in SESSION_TABLES:
        assert not (out / f"{table}.csv").exists(), table
    assert not (out / SESSION_PARQUET).exists()
    summary = json.loads((out / "summary.json").read_text())
    assert "sessions_file" not in summary["provenance"]
