"""The mapping file (columns, dates, values, units) and `mapping draft`, from a clinic-style
spreadsheet to the same validated episodes as the contract-shaped file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import make_clean_export, run_cli, write_csv

from rehab_outcomes.contract.draft import TODO, draft_mapping
from rehab_outcomes.contract.validate import run_validation
from rehab_outcomes.exceptions import ConfigError

CLINIC_COLUMNS = {
    "episode_id": "Episode",
    "patient_key": "Patient ID",
    "site": "Clinic",
    "arm": "Treatment",
    "diagnosis": "Dx",
    "age_years": "Age",
    "sex": "Gender",
    "bmi": "BMI",
    "weekly_km_before_injury": "Weekly miles",
    "symptom_weeks": "Symptom duration (weeks)",
    "baseline_pain_nrs": "Pain",
    "baseline_kujala": "Kujala",
    "first_visit_date": "First visit",
    "pain_free_run_date": "Return to run",
    "reinjury_date": "Recurrence date",
    "last_contact_date": "Last seen",
    "exit_reason": "Outcome",
}
ARM_CODES = {"rest_only": "Rest", "stretching_only": "Stretch", "strength_graded_running": "Strength+Run"}
SEX_CODES = {"female": "F", "male": "M", "other": "X"}
DX_CODES = {"patellofemoral_pain": "PFP", "itb_syndrome": "ITB"}
EXIT_CODES = {"completed": "Discharged", "lost_to_follow_up": "DNA", "withdrew": "Withdrew",
              "ongoing": "In programme"}
DATE_COLUMNS = ["first_visit_date", "pain_free_run_date", "reinjury_date", "last_contact_date"]


def clinic_export(df: pd.DataFrame) -> pd.DataFrame:
    """The same episodes as a clinic's own spreadsheet would hold them."""
    out = df.copy()
    out["arm"] = out["arm"].map(ARM_CODES)
    out["sex"] = out["sex"].map(SEX_CODES)
    out["diagnosis"] = out["diagnosis"].map(DX_CODES)
    out["exit_reason"] = out["exit_reason"].map(EXIT_CODES)
    for c in DATE_COLUMNS:
        d = pd.to_datetime(out[c], errors="coerce")
        out[c] = d.dt.strftime("%d/%m/%Y").where(d.notna(), None)
    km = pd.to_numeric(out["weekly_km_before_injury"])
    out["weekly_km_before_injury"] = (km / 1.609344).map(lambda v: f"{v:.12g}")
    return out.rename(columns=CLINIC_COLUMNS)


def contract_shaped(n: int = 80) -> pd.DataFrame:
    df = make_clean_export(n, seed=3)
    df["exit_reason"] = ["completed", "lost_to_follow_up", "withdrew", "ongoing"] * (n // 4)
    df.loc[0, "first_visit_date"] = "2023-01-25"  # a day above 12: the format is not ambiguous
    return df


def _complete(text: str) -> str:
    """What a researcher does with the draft: replace the TODOs."""
    data = yaml.safe_load(text)
    for col, block in data.get("values", {}).items():
        reverse = {"arm": ARM_CODES, "sex": SEX_CODES, "diagnosis": DX_CODES,
                   "exit_reason": EXIT_CODES}[col]
        for code in block:
            block[code] = next(k for k, v in reverse.items() if v == code)
    return yaml.safe_dump(data, sort_keys=False)


def test_clinic_spreadsheet_to_the_same_validated_episodes(tmp_path: Path) -> None:
    df = contract_shaped()
    reference = run_validation(write_csv(df, tmp_path / "contract.csv"), tmp_path / "ref")
    assert reference.report["n_quarantined"] == 0
    clinic_export(df).to_excel(tmp_path / "clinic export.xlsx", index=False, sheet_name="Episodes")

    r = run_cli("mapping", "draft", str(tmp_path / "clinic export.xlsx"), "--out",
                str(tmp_path / "mapping.yaml"))
    assert r.returncode == 0, r.stderr
    draft = (tmp_path / "mapping.yaml").read_text()
    spec = yaml.safe_load(draft)
    assert spec["columns"] == {v: k for k, v in CLINIC_COLUMNS.items()}
    assert spec["dates"]["format"] == "%d/%m/%Y"
    assert spec["units"] == {"weekly_km_before_injury": "miles"}
    assert spec["values"]["arm"]["Rest"] == "rest_only"
    assert spec["values"]["sex"] == {"F": "female", "M": "male"} or "X" in spec["values"]["sex"]

    # a draft still holding TODO is refused, naming the key
    assert spec["values"]["exit_reason"]["In programme"] == TODO  # no keyword: the researcher decides
    r = run_cli("validate", str(tmp_path / "clinic export.xlsx"), "--mapping",
                str(tmp_path / "mapping.yaml"), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and "target 'TODO' is not one of" in r.stderr
    (tmp_path / "mapping.yaml").write_text(_complete(draft))
    run = run_validation(tmp_path / "clinic export.xlsx", tmp_path / "own",
                         mapping_path=tmp_path / "mapping.yaml")
    assert run.report["n_quarantined"] == 0
    valid = run.episodes.valid
    ref = reference.episodes.valid
    pd.testing.assert_frame_equal(valid.drop(columns=["weekly_km_before_injury"]),
                                  ref.drop(columns=["weekly_km_before_injury"]))
    assert (valid["weekly_km_before_injury"] - ref["weekly_km_before_injury"]).abs().max() < 1e-9
    report = json.loads((tmp_path / "own/validation.json").read_text())
    assert report["renamed"]["Treatment"] == "arm"
    assert report["recoded"]["arm"]["Rest -> rest_only"] == (df["arm"] == "rest_only").sum()
    assert report["converted"]["weekly_km_before_injury"]["n_converted"] == len(df)
    assert report["mapping"]["dates"] == {"format": "%d/%m/%Y"}
    assert report["warnings"] == []


def test_flat_recode_file_keeps_working(tmp_path: Path) -> None:
    df = make_clean_export(20)
    df.loc[:3, "sex"] = "F"
    (tmp_path / "map.yaml").write_text("sex:\n  F: female\n")
    run = run_validation(write_csv(df, tmp_path / "e.csv"), tmp_path / "o", recode_path=tmp_path / "map.yaml")
    assert run.report["recoded"] == {"sex": {"F -> female": 4}} and run.report["n_quarantined"] == 0


def test_ambiguous_day_first_dates_are_warned_about(tmp_path: Path) -> None:
    df = make_clean_export(30)
    for c in DATE_COLUMNS:
        d = pd.to_datetime(df[c], errors="coerce")
        d = d.map(lambda t: t.replace(day=min(t.day, 12)) if pd.notna(t) else t)
        df[c] = d.dt.strftime("%d/%m/%Y").where(d.notna(), None)
    (tmp_path / "m.yaml").write_text('dates: {format: "%d/%m/%Y"}\n')
    run = run_validation(write_csv(df, tmp_path / "e.csv"), tmp_path / "o", mapping_path=tmp_path / "m.yaml")
    assert any("could be swapped" in w for w in run.report["warnings"])


def test_strict_date_format_quarantines_impossible_dates(tmp_path: Path) -> None:
    df = make_clean_export(10)
    df["first_visit_date"] = pd.to_datetime(df["first_visit_date"]).dt.strftime("%d/%m/%Y")
    df.loc[0, "first_visit_date"] = "31/02/2023"
    df.loc[1, "first_visit_date"] = "2023-01-05"  # ISO is always accepted
    (tmp_path / "m.yaml").write_text('dates: {format: "%d/%m/%Y"}\n')
    run = run_validation(write_csv(df, tmp_path / "e.csv"), tmp_path / "o", mapping_path=tmp_path / "m.yaml")
    assert run.report["rows_by_rule"] == {"first_visit_date:type:date_format": 1}


@pytest.mark.parametrize(("text", "message"), [
    ("columns: {Treatment: treatment_arm}\n", "not a contract column (did you mean 'arm'?)"),
    ("columns: {A: arm, B: arm}\n", "two columns are mapped to 'arm'"),
    ("columns: {Nope: arm}\n", "are not in the export"),
    ("values: {arm: {Rest: TODO}}\n", "target 'TODO' is not one of"),
    ("values: {age_years: {x: 1}}\n", "not a text column"),
    ("units: {weekly_km_before_injury: furlongs}\n", "is not one of km, miles, mi"),
    ("units: {bmi: miles}\n", "has no unit choice"),
    ('dates: {format: "%Q/%m/%Y"}\n', "date format needs"),
    ("dates: {fmt: x}\n", "dates.fmt"),
    ("columns: [1, 2]\n", "columns"),
    ("{unclosed\n", "not valid YAML"),
])
def test_bad_mapping_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "m.yaml").write_text(text)
    src = write_csv(make_clean_export(5), tmp_path / "e.csv")
    with pytest.raises(ConfigError, match=None) as info:
        run_validation(src, tmp_path / "o", mapping_path=tmp_path / "m.yaml")
    assert message in str(info.value)
    assert not (tmp_path / "o").exists()


def test_draft_matches_coded_columns_by_their_values() -> None:
    raw = make_clean_export(30).rename(columns={"arm": "Programme code", "sex": "Col7"})
    raw["Programme code"] = raw["Programme code"].map(ARM_CODES)
    raw["Col7"] = raw["Col7"].map(SEX_CODES)
    d = draft_mapping(raw.astype("string[pyarrow]"))
    assert d.columns == {"Programme code": "arm", "Col7": "sex"}
    assert d.values["arm"] == {"Rest": "rest_only", "Stretch": "stretching_only",
                               "Strength+Run": "strength_graded_running"}


def test_draft_never_writes_identifying_values_or_over_an_existing_file(tmp_path: Path) -> None:
    raw = make_clean_export(20)
    raw["Clinic"] = raw.pop("site")
    raw.loc[0, "Clinic"] = "Leeds jane.doe@example.org"
    raw["Email"] = "jane.doe@example.org"
    src = write_csv(raw, tmp_path / "e.csv")
    r = run_cli("mapping", "draft", str(src), "--out", str(tmp_path / "m.yaml"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "m.yaml").read_text()
    assert "example.org" not in text and "look identifying" in text
    r = run_cli("mapping", "draft", str(src), "--out", str(tmp_path / "m.yaml"))
    assert r.returncode == 1 and "--force" in r.stderr
    r = run_cli("mapping", "draft", str(src), "--out", str(src), "--force")
    assert r.returncode == 1 and src.read_text().startswith("episode_id")
