"""The Snakemake workflow: config schema, lint, dry run, and a real run on the example export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, copy_workflow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def _schema_keys(schema: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, sub in schema.get("properties", {}).items():
        keys.add(prefix + name)
        if sub.get("type") == "object":
            keys |= _schema_keys(sub, prefix + name + ".")
    return keys


def _config_keys(cfg: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in cfg.items():
        keys.add(prefix + name)
        if isinstance(value, dict):
            keys |= _config_keys(value, prefix + name + ".")
    return keys


def test_config_matches_schema_and_every_key_is_commented() -> None:
    import jsonschema

    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    text = (ROOT / "config/config.yaml").read_text()
    cfg = yaml.safe_load(text)
    jsonschema.validate(cfg, schema)
    assert _config_keys(cfg) <= _schema_keys(schema)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*[a-z_]+:", line):
            assert i > 0 and lines[i - 1].strip().startswith("#"), f"key without comment: {line}"


def _rules(smk: Path) -> dict[str, str]:
    return {chunk.split(":", 1)[0]: chunk for chunk in re.split(r"\nrule ", smk.read_text())[1:]}


def test_every_rule_has_a_log_and_calls_the_package() -> None:
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        for name, rule in _rules(smk).items():
            assert "log:" in rule, f"{smk.name}: rule {name} has no log"
            assert "run:" not in rule and "-m rehab_outcomes" not in rule
            if "shell:" not in rule:
                continue
            shell = "".join(re.findall(r'"([^"]*)"', rule.split("shell:", 1)[1]))
            # the installed entry point, quoted; every value quoted; failures show the log
            assert shell.startswith("{params.cli:q} "), f"{smk.name}: {name}"
            fields = re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", shell)
            unquoted = [f for f in fields if not f.endswith(":q")]
            assert not unquoted, f"{smk.name}: rule {name} has unquoted {unquoted}"
            assert "> {log:q} 2>&1 || {{ " in shell, name
            assert shell.endswith("tail -n 20 {log:q} >&2; exit 1; }}"), name


def test_heavy_rules_declare_threads_and_benchmarks() -> None:
    rules = {}
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        rules.update(_rules(smk))
    for name in ("simulate", "validate", "analyse", "dashboard", "power_chunk"):
        assert re.search(r"\n    threads: \d", rules[name]), name
        bench = rules[name].split("benchmark:", 1)[1].split("\n")[1].strip()
        assert bench.startswith('f"{BENCH}/'), name
    assert "threads: 2" in rules["power_chunk"]


def test_snakemake_lint_is_clean() -> None:
    r = subprocess.run([SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Lints for" not in r.stdout + r.stderr


def test_pipeline_runs_on_the_example_export(tmp_path: Path) -> None:
    cfg = {"source": "records",
           "records": {"episodes": "data/example/episodes.csv", "visits": "data/example/visits.csv"}}
    work = copy_workflow(tmp_path, cfg)
    cmd = [SNAKEMAKE, "results/dashboard/index.html", "--cores", "1",
           "--configfile", "config/test.yaml"]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((work / "results/validate/validation.json").read_text())
    assert report["n_in"] == 240 and report["n_quarantined"] == 8
    assert (work / "results/logs/validate.log").exists()
    # the merged config that ran: every key, defaults filled in
    from rehab_outcomes.settings import load_settings, snapshot_json

    snap = (work / "results/config/config.json").read_text()
    assert snap == snapshot_json(load_settings(cfg))
    for step in ("validate", "dashboard"):
        assert (work / f"results/benchmarks/{step}.tsv").exists()
    r = subprocess.run(cmd + ["--dry-run"], cwd=work, capture_output=True, text=True, check=False)
    assert "Nothing to be done" in r.stdout + r.stderr


def test_a_failing_validation_says_why_in_the_snakemake_output(tmp_path: Path) -> None:
    cfg = {"source": "records", "records": {"episodes": "data/example/episodes.csv"},
           "validate": {"max_quarantined_share": 0.01}}
    work = copy_workflow(tmp_path, cfg)
    r = subprocess.run([SNAKEMAKE, "results/validate/validation.json", "--cores", "1",
                        "--configfile", "config/test.yaml"], cwd=work, capture_output=True,
                       text=True, check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    # the end of the validate log, with the reason, is in Snakemake's own output
    log = (work / "results/logs/validate.log").read_text()
    reason = [line for line in log.splitlines() if line.startswith("error:")]
    assert reason and reason[-1] in out and "quarantined" in reason[-1], out[-3000:]
    assert "--max-quarantined-share 0.01" in out


def test_every_output_is_under_the_outdir(tmp_path: Path) -> None:
    outdir = "runs/clinic A"
    cfg = {"outdir": outdir, "source": "records",
           "records": {"episodes": "data/example/episodes.csv", "visits": "data/example/visits.csv",
                       "mapping": "data/example/recode.yaml"}}
    work = copy_workflow(tmp_path, cfg)
    paths = []
    for target in ([], ["power"]):
        r = subprocess.run([SNAKEMAKE, *target, "--dry-run", "--printshellcmds", "--configfile",
                            "config/test.yaml"], cwd=work, capture_output=True, text=True,
                           check=False)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out[-3000:]
        for line in out.splitlines():
            m = re.match(r"^\s+(output|log|benchmark): (.*)$", line)
            if m:
                paths += m.group(2).split(", ")
        cli = str(Path(sys.executable).with_name("rehab-outcomes"))
        shells = [line.split(": ", 1)[1] for line in out.splitlines()
                  if line.startswith("Shell command: ") and line != "Shell command: None"]
        assert shells and all(shell.startswith(cli + " ") for shell in shells)
    assert len(paths) > 20
    assert all(p.startswith(outdir + "/") for p in paths), [p for p in paths
                                                            if not p.startswith(outdir)]
    assert f"{outdir}/benchmarks/power/chunks/default/1.tsv" in paths
    assert f"{outdir}/config/config.json" in paths


def test_make_run_takes_the_config_and_reports_into_its_outdir(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    (tmp_path / "my.yaml").write_text("outdir: runs/mine\n")
    my = str(tmp_path / "my.yaml")
    r = subprocess.run(["make", "-n", "--no-print-directory", "run", f"CONFIG={my}"], cwd=ROOT,
                       capture_output=True, text=True, check=False)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert f'snakemake --cores all --configfile "{my}"' in out
    assert f'--configfile "{my}" --report "$out/report.html"' in out
    r = subprocess.run([str(Path(sys.executable).with_name("rehab-outcomes")), "config", "get",
                        "outdir", "--config", my], capture_output=True, text=True, check=False)
    assert r.stdout.strip() == "runs/mine"


def test_bad_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("source: somewhere\n")
    r = subprocess.run([SNAKEMAKE, "--dry-run", "--configfile", str(tmp_path / "bad.yaml")], cwd=ROOT,
                       capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "somewhere" in r.stdout + r.stderr


@pytest.mark.parametrize("name", ["Snakefile"])
def test_snakefile_is_setup_only(name: str) -> None:
    text = (ROOT / name).read_text()
    assert "configfile:" in text and "include:" in text and "shell:" not in text


def _copy_repo(tmp_path: Path) -> Path:
    work = tmp_path / "wf"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".venv", ".git", "results", ".snakemake",
                                                              "__pycache__", ".pytest_cache", "*.ipynb"))
    return work


@pytest.mark.slow
@pytest.mark.parametrize("extra", ["config/config.yaml", "config/observational.yaml"])
def test_whole_pipeline_on_a_simulated_cohort(tmp_path: Path, extra: str) -> None:
    work = _copy_repo(tmp_path)
    cfg = yaml.safe_load((work / extra).read_text())
    cfg.setdefault("simulate", {})["n"] = 800
    (work / "config/test.yaml").write_text(yaml.safe_dump(cfg))
    base = [SNAKEMAKE, "--cores", "2", "--configfile", "config/test.yaml"]
    r = subprocess.run(base, cwd=work, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-4000:]
    res = work / cfg.get("outdir", "results")
    summary = json.loads((res / "analyse/summary.json").read_text())
    assert summary["n_episodes"] == 800 and summary["problems"] == []
    assert len(summary["claims"]) >= 7
    for name in ("km_pain_free", "cox_pain_free", "cox_reinjury", "logrank", "ph_check", "rmst"):
        assert (res / f"analyse/{name}.csv").stat().st_size > 100
    assert (res / "figures/km_pain_free.png").exists() and (res / "figures/forest_pain_free.svg").exists()
    html = (res / "dashboard/index.html").read_text()
    assert "<html" in html and "http://" not in html and "https://" not in html
    for rule in ("simulate", "validate", "analyse", "figures", "dashboard"):
        assert (res / f"logs/{rule}.log").exists()
    if "observational" in extra:
        assert (res / "analyse/balance.csv").exists() and (res / "figures/love.png").exists()
    # a second run does nothing
    r = subprocess.run(base, cwd=work, capture_output=True, text=True, check=False)
    assert "Nothing to be done" in r.stdout + r.stderr
    # the report builds, with the figures in it
    r = subprocess.run(base + ["--report", str(res / "report.html")], cwd=work,
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (res / "report.html").stat().st_size > 10_000


@pytest.mark.slow
def test_pipeline_is_deterministic(tmp_path: Path) -> None:
    outs = []
    for k in range(2):
        work = _copy_repo(tmp_path / str(k))
        cfg = yaml.safe_load((work / "config/config.yaml").read_text())
        cfg["simulate"]["n"] = 500
        (work / "config/test.yaml").write_text(yaml.safe_dump(cfg))
        r = subprocess.run([SNAKEMAKE, "results/analyse/summary.json", "--cores", "2",
                            "--configfile", "config/test.yaml"], cwd=work, capture_output=True, text=True,
                           check=False)
        assert r.returncode == 0, r.stderr[-3000:]
        outs.append(work / "results")
    for sub in ("simulate", "validate", "analyse"):
        files = sorted(p.relative_to(outs[0]) for p in (outs[0] / sub).iterdir())
        assert files
        for f in files:
            assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
