"""The power grid through a real single-node SLURM cluster equals the same grid run locally.

Starts the test cluster of scripts/slurm/ (root and apt needed), runs `snakemake power` with the
SLURM profile and with the local profile in two copies of the workflow, compares the tables and
stops the cluster. Without root or apt it is skipped, unless CI is set: then it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT
from test_power_workflow import SMALL_GRID, copy_workflow, snakemake

pytestmark = pytest.mark.slow

START = ROOT / "scripts/slurm/start_test_cluster.sh"
STOP = ROOT / "scripts/slurm/stop_test_cluster.sh"
SLURM_BINARIES = ("slurmctld", "slurmd", "sinfo", "sbatch", "munged")
# Status via squeue (no accounting daemon on the test cluster), checked early and often.
SLURM_OPTIONS = ("--slurm-status-command", "squeue",
                 "--slurm-init-seconds-before-status-checks", "5")


def missing_prerequisite() -> str | None:
    """Why the test cluster cannot be started here, or None if it can."""
    if os.geteuid() != 0:
        return "the SLURM test cluster needs root"
    installed = all(shutil.which(b) or Path("/usr/sbin", b).exists() for b in SLURM_BINARIES)
    if not installed and shutil.which("apt-get") is None:
        return "SLURM is not installed and apt-get is unavailable"
    return None


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, str]]:
    reason = missing_prerequisite()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is an error)")
        pytest.skip(reason)
    r = subprocess.run(["bash", str(START)], capture_output=True, text=True, check=False,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    conf = next(line.split("=", 1)[1] for line in r.stdout.splitlines()
                if line.startswith("export SLURM_CONF="))
    try:
        yield {**os.environ, "SLURM_CONF": conf}
    finally:
        subprocess.run(["bash", str(STOP)], capture_output=True, text=True, check=False,
                       timeout=120)


def test_power_grid_through_slurm_equals_the_local_run(
        cluster: dict[str, str], tmp_path: Path) -> None:
    sinfo = subprocess.run(["sinfo", "-h", "-o", "%P %t"], env=cluster, capture_output=True,
                           text=True, check=True)
    assert sinfo.stdout.split()[:2] == ["main*", "idle"], sinfo.stdout

    grid = {**SMALL_GRID, "trials": 4}
    via_slurm = copy_workflow(tmp_path / "slurm", grid)
    start = time.perf_counter()
    r = snakemake(via_slurm, "power", "--workflow-profile", "workflow/profiles/slurm",
                  *SLURM_OPTIONS, env=cluster, timeout=240)
    slurm_seconds = time.perf_counter() - start
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    # every job that computes something went through sbatch: 4 chunks, 2 + 1 gathers
    assert out.count("has been submitted with SLURM jobid") == 7, out[-4000:]

    local = copy_workflow(tmp_path / "local", grid)
    start = time.perf_counter()
    r = snakemake(local, "power", "--workflow-profile", "workflow/profiles/local")
    local_seconds = time.perf_counter() - start
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]

    for table in ("power.csv", "default/power.csv", "seed_claims/power.csv"):
        a = (via_slurm / "results/power" / table).read_bytes()
        b = (local / "results/power" / table).read_bytes()
        assert a == b and len(a) > 50, table
    print(f"SLURM run {slurm_seconds:.0f} s, local run {local_seconds:.0f} s")

