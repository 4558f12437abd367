"""Shared fixtures: small clean exports in the shape a clinic would send."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

CLEAN_ROW = {
    "episode_id": "EP00001",
    "patient_key": "PKa1b2c3d4",
    "site": "north",
    "arm": "strength_graded_running",
    "diagnosis": "patellofemoral_pain",
    "age_years": "31",
    "sex": "female",
    "bmi": "23.1",
    "weekly_km_before_injury": "25.5",
    "symptom_weeks": "16",
    "baseline_pain_nrs": "5",
    "baseline_kujala": "74",
    "first_visit_date": "2024-01-08",
    "pain_free_run_date": "2024-03-04",
    "reinjury_date": "2024-09-02",
    "last_contact_date": "2025-01-06",
    "exit_reason": "completed",
}


def make_clean_export(n: int = 50, seed: int = 1) -> pd.DataFrame:
    """A raw export (all text, as read from CSV) whose rows all satisfy the contract."""
    rng = np.random.default_rng(seed)
    first = pd.Timestamp("2023-01-02") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    pf_weeks = rng.integers(1, 40, n)
    has_pf = rng.random(n) < 0.7
    has_re = has_pf & (rng.random(n) < 0.3)
    pf = first + pd.to_timedelta(pf_weeks * 7, unit="D")
    re = pf + pd.to_timedelta(rng.integers(1, 200, n), unit="D")
    last = re + pd.to_timedelta(rng.integers(0, 100, n), unit="D")
    df = pd.DataFrame({
        "episode_id": [f"EP{i:05d}" for i in range(n)],
        "patient_key": [f"PK{i:08d}x" for i in range(n)],
        "site": rng.choice(["north", "south", "east"], n),
        "arm": rng.choice(["rest_only", "stretching_only", "strength_graded_running"], n),
        "diagnosis": rng.choice(["patellofemoral_pain", "itb_syndrome"], n),
        "age_years": rng.integers(16, 70, n).astype(str),
        "sex": rng.choice(["female", "male"], n),
        "bmi": np.round(rng.normal(23, 2, n), 1).astype(str),
        "weekly_km_before_injury": np.round(rng.uniform(5, 60, n), 1).astype(str),
        "symptom_weeks": np.round(rng.uniform(0, 50, n), 1).astype(str),
        "baseline_pain_nrs": rng.integers(2, 9, n).astype(str),
        "baseline_kujala": rng.integers(50, 95, n).astype(str),
        "first_visit_date": first.strftime("%Y-%m-%d"),
        "pain_free_run_date": np.where(has_pf, pf.strftime("%Y-%m-%d"), None),
        "reinjury_date": np.where(has_re, re.strftime("%Y-%m-%d"), None),
        "last_contact_date": last.strftime("%Y-%m-%d"),
        "exit_reason": rng.choice(["completed", "lost_to_follow_up"], n),
    })
    return df.astype(pd.StringDtype("pyarrow"))


@pytest.fixture
def clean_export() -> pd.DataFrame:
    return make_clean_export()


def write_csv(df: pd.DataFrame, path: Path, bom: bool = False) -> Path:
    text = df.to_csv(index=False, lineterminator="\n")
    path.write_bytes(("\ufeff" if bom else "").encode("utf-8") + text.encode("utf-8"))
    return path


def copy_workflow(tmp_path: Path, cfg: dict) -> Path:
    """Snakefile, workflow/, config/ and data/ in tmp_path/wf, with `cfg` as config/test.yaml."""
    import yaml

    work = tmp_path / "wf"
    work.mkdir(parents=True)
    shutil.copy2(ROOT / "Snakefile", work / "Snakefile")
    for sub in ("workflow", "config", "data"):
        shutil.copytree(ROOT / sub, work / sub, ignore=shutil.ignore_patterns("__pycache__"))
    (work / "config/test.yaml").write_text(yaml.safe_dump(cfg))
    return work


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m rehab_outcomes ARGS`` in a subprocess, capturing output."""
    return subprocess.run(
        [sys.executable, "-m", "rehab_outcomes", *args],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )


def rscript_available() -> bool:
    return shutil.which("Rscript") is not None
