"""Config values and file names never run as shell code, and names cannot leave the outdir.

Measured before the fix: a covariate ``age_years$(id > x.txt)``, ``records.sheet``,
``simulate.params``, ``power.scenarios`` and an episodes file named ``x$(id>y).csv`` each ran
``id``; a path with a space broke the run; a power scenario ``../x`` wrote outside results/.
Each case here either fails at the start with a config error naming the key, or runs with the
value passed as one literal argument; and the file that the injected command would create never
exists.
"""

from __future__ import annotations

import json
import shlex
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

INJECT = "$(id > x.txt)"
#: Files that the injected commands of these tests would create.
SIDE_EFFECTS = ("x.txt", "y.txt", "bt.txt")
#: A file name with spaces, both quotes, `;`, `$(...)` and backticks.
ODD = "we ird 'q' \"dq\"; `id>bt.txt` $(id > x.txt) $(id>y.txt)"


def copy_workflow(dest: Path) -> Path:
    """What the workflow needs (Snakefile, workflow/, config/, data/), without results."""
    dest.mkdir(parents=True)
    shutil.copy2(ROOT / "Snakefile", dest / "Snakefile")
    for sub in ("workflow", "config", "data"):
        shutil.copytree(ROOT / sub, dest / sub, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def snakemake(work: Path, cfg: dict, *args: str) -> subprocess.CompletedProcess:
    (work / "config/test.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return subprocess.run([SNAKEMAKE, *args, "--configfile", "config/test.yaml"], cwd=work,
                          capture_output=True, text=True, check=False, timeout=600)


def assert_no_side_effect(work: Path) -> None:
    for name in SIDE_EFFECTS:
        assert not list(work.parent.rglob(name)), f"an injected command created {name}"


def shell_argv(out: str, command: str) -> list[str]:
    """The arguments of the printed shell command of `rehab-outcomes COMMAND` (up to `>`)."""
    lines = [line for line in out.splitlines() if f"{CLI} {command} " in line]
    assert len(lines) == 1, out[-3000:]
    argv = shlex.split(lines[0].split("Shell command:", 1)[-1].strip())
    return argv[:argv.index(">")]


def follows(argv: list[str], option: str, value: str) -> bool:
    return any(a == option and b == value for a, b in zip(argv, argv[1:], strict=False))


RECORDS = {"source": "records", "records": {"episodes": "data/example/episodes.csv"}}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path / "wf")


# ----------------------------------------------------------------------------------------------
# names refused by the schema, before anything runs


@pytest.mark.parametrize(("key", "cfg"), [
    ("analysis.covariates", {"analysis": {"covariates": ["arm", f"age_years{INJECT}"]}}),
    ("power.scenarios", {"power": {"scenarios": ["../x"]}}),
    ("power.scenarios", {"power": {"scenarios": ["default", INJECT]}}),
    ("records.sheet", {**RECORDS, "records": {**RECORDS["records"], "sheet": f"../{INJECT}"}}),
    ("records.episodes", {"source": "records"}),
    ("records.episodes", {"source": "records", "records": {"episodes": "data/{x}.csv"}}),
    ("outdir", {"outdir": "results/{x}"}),
])
def test_bad_names_fail_with_a_config_error_naming_the_key(work: Path, key: str,
                                                           cfg: dict) -> None:
    r = snakemake(work, cfg, "--dry-run")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-2000:]
    assert "invalid config" in out and key in out, out[-2000:]
    assert_no_side_effect(work)
    assert not (work / "results").exists() and not (work.parent / "x").exists()


# ----------------------------------------------------------------------------------------------
# values accepted by the schema reach the CLI as one literal argument each


def test_values_are_passed_as_single_arguments(work: Path) -> None:
    for name in (f"sim {INJECT}.yaml", f"map {ODD}.yaml"):
        (work / "data" / name).write_text("{}\n")
    outdir = f"runs/a b; {INJECT}"
    r = snakemake(work, {"outdir": outdir, "simulate": {"params": f"data/sim {INJECT}.yaml"}},
                  "--dry-run", "--printshellcmds")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    sim = shell_argv(out, "simulate")
    assert follows(sim, "--config", f"data/sim {INJECT}.yaml")
    assert follows(sim, "--out", f"{outdir}/simulate")
    snapshot = shell_argv(out, "config snapshot")
    assert json.loads(snapshot[snapshot.index("--json") + 1])["outdir"] == outdir

    for sheet in (INJECT, "{x}`id>bt.txt`"):
        cfg = {"source": "records", "records": {
            "episodes": f"data/{ODD}.xlsx", "sheet": sheet, "mapping": f"data/map {ODD}.yaml"}}
        (work / f"data/{ODD}.xlsx").write_bytes(b"")
        r = snakemake(work, cfg, "--dry-run", "--printshellcmds")
        out = r.stdout + r.stderr
        assert r.returncode == 0, out[-3000:]
        val = shell_argv(out, "validate")
        assert val[2] == f"data/{ODD}.xlsx"
        assert follows(val, "--sheet", sheet)
        assert follows(val, "--mapping", f"data/map {ODD}.yaml")
        assert follows(val, "--max-quarantined-share", "0.5")
    assert_no_side_effect(work)


# ----------------------------------------------------------------------------------------------
# real runs: odd file names work, and nothing is executed


def test_records_with_odd_file_names_validate(work: Path) -> None:
    shutil.copy(ROOT / "data/example/episodes.csv", work / f"data/{ODD}.csv")
    shutil.copy(ROOT / "data/example/visits.csv", work / f"data/v {ODD}.csv")
    shutil.copy(ROOT / "data/example/recode.yaml", work / f"data/map {ODD}.yaml")
    outdir = f"out dir/{INJECT} `id>bt.txt`"
    cfg = {"source": "records", "outdir": outdir, "records": {
        "episodes": f"data/{ODD}.csv", "visits": f"data/v {ODD}.csv",
        "mapping": f"data/map {ODD}.yaml"}}
    r = snakemake(work, cfg, f"{outdir}/validate/validation.json", "--cores", "1")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    report = json.loads((work / outdir / "validate/validation.json").read_text())
    assert report["n_in"] == 240 and report["n_valid"] + report["n_quarantined"] == 240
    assert (work / outdir / "validate/visits.valid.parquet").exists()
    snap = json.loads((work / outdir / "config/config.json").read_text())
    assert snap["records"]["episodes"] == f"data/{ODD}.csv" and snap["outdir"] == outdir
    assert not (work / "results").exists()
    assert_no_side_effect(work)


def test_excel_sheet_with_an_injection_in_its_name(work: Path) -> None:
    df = pd.read_csv(ROOT / "data/example/episodes.csv", dtype=str, keep_default_na=False)
    with pd.ExcelWriter(work / "data/export.xlsx") as xlsx:
        pd.DataFrame({"note": ["not this one"]}).to_excel(xlsx, sheet_name="cover", index=False)
        df.to_excel(xlsx, sheet_name=INJECT, index=False)
    cfg = {"source": "records", "records": {"episodes": "data/export.xlsx", "sheet": INJECT}}
    r = snakemake(work, cfg, "results/validate/validation.json", "--cores", "1")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    report = json.loads((work / "results/validate/validation.json").read_text())
    assert report["n_in"] == 240
    assert_no_side_effect(work)


def test_simulator_parameter_file_with_an_injection_in_its_name(work: Path) -> None:
    name = f"data/sim {INJECT}; `id>bt.txt`.yaml"
    (work / name).write_text("follow_up:\n  lost_by_12_months: 0.3\n")
    cfg = {"simulate": {"n": 300, "params": name}}
    r = snakemake(work, cfg, "results/validate/validation.json", "--cores", "1")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    truth = json.loads((work / "results/simulate/truth.json").read_text())
    assert truth["parameters"]["follow_up"]["lost_by_12_months"] == 0.3
    assert json.loads((work / "results/validate/validation.json").read_text())["n_in"] == 300
    assert_no_side_effect(work)
