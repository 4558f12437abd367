"""The validate step end to end: formats, refusals, privacy, recoding, strictness, accounting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, make_clean_export, run_cli, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rehab_outcomes.contract.validate import run_validation, validate_episodes

PII = {
    "email": "jane.doe@example.org",
    "nhs": "4010232137",
    "phone": "07700 900123",
    "ssn": "123-45-6789",
}


def _messy(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.loc[0, "age_years"] = "97"
    df.loc[1, "sex"] = "F"
    df.loc[2, "first_visit_date"] = "2024/01/01"
    df.loc[3, "episode_id"] = df.loc[4, "episode_id"]
    df.loc[5, "patient_key"] = PII["nhs"]
    df.loc[6, "site"] = PII["email"]
    df.loc[7, "patient_key"] = PII["ssn"]
    return df


def _one_error_line(stderr: str) -> bool:
    """Exactly one error line, and no traceback (progress lines may precede it)."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    return len(lines) == 1 and "Traceback" not in stderr


def _outputs(d: Path) -> tuple[pd.DataFrame, str, dict]:
    valid = pd.read_parquet(d / "episodes.valid.parquet")
    quarantine = (d / "quarantine.csv").read_text()
    report = json.loads((d / "validation.json").read_text())
    return valid, quarantine, report


def test_csv_bom_parquet_xlsx_give_identical_results(tmp_path: Path) -> None:
    df = _messy(make_clean_export(40))
    paths = {
        "csv": write_csv(df, tmp_path / "e.csv"),
        "bom": write_csv(df, tmp_path / "e_bom.csv", bom=True),
    }
    df.to_parquet(tmp_path / "e.parquet", index=False)
    paths["parquet"] = tmp_path / "e.parquet"
    # a typed Parquet export (numbers and dates stored natively) must give the same result
    typed = df.copy()
    for c in ("age_years", "baseline_pain_nrs", "baseline_kujala"):
        typed[c] = pd.to_numeric(typed[c], errors="coerce").astype("Int64")
    typed.loc[0, "age_years"] = 97
    for c in ("bmi", "weekly_km_before_injury", "symptom_weeks"):
        typed[c] = pd.to_numeric(typed[c], errors="coerce")
    typed = typed.drop(index=2).reset_index(drop=True)  # the unparsable date cannot be typed
    for c in ("pain_free_run_date", "reinjury_date", "last_contact_date", "first_visit_date"):
        typed[c] = pd.to_datetime(typed[c])
    typed.to_parquet(tmp_path / "typed.parquet", index=False)
    df.to_excel(tmp_path / "e.xlsx", index=False)
    paths["xlsx"] = tmp_path / "e.xlsx"
    results = {}
    for name, p in paths.items():
        run_validation(p, tmp_path / f"out_{name}")
        results[name] = _outputs(tmp_path / f"out_{name}")
    ref_valid, ref_q, ref_r = results["csv"]
    assert ref_r["n_quarantined"] == 8 and ref_r["n_valid"] == 32
    for name, (valid, q, r) in results.items():
        pd.testing.assert_frame_equal(valid, ref_valid, obj=name)
        assert q == ref_q, name
        for key in ("n_in", "n_valid", "n_quarantined", "failures_by_rule", "rows_by_rule"):
            assert r[key] == ref_r[key], (name, key)
    run_validation(tmp_path / "typed.parquet", tmp_path / "out_typed")
    typed_valid, _, typed_r = _outputs(tmp_path / "out_typed")
    assert typed_r["n_quarantined"] == 7
    pd.testing.assert_frame_equal(typed_valid, ref_valid)


def test_excel_sheet_option(tmp_path: Path) -> None:
    df = make_clean_export(5)
    with pd.ExcelWriter(tmp_path / "two.xlsx") as xw:
        pd.DataFrame({"notes": ["cover sheet"]}).to_excel(xw, sheet_name="about", index=False)
        df.to_excel(xw, sheet_name="episodes", index=False)
    r = run_cli("validate", str(tmp_path / "two.xlsx"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "lacks required columns" in r.stderr
    r = run_cli("validate", str(tmp_path / "two.xlsx"), "--sheet", "episodes", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "o" / "validation.json").read_text())["n_valid"] == 5


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_text("episode_id,site\n"), "no data rows"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00a\x00b" * 50), "not UTF-8"),
    ],
)
def test_unreadable_or_empty_file_is_refused(tmp_path: Path, make, message: str) -> None:
    p = tmp_path / "e.csv"
    make(p)
    r = run_cli("validate", str(p), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert message in r.stderr and _one_error_line(r.stderr)
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_refusals_of_file_kind(tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text("{}")
    r = run_cli("validate", str(tmp_path / "e.json"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "unsupported file type" in r.stderr
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    r = run_cli("validate", str(tmp_path / "bad.parquet"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "unreadable" in r.stderr
    r = run_cli("validate", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "not found" in r.stderr


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    df = make_clean_export(5).drop(columns=["sex", "bmi", "exit_reason"])
    r = run_cli("validate", str(write_csv(df, tmp_path / "e.csv")), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "sex" in r.stderr and "bmi" in r.stderr and "exit_reason" in r.stderr
    assert not (tmp_path / "o" / "validation.json").exists()


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("email", ["x"] * 5),                       # by its name
        ("Date of Birth", ["1990-01-01"] * 5),
        ("NHS_Number", ["1"] * 5),
        ("postcode", ["AB1 2CD"] * 5),
        ("contact", [PII["email"]] + ["none"] * 4),  # by its values
        ("ref", [PII["nhs"]] * 5),
        ("tel_or_code", [PII["phone"]] * 5),
    ],
)
def test_identifying_extra_columns_refuse_the_file(tmp_path: Path, column: str, values: list[str]) -> None:
    df = make_clean_export(5)
    df[column] = values
    out = tmp_path / "o"
    r = run_cli("validate", str(write_csv(df, tmp_path / "e.csv")), "--out", str(out))
    assert r.returncode == 2, r.stderr
    assert "identifying" in r.stderr and _one_error_line(r.stderr)
    for v in values:
        if len(v) > 5:
            assert v not in r.stderr + r.stdout
    assert not out.exists() or not any(out.iterdir())


def test_refusal_removes_stale_outputs(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert run_cli("validate", str(write_csv(make_clean_export(5), tmp_path / "ok.csv")),
                   "--out", str(out)).returncode == 0
    assert (out / "validation.json").exists()
    bad = make_clean_export(5).drop(columns=["arm"])
    assert run_cli("validate", str(write_csv(bad, tmp_path / "bad.csv")), "--out", str(out)).returncode == 2
    assert not (out / "validation.json").exists() and not (out / "episodes.valid.parquet").exists()


def test_harmless_extra_columns_are_ignored_and_listed(tmp_path: Path) -> None:
    df = make_clean_export(5)
    df["referral_source"] = "gp"
    df["cadence_spm"] = "172"
    run_validation(write_csv(df, tmp_path / "e.csv"), tmp_path / "o")
    valid, _, report = _outputs(tmp_path / "o")
    assert report["columns_ignored"] == ["referral_source", "cadence_spm"]
    assert "referral_source" not in valid.columns and report["n_valid"] == 5


def test_no_pii_anywhere_in_outputs_or_logs(tmp_path: Path) -> None:
    df = _messy(make_clean_export(30))
    df.loc[8, "patient_key"] = PII["phone"]
    df.loc[9, "site"] = PII["nhs"]
    out = tmp_path / "o"
    r = run_cli("--debug", "validate", str(write_csv(df, tmp_path / "e.csv")), "--out", str(out))
    assert r.returncode == 0, r.stderr
    texts = [r.stdout, r.stderr] + [p.read_bytes().decode("utf-8", "replace") for p in out.iterdir()]
    for text in texts:
        for value in PII.values():
            assert value not in text
            assert value.replace(" ", "") not in text
    q = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    assert "j***@***" in set(q["value"])
    assert set(q.loc[q["column"] == "patient_key", "value"]) <= {"40***", "12***", "07***"}


def test_recode_is_explicit_and_counted(tmp_path: Path) -> None:
    df = make_clean_export(10)
    df.loc[0:3, "sex"] = "F"
    df.loc[4, "arm"] = "Rest"
    csv = write_csv(df, tmp_path / "e.csv")
    run_validation(csv, tmp_path / "plain")
    assert _outputs(tmp_path / "plain")[2]["n_quarantined"] == 5
    (tmp_path / "map.yaml").write_text("sex:\n  F: female\narm:\n  Rest: rest_only\n")
    r = run_cli("validate", str(csv), "--recode", str(tmp_path / "map.yaml"), "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    report = _outputs(tmp_path / "o")[2]
    assert report["n_quarantined"] == 0
    assert report["recoded"] == {"sex": {"F -> female": 4}, "arm": {"Rest -> rest_only": 1}}
    (tmp_path / "bad.yaml").write_text("sex:\n  F: woman\n")
    r = run_cli("validate", str(csv), "--recode", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "o2"))
    assert r.returncode == 1 and "not one of" in r.stderr


def test_strict_exit_code_and_quarantine_exit_zero(tmp_path: Path) -> None:
    df = make_clean_export(10)
    df.loc[0, "age_years"] = "120"
    csv = write_csv(df, tmp_path / "e.csv")
    r = run_cli("validate", str(csv), "--out", str(tmp_path / "o"))
    assert r.returncode == 0 and "9 valid, 1 quarantined" in r.stdout
    r = run_cli("validate", str(csv), "--strict", "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and "quarantined" in r.stderr
    clean = write_csv(make_clean_export(10), tmp_path / "c.csv")
    assert run_cli("validate", str(clean), "--strict", "--out", str(tmp_path / "c")).returncode == 0


def test_validation_report_and_determinism(tmp_path: Path) -> None:
    csv = write_csv(_messy(make_clean_export(40)), tmp_path / "e.csv")
    run_validation(csv, tmp_path / "a")
    run_validation(csv, tmp_path / "b")
    for name in ("episodes.valid.parquet", "quarantine.csv", "validation.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    r = json.loads((tmp_path / "a" / "validation.json").read_text())
    from rehab_outcomes import __version__
    from rehab_outcomes.contract.io import sha256_of

    assert r["input"] == {"file": "e.csv", "sha256": sha256_of(csv)}
    assert r["package_version"] == __version__ and r["contract_version"] == "1.0.0"
    assert r["n_in"] == r["n_valid"] + r["n_quarantined"] == 40
    assert r["reidentification"]["min_group_size"] >= 1
    assert r["rows_by_rule"]["episode_id:field_uniqueness"] == 2


def test_cli_help_and_errors() -> None:
    r = run_cli("--help")
    assert r.returncode == 0 and "validate" in r.stdout
    r = run_cli("validate", "--help")
    assert r.returncode == 0 and "--mapping" in r.stdout and "--strict" in r.stdout
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("rehab-outcomes ")
    r = run_cli("validate")
    assert r.returncode == 1 and "Missing argument" in r.stderr  # usage error: 1, never 2


def test_example_export_is_made_by_committed_script(tmp_path: Path) -> None:
    import subprocess
    import sys

    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_example_data.py"), "--out",
                    str(tmp_path)], check=True, capture_output=True)
    for name in ("episodes.csv", "visits.csv", "recode.yaml"):
        assert (tmp_path / name).read_bytes() == (ROOT / "data" / "example" / name).read_bytes()


# ---------------------------------------------------------------------------------------------
# property: every row is either valid or quarantined, never dropped

_COLUMNS = list(make_clean_export(1).columns)
_BAD_VALUES = ["", "x", "-1", "999", "2099-01-01", "F", "1.5", "jane@example.org", "4010232137", None]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 25),
    corruptions=st.lists(
        st.tuples(st.integers(0, 24), st.sampled_from(_COLUMNS), st.sampled_from(_BAD_VALUES)),
        max_size=30,
    ),
)
def test_row_accounting_invariant(n: int, corruptions: list[tuple[int, str, str | None]]) -> None:
    df = make_clean_export(n, seed=n)
    for row, col, value in corruptions:
        df.loc[row % n, col] = value
    res = validate_episodes(df)
    assert res.n_in == n == res.n_valid + res.n_quarantined
    bad_rows = set(res.quarantine["row"])
    assert len(bad_rows) == res.n_quarantined
    assert set(res.valid["episode_id"]).isdisjoint(
        set(df["episode_id"].iloc[[r - 1 for r in bad_rows]].dropna()) - set(res.valid["episode_id"])
    )
    assert not res.quarantine["value"].astype(str).str.contains("jane@example.org").any()
