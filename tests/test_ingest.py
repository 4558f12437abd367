"""Safe ingest: bad files become refusals or per-row quarantines, never crashes; inputs are never
touched; exit codes; the quarantine limit; spreadsheet-safe outputs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_clean_export, run_cli, write_csv

from rehab_outcomes.contract.validate import run_validation
from rehab_outcomes.exceptions import ConfigError, InputRefusedError, QuarantineLimitError


def _quarantine(d: Path) -> pd.DataFrame:
    return pd.read_csv(d / "quarantine.csv", dtype=str, keep_default_na=False)


# ----------------------------------------------------------------------------------------------
# dates that used to crash the whole file


@pytest.mark.parametrize("value", ["0001-01-01", "1600-02-29", "9999-12-31", "1899-12-31"])
def test_out_of_range_dates_are_quarantined_per_row_in_csv(tmp_path: Path, value: str) -> None:
    df = make_clean_export(20)
    df.loc[3, "first_visit_date"] = value
    run = run_validation(write_csv(df, tmp_path / "e.csv"), tmp_path / "o")
    assert run.report["n_valid"] == 19 and run.report["n_quarantined"] == 1
    q = _quarantine(tmp_path / "o")
    assert q.loc[q["row"] == "4", "rule"].tolist() == ["first_visit_date:date_range"]


def test_out_of_range_dates_are_quarantined_per_row_in_typed_parquet(tmp_path: Path) -> None:
    df = make_clean_export(20)
    table = pa.Table.from_pandas(df.drop(columns=["first_visit_date", "last_contact_date"]),
                                 preserve_index=False)
    first = [dt.date.fromisoformat(v) for v in df["first_visit_date"]]
    first[0], first[1], first[2] = dt.date(1, 1, 1), dt.date(1600, 2, 29), dt.date(9999, 12, 31)
    last = [dt.datetime.fromisoformat(v) for v in df["last_contact_date"]]
    last[5] = dt.datetime(2024, 5, 6, 13, 30)  # a time of day is not a date
    table = table.append_column("first_visit_date", pa.array(first, pa.date32()))
    table = table.append_column("last_contact_date", pa.array(last, pa.timestamp("us")))
    pq.write_table(table, tmp_path / "e.parquet")
    run = run_validation(tmp_path / "e.parquet", tmp_path / "o")
    assert run.report["n_quarantined"] == 4 and run.report["n_valid"] == 16
    assert run.report["rows_by_rule"]["first_visit_date:date_range"] == 3
    assert run.report["rows_by_rule"]["last_contact_date:type:iso_date"] == 1


def test_parquet_empty_strings_are_missing_exactly_as_in_csv(tmp_path: Path) -> None:
    df = make_clean_export(60)
    df.loc[::3, "bmi"] = ""
    df.loc[1::4, "reinjury_date"] = ""
    df.loc[2::5, "baseline_kujala"] = "NA"
    csv_run = run_validation(write_csv(df, tmp_path / "e.csv"), tmp_path / "c")
    df.to_parquet(tmp_path / "e.parquet", index=False)  # all text, "" stays ""
    pq_run = run_validation(tmp_path / "e.parquet", tmp_path / "p")
    assert csv_run.report["n_quarantined"] == pq_run.report["n_quarantined"]
    pd.testing.assert_frame_equal(csv_run.episodes.valid, pq_run.episodes.valid)
    assert (tmp_path / "c/quarantine.csv").read_bytes() == (tmp_path / "p/quarantine.csv").read_bytes()


# ----------------------------------------------------------------------------------------------
# whole-file refusals instead of crashes


def test_duplicate_column_names_refuse_the_file_naming_them(tmp_path: Path) -> None:
    df = make_clean_export(5)
    text = write_csv(df, tmp_path / "e.csv").read_text().splitlines()
    text[0] = text[0].replace("bmi", "site")
    (tmp_path / "dup.csv").write_text("\n".join(text) + "\n")
    r = run_cli("validate", str(tmp_path / "dup.csv"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2, r.stderr
    assert "duplicate column names: 'site' (2x)" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_duplicate_column_names_in_parquet_and_excel(tmp_path: Path) -> None:
    df = make_clean_export(5)
    t = pa.Table.from_pandas(df, preserve_index=False)
    names = list(t.schema.names)
    names[names.index("bmi")] = "arm"
    pq.write_table(t.rename_columns(names), tmp_path / "dup.parquet")
    with pytest.raises(InputRefusedError, match="duplicate column names: 'arm'"):
        run_validation(tmp_path / "dup.parquet", tmp_path / "o")
    x = df.copy()
    x.columns = [c if c != "sex" else "site " for c in x.columns]  # equal once trimmed
    x.to_excel(tmp_path / "dup.xlsx", index=False)
    with pytest.raises(InputRefusedError, match="duplicate column names: 'site'"):
        run_validation(tmp_path / "dup.xlsx", tmp_path / "o")


@pytest.mark.parametrize("kind", ["list", "struct"])
def test_nested_columns_are_refused(tmp_path: Path, kind: str) -> None:
    df = make_clean_export(5)
    t = pa.Table.from_pandas(df, preserve_index=False)
    values = [[1, 2]] * 5 if kind == "list" else [{"a": 1}] * 5
    pq.write_table(t.append_column("extra", pa.array(values)), tmp_path / "n.parquet")
    r = run_cli("validate", str(tmp_path / "n.parquet"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "column 'extra' holds list or struct values" in r.stderr


def test_missing_column_gets_a_did_you_mean_from_the_export(tmp_path: Path) -> None:
    df = make_clean_export(5).rename(columns={"first_visit_date": "First Visit Date",
                                              "baseline_pain_nrs": "Baseline pain"})
    r = run_cli("validate", str(write_csv(df, tmp_path / "e.csv")), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "first_visit_date (did you mean 'First Visit Date'?)" in r.stderr
    assert "baseline_pain_nrs" in r.stderr and "--mapping" in r.stderr


# ----------------------------------------------------------------------------------------------
# inputs are never removed or overwritten


@pytest.mark.parametrize("name", ["quarantine.csv", "validation.json", "episodes.valid.parquet"])
def test_out_folder_holding_the_input_is_refused_and_the_input_kept(tmp_path: Path, name: str) -> None:
    q = tmp_path / "q"
    q.mkdir()
    src = write_csv(make_clean_export(5), tmp_path / "e.csv")
    data = src.read_bytes()
    (q / name).write_bytes(data)
    r = run_cli("validate", str(q / name), "--out", str(q))
    assert r.returncode == 1, r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.startswith("error:")]) == 1
    assert (q / name).read_bytes() == data


def test_visits_or_mapping_inside_out_is_protected(tmp_path: Path) -> None:
    q = tmp_path / "q"
    q.mkdir()
    ep = write_csv(make_clean_export(5), tmp_path / "e.csv")
    (q / "visits_quarantine.csv").write_text("episode_id,visit_date\n")
    r = run_cli("validate", str(ep), "--visits", str(q / "visits_quarantine.csv"), "--out", str(q))
    assert r.returncode == 1 and (q / "visits_quarantine.csv").exists()


def test_failed_write_keeps_previous_outputs_and_leaves_no_temporary_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_csv(make_clean_export(30), tmp_path / "e.csv")
    out = tmp_path / "o"
    run_validation(src, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError):
        run_validation(write_csv(make_clean_export(10, seed=9), tmp_path / "f.csv"), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv", "f.csv", "o"]


def test_visits_outputs_of_an_earlier_run_are_removed(tmp_path: Path) -> None:
    from conftest import ROOT

    out = tmp_path / "o"
    ex = ROOT / "data/example"
    run_validation(ex / "episodes.csv", out, visits_path=ex / "visits.csv")
    assert (out / "visits.valid.parquet").exists()
    run_validation(ex / "episodes.csv", out)
    assert sorted(p.name for p in out.iterdir()) == ["episodes.valid.parquet", "quarantine.csv",
                                                     "validation.json"]


# ----------------------------------------------------------------------------------------------
# exit codes and the quarantine limit


def test_usage_errors_exit_1_not_2(tmp_path: Path) -> None:
    for args in (["validate", "--bogus"], ["validate"], ["simulate", "--n", "x", "--seed", "1",
                                                        "--out", str(tmp_path)], []):
        r = run_cli(*args)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
    assert run_cli("--version").returncode == 0
    assert run_cli("validate", "--help").returncode == 0


def test_all_quarantined_exits_1_after_writing_with_the_top_rules(tmp_path: Path) -> None:
    df = make_clean_export(30)
    df["sex"] = "F"
    df.loc[:4, "age_years"] = "200"
    r = run_cli("validate", str(write_csv(df, tmp_path / "e.csv")), "--out", str(tmp_path / "o"))
    assert r.returncode == 1
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1
    assert "no episode is valid" in err[0] and "sex:isin(" in err[0] and "30 rows" in err[0]
    assert "value 'F'" in err[0] and "age_years:less_than_or_equal_to(90) (5 rows" in err[0]
    report = json.loads((tmp_path / "o/validation.json").read_text())
    assert report["n_valid"] == 0 and report["n_quarantined"] == 30


def test_quarantine_share_limit(tmp_path: Path) -> None:
    df = make_clean_export(40)
    df.loc[:23, "arm"] = "Rest"  # 24 of 40 = 60 %
    src = write_csv(df, tmp_path / "e.csv")
    with pytest.raises(QuarantineLimitError, match="24 of 40 episodes"):
        run_validation(src, tmp_path / "o", max_quarantined_share=0.5)
    run = run_validation(src, tmp_path / "o2", max_quarantined_share=0.7)
    assert run.report["n_quarantined"] == 24
    assert run_cli("validate", str(src), "--out", str(tmp_path / "o3")).returncode == 1  # default 0.5
    r = run_cli("validate", str(src), "--out", str(tmp_path / "o4"), "--max-quarantined-share", "0.6")
    assert r.returncode == 0, r.stderr


# ----------------------------------------------------------------------------------------------
# spreadsheet safety of CSV outputs


def test_quarantine_csv_is_formula_safe(tmp_path: Path) -> None:
    df = make_clean_export(10)
    df.loc[0, "age_years"] = "=1+2"
    df.loc[1, "bmi"] = "+A1"
    df.loc[2, "diagnosis"] = "-knee"
    run_validation(write_csv(df, tmp_path / "e.csv"), tmp_path / "o")
    q = _quarantine(tmp_path / "o")
    values = set(q["value"])
    assert {"'=1+2", "'+A1", "'-knee"} <= values
    for cell in q.to_numpy().ravel():
        assert not str(cell).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_run_config_is_recorded(tmp_path: Path) -> None:
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"source": "records", "outdir": "results/clinic", "validate": {
        "max_quarantined_share": 0.5}}))
    run = run_validation(write_csv(make_clean_export(10), tmp_path / "e.csv"), tmp_path / "o",
                         run_config=cfg)
    assert run.report["run_config"]["outdir"] == "results/clinic"
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping of settings"):
        run_validation(write_csv(make_clean_export(10), tmp_path / "e.csv"), tmp_path / "o",
                       run_config=bad)
