"""Identifying data never gets through validation (issue "Safe ingest", privacy part).

Each leak measured before the fix has a test here: identifying values inside contract text
columns (anywhere in the text, every row), identifying extra columns (by name, by a name that is
itself an e-mail or phone number, by a single value in any row), spreadsheet formula prefixes,
and the masking of file names. Only fake values are used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_clean_export, run_cli, write_csv

from rehab_outcomes.contract import pii
from rehab_outcomes.contract.schema import Episodes
from rehab_outcomes.contract.validate import (
    check_columns,
    run_validation,
    validate_episodes,
    validate_visits,
)
from rehab_outcomes.exceptions import InputRefusedError

EMAIL = "jane.doe@example.org"
NHS = "4010232137"  # valid modulus-11 check digit
PHONE = "07700 900123"
PHONE_INTL = "+44 7700 900123"
SSN = "123-45-6789"
#: Every fake identifying value used below, and the forms it must never appear in.
SECRETS = [EMAIL, "zoe.x@example.org", NHS, "401 023 2137", PHONE, "07700900123", PHONE_INTL,
           "447700900123", SSN, "123456789"]


def _all_output_text(out: Path, *extra: str) -> str:
    texts = list(extra)
    if out.exists():
        texts += [p.read_bytes().decode("utf-8", "replace") for p in out.rglob("*") if p.is_file()]
    return "\n".join(texts)


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, "an identifying value was written in clear"


def _rules(res: object) -> dict[int, set[str]]:
    q = res.quarantine  # type: ignore[attr-defined]
    return q.groupby("row")["rule"].apply(set).to_dict()


# ---------------------------------------------------------------------------------------------
# 1. contract text columns: every cell, anywhere in the text -> quarantined, masked


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("site", "Leeds zoe.x@example.org", "site:not_identifying"),
        ("site", "Leeds 07700 900123", "site:not_identifying"),
        ("site", "tel +44 7700 900123", "site:not_identifying"),
        ("site", "north 401 023 2137", "site:not_identifying"),
        ("site", "north 123-45-6789", "site:not_identifying"),
        ("episode_id", NHS, "episode_id:not_identifying"),
        ("episode_id", SSN, "episode_id:not_identifying"),
        ("episode_id", PHONE, "episode_id:not_identifying"),
        ("episode_id", "07700900123", "episode_id:not_identifying"),
        ("episode_id", "EP_4010232137", "episode_id:not_identifying"),
        ("patient_key", "PK_07700900123", "patient_key:not_identifying"),
        ("sex", EMAIL, "sex:not_identifying"),
        ("exit_reason", "withdrew 07700 900123", "exit_reason:not_identifying"),
    ],
)
def test_identifying_value_in_contract_text_column_is_quarantined(column: str, value: str,
                                                                  rule: str) -> None:
    df = make_clean_export(20)
    df.loc[7, column] = value
    res = validate_episodes(df)
    assert res.n_in == res.n_valid + res.n_quarantined == 20
    assert res.n_quarantined == 1
    assert rule in _rules(res)[8]
    q_text = res.quarantine.to_csv(index=False)
    _assert_no_secret(q_text)
    assert value not in q_text
    assert value not in set(res.valid[column].astype(str))


def test_every_row_is_scanned_not_a_sample() -> None:
    df = make_clean_export(30_000, seed=3)
    df.loc[29_998, "site"] = "Leeds zoe.x@example.org"
    df.loc[29_999, "episode_id"] = PHONE
    res = validate_episodes(df)
    assert _rules(res) == {29_999: {"site:not_identifying"},
                           30_000: {"episode_id:not_identifying", "episode_id:pattern"}}


def test_leaks_measured_before_the_fix_stay_out_of_every_output(tmp_path: Path) -> None:
    df = make_clean_export(40)
    df.loc[1, "site"] = "Leeds zoe.x@example.org"
    df.loc[2, "episode_id"] = NHS
    df.loc[3, "episode_id"] = SSN
    df.loc[4, "episode_id"] = PHONE
    df.loc[5, "site"] = "Leeds 07700 900123"
    df.loc[6, "patient_key"] = PHONE_INTL
    df["referral_source"] = "gp"
    out = tmp_path / "o"
    r = run_cli("--debug", "validate", str(write_csv(df, tmp_path / "e.csv")), "--out", str(out))
    assert r.returncode == 0, r.stderr
    _assert_no_secret(_all_output_text(out, r.stdout, r.stderr))
    valid = pd.read_parquet(out / "episodes.valid.parquet")
    report = json.loads((out / "validation.json").read_text())
    assert report["n_in"] == report["n_valid"] + report["n_quarantined"] == 40
    assert report["n_quarantined"] == 6 and len(valid) == 34
    assert report["rows_by_rule"]["site:not_identifying"] == 2
    assert report["rows_by_rule"]["episode_id:not_identifying"] == 3
    assert report["columns_ignored"] == ["referral_source"]
    q = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    assert set(q.loc[q["rule"] == "site:not_identifying", "value"]) == {"L***@***", "L***"}


def test_visits_episode_id_is_scanned() -> None:
    ep = validate_episodes(make_clean_export(5)).valid
    visits = pd.DataFrame({
        "episode_id": [ep.loc[0, "episode_id"], EMAIL, "=1+1"],
        "visit_date": [ep.loc[0, "first_visit_date"].strftime("%Y-%m-%d")] * 3,
        "pain_nrs": ["3"] * 3, "run_minutes_week": ["10"] * 3, "strength_sessions_week": ["2"] * 3,
    }).astype(pd.StringDtype("pyarrow"))
    res = validate_visits(visits, ep)
    rules = _rules(res)
    assert res.n_valid == 1 and "episode_id:not_identifying" in rules[2]
    assert "episode_id:formula_prefix" in rules[3]
    _assert_no_secret(res.quarantine.to_csv(index=False))


# ---------------------------------------------------------------------------------------------
# 2. spreadsheet formula prefixes


@pytest.mark.parametrize(
    ("column", "value"),
    [("site", "=HYPERLINK(\"x\")"), ("site", "+north"), ("site", "-north"), ("site", "@SUM(A1)"),
     ("site", "\tnorth"), ("site", "\rnorth"), ("episode_id", "-EP1"), ("patient_key", "-PK000001x")],
)
def test_formula_prefix_is_quarantined(column: str, value: str) -> None:
    df = make_clean_export(5)
    df.loc[2, column] = value
    res = validate_episodes(df)
    assert res.n_quarantined == 1 and f"{column}:formula_prefix" in _rules(res)[3]


def test_formula_characters_elsewhere_are_fine() -> None:
    df = make_clean_export(5)
    df.loc[0, "site"] = "north-east"
    df.loc[1, "site"] = "a+b=c @home"
    df.loc[2, "episode_id"] = "EP-1"
    assert validate_episodes(df).n_valid == 5


# ---------------------------------------------------------------------------------------------
# 3. extra columns: any identifying value in any row refuses the file


def _refused(df: pd.DataFrame) -> str:
    with pytest.raises(InputRefusedError) as info:
        check_columns(df, Episodes, "episodes")
    message = str(info.value)
    assert "\n" not in message
    _assert_no_secret(message)
    return message


def test_one_nhs_number_in_300_rows_refuses() -> None:
    df = make_clean_export(300)
    df["ref"] = ["A" + str(i) for i in range(299)] + [NHS]
    assert "NHS number" in _refused(df)


def test_one_email_beyond_any_sample_refuses() -> None:
    df = pd.concat([make_clean_export(100)] * 300, ignore_index=True)
    df["comment"] = "fine"
    df.loc[29_871, "comment"] = "write to zoe.x@example.org"
    assert "e-mail" in _refused(df)


@pytest.mark.parametrize(
    "value",
    ["call 07700 900123 after 5", "+44 7700 900123", "0044 7700 900123", "(212) 555-0199",
     "ssn 123-45-6789", "nhs 401 023 2137", "mum: zoe.x@example.org"],
)
def test_one_identifying_value_in_free_text_refuses(value: str) -> None:
    df = make_clean_export(50)
    df["comment"] = "seen 2024-01-08, ok"
    df.loc[49, "comment"] = value
    message = _refused(df)
    assert "column 18 ('comment')" in message and "identifying" in message


def test_identifying_extra_column_refuses_via_cli_one_line_nothing_written(tmp_path: Path) -> None:
    df = make_clean_export(30)
    df["notes"] = ["ok"] * 29 + ["ring 07700 900123 after 5"]
    out = tmp_path / "o"
    r = run_cli("validate", str(write_csv(df, tmp_path / "e.csv")), "--out", str(out))
    assert r.returncode == 2
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "phone numbers" in errors[0] and "Traceback" not in r.stderr
    _assert_no_secret(r.stdout + r.stderr)
    assert not out.exists() or not any(out.iterdir())


def _harmless_numbers(n: int, rng: np.random.Generator) -> dict[str, object]:
    return {
        "lab_code": rng.integers(10**9, 10**10, n).astype(str),  # 10-digit lab codes
        "lab_code_padded": [f"{x:010d}" for x in rng.integers(0, 10**10, n)],
        "sample_ts": rng.integers(1_600_000_000, 1_750_000_000, n),  # Unix timestamps
        "record_no": rng.integers(10**15, 10**18, n),  # large integer IDs
        "reading": rng.integers(10**9, 10**10, n) + 0.5,  # floats like 1234567890.5
        "weight_g": rng.integers(10**9, 10**10, n).astype(float),  # integral floats
        "taken_at": pd.date_range("2024-01-01", periods=n, freq="h").astype(str),
        "cadence_spm": rng.integers(150, 190, n).astype(str),
    }


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_harmless_number_columns_do_not_trip(tmp_path: Path, fmt: str) -> None:
    n = 300
    df = make_clean_export(n)
    for name, values in _harmless_numbers(n, np.random.default_rng(5)).items():
        df[name] = values
    if fmt == "csv":
        path = write_csv(df, tmp_path / "e.csv")
    else:
        path = tmp_path / "e.parquet"
        df.to_parquet(path, index=False)
    run = run_validation(path, tmp_path / "o")
    assert run.report["columns_ignored"] == list(_harmless_numbers(1, np.random.default_rng(0)))
    assert run.report["n_valid"] == n


def test_bare_numbers_need_column_evidence() -> None:
    # one bare (unformatted) phone number among text is not enough...
    df = make_clean_export(300)
    df["ref"] = ["x"] * 299 + ["07700900123"]
    assert check_columns(df, Episodes, "episodes") == ["ref"]
    # ...but a column of them is, and so is a column of bare SSNs
    df["ref"] = [f"07700{i:06d}" for i in range(300)]
    assert "phone numbers" in _refused(df)
    df["ref"] = ["123456789"] * 300
    assert "social security" in _refused(df)
    # a column of NHS numbers stored as integers (every check digit valid)
    df["ref"] = np.full(300, int(NHS), dtype="int64")
    assert "NHS numbers" in _refused(df)


def test_nhs_check_digit_hits_at_chance_rate_are_codes() -> None:
    rng = np.random.default_rng(11)
    codes = pd.Series(rng.integers(10**9, 10**10, 1000).astype(str))
    hits = pii.identifying_kind(codes.iloc[:1]).notna().sum()  # alone, a code may pass the check
    assert hits in (0, 1)
    assert pii.identifying_column_kind(codes) is None
    assert not pii.looks_identifying(codes).any()
    # a real NHS-number column passes the check every time: caught
    assert pii.identifying_column_kind(pd.Series([NHS] * 20)) == "NHS number"


# ---------------------------------------------------------------------------------------------
# 4. identifying column names

IDENTIFYING_NAMES = [
    # the measured leaks
    "dateofbirth", "NHSNo", "emailaddress", "mobileno", "birth",
    # English
    "email", "E-mail", "Date of Birth", "DOB", "first_name", "LastName", "surname", "Full Name",
    "given_name", "forename", "patient_name", "Tel", "telNo", "phone_number", "mobile", "cell",
    "address", "street", "postcode", "Post code", "zip", "birthday", "nhs_number", "CHI", "MRN",
    "hospital_number", "medical_record_no", "SSN", "social_security_number",
    "National Insurance No", "passport_no", "IP address", "hospital_nr",
    # French, German, Spanish, Italian, Dutch, Portuguese
    "prenom", "Prénom", "nom", "courriel", "telephone", "portable", "adresse", "code_postal",
    "date_de_naissance", "numero_secu", "Vorname", "Nachname", "Geburtsdatum", "Straße", "PLZ",
    "handy", "Versicherungsnummer", "nombre", "apellidos", "correo_electronico", "teléfono",
    "móvil", "dirección", "codigo_postal", "fecha_de_nacimiento", "DNI", "NIF", "nome", "cognome",
    "indirizzo", "CAP", "data_di_nascita", "codice_fiscale", "voornaam", "achternaam", "telefoon",
    "adres", "geboortedatum", "BSN", "sobrenome", "telemovel", "data_de_nascimento", "CPF",
    # Nordic, Polish
    "personnummer", "efternamn", "fødselsdato", "imię", "nazwisko", "PESEL", "telefon",
]
HARMLESS_NAMES = [
    "site", "arm", "diagnosis", "notes", "visit_date", "exit_reason", "clinic", "runner_type",
    "pain_nrs", "cadence", "weekly_km_before_injury", "baseline_kujala", "hotel", "capacity",
    "nominal", "denominator", "genome_marker", "referral_source", "cadence_spm", "notes_clinical",
    "site_code", "site_name", "nhs_trust", "mobility_score", "cancellation_reason",
    "telemetry_flag", "zipper_type", "patient_notes", "age_years", "shoe_brand", "surface",
    "therapist_grade", "capital_cost", "economic_status",
    "Patient ID",  # a clinic's pseudonymous key, renamed to patient_key by a mapping file
]


@pytest.mark.parametrize("name", IDENTIFYING_NAMES)
def test_identifying_column_name(name: str) -> None:
    assert pii.is_identifying_column_name(name)


@pytest.mark.parametrize("name", HARMLESS_NAMES)
def test_harmless_column_name(name: str) -> None:
    assert not pii.is_identifying_column_name(name)


def test_name_normalisation() -> None:
    assert pii.normalise_column_name("Date-of Birth (1)") == "dateofbirth"
    assert pii.normalise_column_name("Straße") == "strasse"
    assert pii.normalise_column_name("fødselsdato") == "fodselsdato"


@pytest.mark.parametrize("name", ["dateofbirth", "NHSNo", "emailaddress", "mobileno", "birth"])
def test_identifying_names_refuse_the_file(tmp_path: Path, name: str) -> None:
    df = make_clean_export(5)
    df[name] = "x"
    message = _refused(df)
    assert "column 18" in message and "named like identifying data" in message


@pytest.mark.parametrize(
    ("name", "kind"),
    [(EMAIL, "an e-mail address"), (PHONE, "a phone number"), (PHONE_INTL, "a phone number"),
     (NHS, "an NHS number"), (SSN, "a US social security number")],
)
def test_a_name_that_is_an_identifying_value_is_never_echoed(tmp_path: Path, name: str,
                                                            kind: str) -> None:
    df = make_clean_export(5)
    df.insert(6, name, "x")
    message = _refused(df)
    assert message == (f"episodes file refused: column 7 has a name that looks like {kind}; "
                       "remove or rename it (the toolkit accepts anonymised records only)")


def test_email_as_column_name_never_reaches_any_output(tmp_path: Path) -> None:
    df = make_clean_export(5)
    df[EMAIL] = "x"
    out = tmp_path / "o"
    r = run_cli("validate", str(write_csv(df, tmp_path / "e.csv")), "--out", str(out))
    assert r.returncode == 2 and "column 18 has a name that looks like an e-mail address" in r.stderr
    _assert_no_secret(_all_output_text(out, r.stdout, r.stderr))
    assert not (out / "validation.json").exists()


def test_columns_ignored_lists_only_harmless_names() -> None:
    df = make_clean_export(5)
    df["referral_source"] = "gp"
    df["lab 1234567899"] = "1"  # digits in a name, but no identifying value
    assert check_columns(df, Episodes, "episodes") == ["referral_source", "lab 1234567899"]


# ---------------------------------------------------------------------------------------------
# 5. masked file names


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("jane.doe@example.org.csv", "j***@***.csv"),
        ("/exports/2024/jane.doe@example.org.csv", "j***@***.csv"),
        ("0770 0900123 export.csv", "0*** export.csv"),
        ("export_07700900123.parquet", "export_0***.parquet"),
        ("ward 401 023 2137.xlsx", "ward 4***.xlsx"),
        ("episodes.csv", "episodes.csv"),
        ("episodes_2024-01-08.csv.gz", "episodes_2024-01-08.csv.gz"),
        ("jane@example.org", "j***@***"),
    ],
)
def test_masked_file_name(path: str, expected: str) -> None:
    assert pii.masked_file_name(path) == expected
    assert pii.masked_file_name(Path(path)) == expected


def test_every_name_the_privacy_docs_list_is_identifying() -> None:
    from conftest import ROOT

    text = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    table = text[text.index("| language | names |"):].split("\n\n", 1)[0].splitlines()[2:]
    checked = 0
    for line in table:
        for cell in line.strip("|").split("|")[1:]:
            for entry in cell.split(","):
                entry = entry.strip().replace("(s)", "")
                if entry and "/" not in entry:
                    assert pii.is_identifying_column_name(entry), entry
                    checked += 1
    assert checked > 100
