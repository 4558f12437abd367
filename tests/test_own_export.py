"""docs/own-export.md, step by step: a clinic-style spreadsheet (renamed columns, own codes,
DD/MM/YYYY dates, miles) -> `mapping draft` -> completed mapping -> the whole workflow with the
researcher's own config and output folder. The validated episodes must equal those of the same
data written in the contract's own shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import copy_workflow, run_cli, write_csv
from test_mapping import _complete, clinic_export, contract_shaped

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.mark.slow
def test_clinic_spreadsheet_through_the_whole_workflow(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path, {"source": "simulate"})
    df = contract_shaped(120)
    exports = work / "exports"
    exports.mkdir()
    reference = write_csv(df, tmp_path / "contract.csv")
    with pd.ExcelWriter(exports / "clinic export.xlsx") as xl:
        pd.DataFrame({"note": ["exported by the clinic system"]}).to_excel(xl, sheet_name="About",
                                                                         index=False)
        clinic_export(df).to_excel(xl, sheet_name="Episodes", index=False)

    # 1-2: draft the mapping, complete it
    (work / "my-clinic").mkdir()
    r = run_cli("mapping", "draft", str(exports / "clinic export.xlsx"), "--sheet", "Episodes",
                "--out", str(work / "my-clinic/mapping.yaml"))
    assert r.returncode == 0, r.stderr
    draft = (work / "my-clinic/mapping.yaml").read_text()
    (work / "my-clinic/mapping.yaml").write_text(_complete(draft))

    # 4: the researcher's own config: nothing inherited, its own output folder
    cfg = {"source": "records", "outdir": "results/my-clinic",
           "records": {"episodes": "exports/clinic export.xlsx", "sheet": "Episodes",
                       "mapping": "my-clinic/mapping.yaml"},
           "analysis": {"adjust": "iptw"}}
    (work / "my-clinic/config.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([SNAKEMAKE, "--cores", "2", "--configfile", "my-clinic/config.yaml"],
                       cwd=work, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-4000:]
    out = work / "results/my-clinic"
    assert not (work / "results/validate").exists() and not (work / "results/simulate").exists()
    assert sorted(p.name for p in (work / "results").iterdir()) == ["my-clinic"]

    ref = run_cli("validate", str(reference), "--out", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr
    mine = pd.read_parquet(out / "validate/episodes.valid.parquet")
    theirs = pd.read_parquet(tmp_path / "ref/episodes.valid.parquet")
    pd.testing.assert_frame_equal(mine.drop(columns="weekly_km_before_injury"),
                                  theirs.drop(columns="weekly_km_before_injury"))
    assert (mine["weekly_km_before_injury"] - theirs["weekly_km_before_injury"]).abs().max() < 1e-9

    report = json.loads((out / "validate/validation.json").read_text())
    assert report["n_quarantined"] == 0
    assert report["run_config"]["outdir"] == "results/my-clinic"
    assert report["run_config"]["records"]["mapping"] == "my-clinic/mapping.yaml"
    assert report["mapping"]["dates"] == {"format": "%d/%m/%Y"}
    assert report["input"]["file"] == "clinic export.xlsx" and len(report["input"]["sha256"]) == 64
    summary = json.loads((out / "analyse/summary.json").read_text())
    assert summary["run_config"]["source"] == "records"
    assert (out / "dashboard/index.html").exists() and (out / "figures/km_pain_free.png").exists()

    # the report's landing page: the bottom line and the claims table
    landing = (out / "report/workflow.rst").read_text()
    assert "**The bottom line**" in landing and ".. list-table::" in landing
    r = subprocess.run([SNAKEMAKE, "--configfile", "my-clinic/config.yaml", "--report",
                        "results/my-clinic/report.html"], cwd=work, capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    html = (out / "report.html").read_text(encoding="utf-8", errors="replace")
    assert "The bottom line" in html and "Which treatment got runners back" in html


@pytest.mark.slow
def test_a_wrong_mapping_stops_the_workflow_at_validate_saying_why(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path, {"source": "simulate"})
    df = contract_shaped(40)
    clinic_export(df).to_csv(work / "data/export.csv", index=False)
    # a mapping without the date format: every date is quarantined
    (work / "data/mapping.yaml").write_text(yaml.safe_dump({
        "columns": {v: k for k, v in {"episode_id": "Episode", "site": "Clinic"}.items()}}))
    spec = yaml.safe_load(_complete(yaml.safe_dump({"values": {
        "arm": {"Rest": "x", "Stretch": "x", "Strength+Run": "x"},
        "sex": {"F": "x", "M": "x"}, "diagnosis": {"PFP": "x", "ITB": "x"},
        "exit_reason": {"Discharged": "x", "DNA": "x", "Withdrew": "x", "In programme": "x"}}})))
    from test_mapping import CLINIC_COLUMNS

    spec["columns"] = {v: k for k, v in CLINIC_COLUMNS.items()}
    spec["units"] = {"weekly_km_before_injury": "miles"}
    (work / "data/mapping.yaml").write_text(yaml.safe_dump(spec))
    cfg = {"source": "records", "outdir": "results/clinic",
           "records": {"episodes": "data/export.csv", "mapping": "data/mapping.yaml"}}
    (work / "config/test.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([SNAKEMAKE, "--cores", "1", "--configfile", "config/test.yaml"],
                       cwd=work, capture_output=True, text=True, check=False)
    assert r.returncode != 0
    assert "no episode is valid" in r.stderr and "type:date_format" not in r.stderr
    assert "first_visit_date:type:iso_date (40 rows" in r.stderr
    # the quarantine survives Snakemake's removal of a failed job's outputs
    kept = work / "results/clinic/logs/validate.quarantine.csv"
    assert kept.exists() and "first_visit_date:type:iso_date" in kept.read_text()
