"""Training logs in the Snakemake workflow: the load-capacity simulator (simulate.model) and a
clinic's own log (records.sessions) reach `validate --sessions` and `analyse --sessions`, and the
analyse rule declares the time-varying tables (named by the pipeline's constants)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import copy_workflow

from rehab_outcomes.survival.pipeline import SESSION_PARQUET, SESSION_TABLES

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
CLI = str(Path(sys.executable).with_name("rehab-outcomes"))
LOADCAP = {"simulate": {"model": "load-capacity", "n": 1500}}


def _snakemake(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SNAKEMAKE, *args, "--configfile", "config/test.yaml"], cwd=work,
                          capture_output=True, text=True, check=False, timeout=900)


def _commands(work: Path) -> dict[str, list[str]]:
    """The arguments of each `rehab-outcomes COMMAND` of a dry run (up to the `>` of the log)."""
    r = _snakemake(work, "--dry-run", "--printshellcmds")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    commands = {}
    for line in out.splitlines():
        if line.startswith(f"Shell command: {CLI} "):
            argv = shlex.split(line.split("Shell command:", 1)[1])
            commands[argv[1]] = argv[:argv.index(">")]
    return commands


def _option(argv: list[str], option: str) -> str | None:
    return argv[argv.index(option) + 1] if option in argv else None


def test_dry_run_passes_the_training_log_of_records(tmp_path: Path) -> None:
    cfg = {"source": "records", "records": {"episodes": "data/example/episodes.csv",
                                            "sessions": "data/my log.csv"}}
    work = copy_workflow(tmp_path, cfg)
    (work / "data/my log.csv").write_text("")  # a dry run only needs the file to exist
    cmds = _commands(work)
    assert _option(cmds["validate"], "--sessions") == "data/my log.csv"
    assert _option(cmds["analyse"], "--sessions") == "results/validate/sessions.valid.parquet"
    assert "--policy-truth" not in cmds["analyse"] and "simulate" not in cmds


def test_dry_run_of_the_load_capacity_model(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path, LOADCAP)
    cmds = _commands(work)
    assert _option(cmds["simulate"], "--model") == "load-capacity"
    assert _option(cmds["validate"], "--sessions") == "results/simulate/sessions.csv"
    assert _option(cmds["analyse"], "--sessions") == "results/validate/sessions.valid.parquet"
    assert _option(cmds["analyse"], "--policy-truth") == "results/simulate/policy_truth.csv"
    # the Weibull model (the default) has no training log
    (work / "config/test.yaml").write_text(yaml.safe_dump({"simulate": {"n": 100}}))
    cmds = _commands(work)
    assert _option(cmds["simulate"], "--model") == "weibull"
    assert "--sessions" not in cmds["validate"] and "--sessions" not in cmds["analyse"]
    assert "--policy-truth" not in cmds["analyse"]


def test_load_capacity_with_a_scenario_is_refused_naming_the_key(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path, {"simulate": {"model": "load-capacity",
                                                  "scenario": "seed_claims"}})
    r = _snakemake(work, "--dry-run")
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "simulate.scenario" in out and "load-capacity" in out, out[-2000:]


@pytest.mark.slow
def test_workflow_on_the_load_capacity_model(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path, LOADCAP)
    r = _snakemake(work, "--cores", "2")
    assert r.returncode == 0, r.stderr[-4000:]
    res = work / "results"
    for name in ("sessions.csv", "policy_truth.csv"):
        assert (res / "simulate" / name).stat().st_size > 0, name
    report = json.loads((res / "validate/validation.json").read_text())
    assert report["sessions"]["n_quarantined"] == 0 and report["sessions"]["n_valid"] > 0
    for table in SESSION_TABLES:
        assert len(pd.read_csv(res / f"analyse/{table}.csv")) > 0, table
    assert len(pd.read_parquet(res / f"analyse/{SESSION_PARQUET}")) > 0
    summary = json.loads((res / "analyse/summary.json").read_text())
    assert summary["provenance"]["sessions_file"] == "sessions.valid.parquet"
    assert summary["run_config"]["simulate"]["model"] == "load-capacity"
    claims = pd.read_csv(res / "analyse/claims.csv", dtype={"claim_id": str}).set_index("claim_id")
    assert (claims.loc[["4", "5", "6"], "verdict"] != "not_assessable").all()
    html = (res / "dashboard/index.html").read_text()
    assert "<html" in html and "http://" not in html and "https://" not in html
    assert (res / "report/workflow.rst").is_file()
    assert (res / "logs/analyse.log").is_file()
    r = _snakemake(work, "--cores", "2", "--dry-run")
    assert "Nothing to be done" in r.stdout + r.stderr
