"""Identifying-value detectors, masking, and the generated contract docs."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import ROOT

from rehab_outcomes.contract import pii
from rehab_outcomes.contract.docs import contract_markdown


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("jane.doe@example.org", "e-mail"),
        ("4010232137", "NHS number"),
        ("401 023 2137", "NHS number"),
        ("943-476-5919", "NHS number"),
        ("123-45-6789", "SSN"),
        ("+44 7700 900123", "phone number"),
        ("07700 900123", "phone number"),
        ("(212) 555-0199", "phone number"),
        ("4010232138", None),  # NHS shape, wrong check digit, starts with 4: not NANP (4th digit 0)
        ("000-12-3456", None),  # SSN area 000 is never issued
        ("PK00001234x", None),
        ("2024-01-08", None),
        ("north", None),
    ],
)
def test_identifying_kind(value: str, kind: str | None) -> None:
    got = pii.identifying_kind(pd.Series([value])).iloc[0]
    assert (None if pd.isna(got) else got) == kind


def test_mask_never_returns_identifying_value() -> None:
    values = pd.Series(["jane.doe@example.org", "4010232137", "+44 7700 900123", "rest_only", None])
    masked = pii.mask_series(values)
    assert list(masked) == ["j***@***", "4***", "+***", "rest_only", ""]
    assert pii.mask("x" * 100).endswith("...") and len(pii.mask("x" * 100)) == 40


def test_scrub_text() -> None:
    text = "bad cell 'jane.doe@example.org' near 401 023 2137 on 2024-01-08, row 12"
    out = pii.scrub_text(text)
    assert "jane.doe" not in out and "401 023 2137" not in out
    assert "2024-01-08" in out and "row 12" in out


@pytest.mark.parametrize(
    ("name", "identifying"),
    [("email", True), ("E-mail", True), ("date_of_birth", True), ("DOB", True), ("Post code", True),
     ("patient_name", True), ("nhs_number", True), ("mobile", True), ("referral_source", False),
     ("cadence_spm", False), ("notes_clinical", False), ("site_code", False)],
)
def test_identifying_column_names(name: str, identifying: bool) -> None:
    assert pii.is_identifying_column_name(name) is identifying


def test_contract_docs_are_generated_from_the_model() -> None:
    committed = (ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8")
    assert committed == contract_markdown(), "run `make docs` to regenerate docs/data-contract.md"


def test_docs_name_every_column_and_rule() -> None:
    from rehab_outcomes.contract.schema import Episodes, Visits

    md = contract_markdown()
    for model in (Episodes, Visits):
        schema = model.to_schema()
        for name in schema.columns:
            assert f"`{name}`" in md
        for check in schema.checks:
            assert f"`{check.name}`" in md
