"""The power grid of the workflow (`snakemake power`): DAG, lint, profiles and a small local run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
CLI = str(Path(sys.executable).with_name("rehab-outcomes"))

SMALL_GRID = {
    "n_per_arm": [20, 30],
    "trials": 6,
    "chunks": 2,
    "scenarios": ["default", "seed_claims"],
    "design": "randomised",
    "test": "logrank",
    "alpha": 0.05,
    "seed": 3,
}


def copy_workflow(dest: Path, power: dict | None = None) -> Path:
    """Copy what the workflow needs (no results) to `dest`, with `power` as its grid.

    Parameters
    ----------
    dest : Path
        Folder to create.
    power : dict, optional
        The `power:` section of the config (default: the repository's own).

    Returns
    -------
    Path
        `dest`, ready for `snakemake --configfile config/test.yaml`.
    """
    dest.mkdir(parents=True)
    shutil.copy2(ROOT / "Snakefile", dest / "Snakefile")
    for sub in ("workflow", "config", "data"):
        shutil.copytree(ROOT / sub, dest / sub, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    if power is not None:
        cfg["power"] = power
    (dest / "config/test.yaml").write_text(yaml.safe_dump(cfg))
    return dest


def snakemake(work: Path, *args: str, timeout: float = 300,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run Snakemake in `work` with its test config."""
    cmd = [SNAKEMAKE, *args, "--configfile", "config/test.yaml"]
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False,
                          timeout=timeout, env=env)


def job_counts(text: str) -> dict[str, int]:
    """The `Job stats` table of a Snakemake run as {rule: count}."""
    table = text.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("power") / "wf", SMALL_GRID)


def test_dry_run_scatters_by_scenario_and_chunk(small: Path) -> None:
    r = snakemake(small, "power", "--dry-run", "--printshellcmds")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert job_counts(out) == {"power_chunk": 4, "power_gather_scenario": 2, "power_gather": 1,
                               "power": 1, "total": 8}
    for scenario in SMALL_GRID["scenarios"]:
        for chunk in (1, 2):
            assert f"results/power/chunks/{scenario}/{chunk}/power.csv" in out
            assert f"--scenario {scenario} --chunk {chunk} " in out
        assert f"results/power/{scenario}/power.csv" in out
    shells = [line for line in out.splitlines() if f"{CLI} power " in line]
    assert len(shells) == 4
    for line in shells:
        assert "--n-per-arm 20,30 " in line and "--trials 6 " in line and "--seed 3 " in line
        assert "--test logrank " in line and "--design randomised " in line
        assert "--alpha 0.05 " in line and "--n-chunks 2 " in line
    gathers = [line for line in out.splitlines() if f"{CLI} power-gather " in line]
    # one gather per scenario and one over all chunk folders of all scenarios
    assert len(gathers) == 3
    everything = [g for g in gathers if "--out results/power " in g]
    assert len(everything) == 1
    assert everything[0].count("results/power/chunks/") == 4


def test_chunks_and_scenarios_follow_the_config_with_the_local_profile(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf", {**SMALL_GRID, "chunks": 3, "scenarios": ["null"]})
    r = snakemake(work, "power", "--dry-run", "--workflow-profile", "workflow/profiles/local")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert job_counts(out) == {"power_chunk": 3, "power_gather_scenario": 1, "power_gather": 1,
                               "power": 1, "total": 6}
    assert "--chunk 3 --n-per-arm" in out and "--chunk 0 " not in out  # printshellcmds of the profile


@pytest.mark.slow
@pytest.mark.parametrize("target", ["results/power/default/power.csv",
                                    "results/power/chunks/null/x/power.csv"])
def test_wildcard_constraints_refuse_unknown_scenarios_and_chunks(tmp_path: Path,
                                                                  target: str) -> None:
    work = copy_workflow(tmp_path / "wf", {**SMALL_GRID, "scenarios": ["null"]})
    r = snakemake(work, target, "--dry-run")
    assert r.returncode != 0 and "MissingRuleException" in r.stdout + r.stderr


@pytest.mark.slow
def test_power_is_not_part_of_the_default_target(small: Path) -> None:
    r = snakemake(small, "--dry-run")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "power_chunk" not in out and "results/power" not in out


def test_profiles_and_lint(small: Path) -> None:
    for profile in ("local", "slurm"):
        cfg = yaml.safe_load((ROOT / f"workflow/profiles/{profile}/config.yaml").read_text())
        assert cfg["rerun-incomplete"] is True and cfg["keep-going"] is True
    slurm = yaml.safe_load((ROOT / "workflow/profiles/slurm/config.yaml").read_text())
    assert slurm["executor"] == "slurm" and slurm["jobs"] >= 1
    assert {"slurm_partition", "runtime", "mem_mb", "cpus_per_task"} <= set(
        slurm["default-resources"])
    r = snakemake(small, "--lint")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "power.smk" not in out and not re.search(r"Lints for rule power", out)


@pytest.mark.slow
def test_local_run_equals_one_unchunked_run(small: Path, tmp_path: Path) -> None:
    r = snakemake(small, "power", "--cores", "2")
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    res = small / "results/power"
    g = SMALL_GRID
    single = []
    for scenario in g["scenarios"]:
        out = tmp_path / scenario
        cmd = [CLI, "power", "--n-per-arm", ",".join(map(str, g["n_per_arm"])),
               "--scenario", scenario, "--design", g["design"], "--trials", str(g["trials"]),
               "--alpha", str(g["alpha"]), "--seed", str(g["seed"]), "--test", g["test"],
               "--out", str(out)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        assert (res / scenario / "power.csv").read_bytes() == (out / "power.csv").read_bytes()
        assert (res / scenario / "power.png").exists()
        single.append(str(out))
    both = tmp_path / "both"
    subprocess.run([CLI, "power-gather", *single, "--out", str(both)], check=True,
                   capture_output=True, timeout=300)
    assert (res / "power.csv").read_bytes() == (both / "power.csv").read_bytes()
    table = pd.read_csv(res / "power.csv")
    assert set(table["scenario"]) == set(g["scenarios"])
    assert set(table["n_per_arm"]) == set(g["n_per_arm"])
    assert (table["trials"] == g["trials"]).all()
    for scenario in g["scenarios"]:
        for chunk in (1, 2):
            assert (small / f"results/logs/power/chunks/{scenario}/{chunk}.log").exists()
    r = snakemake(small, "power", "--dry-run")
    assert "Nothing to be done" in r.stdout + r.stderr
