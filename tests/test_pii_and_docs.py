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
        # anywhere in the text, not only whole cells
        ("Leeds zoe.x@example.org", "e-mail"),
        ("Leeds 07700 900123", "phone number"),
        ("seen 2024-01-08 07700 900123", "phone number"),
        ("ref 401 023 2137.", "NHS number"),
        ("EP_4010232137", "NHS number"),
        ("0044 7700 900123", "phone number"),
        ("212.555.0199", "phone number"),
        # glued to letters, decimals, dates and bare North American shapes are not identifying
        ("K07700900123", None),
        ("EP4010232137", None),
        ("4010232137.5", None),
        ("1234567890.5", None),
        ("0.1234567890", None),
        ("1 234 567 890", None),
        ("2024-01-08 12:30:45", None),
        ("20240108123045", None),
        ("a@b", None),
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


def test_vectorised_digit_cells_agree_with_the_cell_by_cell_rules() -> None:
    import numpy as np

    rng = np.random.default_rng(2)
    values = []
    for length in range(8, 19):
        for zeros in (0, 1, 2, 3):
            for _ in range(60):
                body = "".join(rng.choice(list("0123456789"), length - zeros))
                values.append("0" * zeros + body)
    values += ["4010232137", "07700900123", "123456789", "000123456", "666123456", "00447700900123"]
    scan = pii._scan_arrow(pd.Series(values, dtype="string[pyarrow]").array._pa_array)
    for i, text in enumerate(values):
        strong, bare10, bare_nhs, bare_other = pii._scan_cell(f" {text} ")
        assert strong == scan.strong[i] == 0, text
        assert (bare10, bare_nhs, bare_other) == (scan.bare10[i], scan.bare_nhs[i],
                                                  scan.bare_other[i]), text


def test_few_distinct_values_are_scanned_once_with_the_same_result() -> None:
    many = pd.Series(["north", "south", "Leeds 07700 900123", None] * 6000, dtype="string[pyarrow]")
    kinds = pii.identifying_kind(many)
    assert (kinds.isna() | (kinds == "phone number")).all()
    assert int((kinds == "phone number").sum()) == 6000
    assert kinds.iloc[2] == "phone number" and pd.isna(kinds.iloc[3])


def test_formula_prefix() -> None:
    values = pd.Series(["=1+1", "+x", "-x", "@x", "\tx", "\rx", "x=1", "north-east", "", None])
    assert pii.formula_prefix(values).tolist() == [True] * 6 + [False] * 4


def test_prefilter_lets_through_every_cell_the_exact_rules_flag() -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(4)
    alphabet = list("0123456789" * 6 + "0000 --..()++@@aK_,/:") + ["\u00a0", "é", "\t", "١"]
    texts = ["".join(rng.choice(alphabet, rng.integers(5, 30))) for _ in range(20_000)]
    texts += ["Leeds zoe.x@example.org", "tel+44 7700 900123", "tel(0161) 496 0000",
              "07700\u00a0900123", "(212)\u00a0555-0199", "x 1-212-555-0199", "(+44) 7700 900123",
              "401 023 2137", "123 45 6789", "EP_4010232137", "0044 7700 900123"]
    passed = pc.match_substring_regex(pa.array(texts), pii._PREFILTER).to_pylist()
    flagged = 0
    for text, ok in zip(texts, passed, strict=True):
        if any(pii._scan_cell(text)):
            flagged += 1
            assert ok, repr(text)
    assert flagged > 250
