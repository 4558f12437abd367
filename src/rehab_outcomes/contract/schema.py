"""The data contract for anonymised clinic records, stated once as pandera models.

:class:`Episodes` is one row per treatment episode; :class:`Visits` is the optional visits table.
Both validate the *parsed* frame (see :mod:`rehab_outcomes.contract.parse`): strings, nullable
integers, floats and dates. Everything else (docs, parsing, the simulator's output) reads the
column list, types, ranges and descriptions from here.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Final

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from rehab_outcomes.contract.pii import formula_prefix, looks_identifying

CONTRACT_VERSION: Final = "1.0.0"

ARMS: Final = ("rest_only", "stretching_only", "strength_graded_running")
REFERENCE_ARM: Final = "rest_only"
DIAGNOSES: Final = (
    "patellofemoral_pain",
    "itb_syndrome",
    "patellar_tendinopathy",
    "meniscal_irritation",
    "other_knee",
)
SEXES: Final = ("female", "male", "other")
EXIT_REASONS: Final = ("completed", "lost_to_follow_up", "withdrew", "ongoing")

#: Category columns and their allowed levels, in order.
CATEGORIES: Final = {
    "session_type": ("run", "strength", "cross_training"),
    "arm": ARMS,
    "diagnosis": DIAGNOSES,
    "sex": SEXES,
    "exit_reason": EXIT_REASONS,
}

EPISODE_ID_RE: Final = r"[A-Za-z0-9_-]{1,64}"
PATIENT_KEY_RE: Final = r"[A-Za-z0-9_-]{8,64}"

Str = pd.StringDtype("pyarrow")


def today() -> pd.Timestamp:
    """The date against which "not in the future" is checked.

    ``REHAB_OUTCOMES_TODAY=YYYY-MM-DD`` fixes it (for reproducible re-validation of old exports).
    """
    fixed = os.environ.get("REHAB_OUTCOMES_TODAY")
    return pd.Timestamp(fixed) if fixed else pd.Timestamp(_dt.date.today())


def _fullmatch(series: pd.Series, pattern: str) -> pd.Series:
    return series.str.fullmatch(pattern).fillna(False).astype(bool)


def _le_or_missing(a: pd.Series, b: pd.Series) -> pd.Series:
    """``a <= b`` where both are present; True where either is missing."""
    return (a.isna() | b.isna() | (a <= b)).astype(bool)


class Episodes(pa.DataFrameModel):
    """One row per treatment episode of an anonymised clinic export."""

    episode_id: Series[Str] = pa.Field(
        unique=True,
        description="Episode identifier, unique in the file: 1–64 letters, digits, `_` or `-`; must "
        "not hold an e-mail, phone number, NHS number (valid check digit) or US SSN, nor begin "
        "with `-` (a spreadsheet would read it as a formula).",
    )
    patient_key: Series[Str] = pa.Field(
        description=(
            "Pseudonymous patient key: 8–64 letters, digits, `_` or `-`; must not hold an "
            "e-mail, phone number, NHS number (valid check digit) or US SSN, nor begin with `-`."
        ),
    )
    site: Series[Str] = pa.Field(
        str_length={"min_value": 1, "max_value": 32},
        description="Clinic site: non-empty, at most 32 characters; must not hold an e-mail, phone "
        "number, NHS number or US SSN anywhere in its text, nor begin with `=`, `+`, `-`, `@`, a "
        "tab or a carriage return.",
    )
    arm: Series[Str] = pa.Field(isin=list(ARMS), description="Treatment arm.")
    diagnosis: Series[Str] = pa.Field(isin=list(DIAGNOSES), description="Working diagnosis.")
    age_years: Series[pd.Int64Dtype] = pa.Field(
        ge=12, le=90,
        description="Age at first visit in whole years; 90 means 90 or older. Larger ages are "
        "quarantined, never capped.",
    )
    sex: Series[Str] = pa.Field(isin=list(SEXES), description="Sex.")
    bmi: Series[float] = pa.Field(
        ge=14, le=50, nullable=True, description="Body-mass index, kg/m² (may be missing)."
    )
    weekly_km_before_injury: Series[float] = pa.Field(
        ge=0, le=250, description="Weekly running distance before the injury, km."
    )
    symptom_weeks: Series[float] = pa.Field(
        ge=0, le=520, description="Weeks of symptoms before the first visit."
    )
    baseline_pain_nrs: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=10, description="Pain at first visit, numeric rating scale 0–10."
    )
    baseline_kujala: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=100, nullable=True, description="Kujala anterior knee pain score 0–100 (may be missing)."
    )
    first_visit_date: Series[pa.DateTime] = pa.Field(
        description="Date of the first visit, ISO `YYYY-MM-DD`, not in the future."
    )
    pain_free_run_date: Series[pa.DateTime] = pa.Field(
        nullable=True,
        description="Date pain-free running was reached (about 30 min continuous, pain ≤ 2/10); "
        "on or after the first visit; empty if not reached.",
    )
    reinjury_date: Series[pa.DateTime] = pa.Field(
        nullable=True,
        description="Date of re-injury after return to running; only with a pain-free date, and "
        "after it; empty if none.",
    )
    last_contact_date: Series[pa.DateTime] = pa.Field(
        description="Date of last contact: on or after every other date of the row, not in the future."
    )
    exit_reason: Series[Str] = pa.Field(isin=list(EXIT_REASONS), description="Why follow-up ended.")

    class Config:
        strict = False  # extra columns are screened for identifying data, then ignored and listed
        coerce = False  # parsing is explicit (see contract.parse), so failures are reported per cell

    @pa.check("episode_id", name="pattern")
    def _episode_id_pattern(cls, s: Series[Str]) -> Series[bool]:
        return _fullmatch(s, EPISODE_ID_RE)

    @pa.check("patient_key", name="pattern")
    def _patient_key_pattern(cls, s: Series[Str]) -> Series[bool]:
        return _fullmatch(s, PATIENT_KEY_RE)

    # every text and category column is scanned, every cell, anywhere in the text (see pii.py)
    @pa.check("episode_id", "patient_key", "site", "arm", "diagnosis", "sex", "exit_reason",
              name="not_identifying")
    def _not_identifying(cls, s: Series[Str]) -> Series[bool]:
        return ~looks_identifying(s)

    @pa.check("episode_id", "patient_key", "site", name="formula_prefix")
    def _no_formula_prefix(cls, s: Series[Str]) -> Series[bool]:
        return ~formula_prefix(s)

    @pa.check("first_visit_date", name="not_in_future")
    def _first_visit_not_future(cls, s: Series[pa.DateTime]) -> Series[bool]:
        return s <= today()

    @pa.check("last_contact_date", name="not_in_future")
    def _last_contact_not_future(cls, s: Series[pa.DateTime]) -> Series[bool]:
        return s <= today()

    @pa.dataframe_check(name="pain_free_on_or_after_first_visit")
    def _pain_free_after_first(cls, df: pd.DataFrame) -> Series[bool]:
        return _le_or_missing(df["first_visit_date"], df["pain_free_run_date"])

    @pa.dataframe_check(name="reinjury_requires_pain_free")
    def _reinjury_requires_pain_free(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["reinjury_date"].isna() | df["pain_free_run_date"].notna()).astype(bool)

    @pa.dataframe_check(name="reinjury_after_pain_free")
    def _reinjury_after_pain_free(cls, df: pd.DataFrame) -> Series[bool]:
        a, b = df["pain_free_run_date"], df["reinjury_date"]
        return (a.isna() | b.isna() | (b > a)).astype(bool)

    @pa.dataframe_check(name="last_contact_not_before_other_dates")
    def _last_contact_last(cls, df: pd.DataFrame) -> Series[bool]:
        last = df["last_contact_date"]
        ok = _le_or_missing(df["first_visit_date"], last)
        ok &= _le_or_missing(df["pain_free_run_date"], last)
        ok &= _le_or_missing(df["reinjury_date"], last)
        return ok


#: Column each cross-column rule is reported against in the quarantine file.
DATAFRAME_RULE_COLUMNS: Final = {
    "pain_free_on_or_after_first_visit": "pain_free_run_date",
    "reinjury_requires_pain_free": "reinjury_date",
    "reinjury_after_pain_free": "reinjury_date",
    "last_contact_not_before_other_dates": "last_contact_date",
    "visit_within_episode": "visit_date",
    "session_within_episode": "session_date",
    "cadence_only_for_runs": "cadence_spm",
    "episode_exists": "episode_id",
}


class Visits(pa.DataFrameModel):
    """Optional visits table: one row per clinic visit of an episode."""

    episode_id: Series[Str] = pa.Field(
        description="Episode the visit belongs to; must be a valid episode of the episodes file, "
        "hold no e-mail, phone number, NHS number or US SSN, and not begin with `-`."
    )
    visit_date: Series[pa.DateTime] = pa.Field(
        description="Date of the visit, within the episode's first visit and last contact dates."
    )
    pain_nrs: Series[pd.Int64Dtype] = pa.Field(ge=0, le=10, description="Pain during running, NRS 0–10.")
    run_minutes_week: Series[float] = pa.Field(ge=0, description="Minutes of running in the past week.")
    strength_sessions_week: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=14, description="Strength sessions in the past week."
    )
    walk_run_stage: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=20, nullable=True, required=False,
        description="Optional: walk–run programme stage reached (0 = not running yet).",
    )

    class Config:
        strict = False
        coerce = False

    @pa.check("episode_id", name="not_identifying")
    def _not_identifying(cls, s: Series[Str]) -> Series[bool]:
        return ~looks_identifying(s)

    @pa.check("episode_id", name="formula_prefix")
    def _no_formula_prefix(cls, s: Series[Str]) -> Series[bool]:
        return ~formula_prefix(s)


SESSION_TYPES: Final = ("run", "strength", "cross_training")


class Sessions(pa.DataFrameModel):
    """Optional training log: one row per logged training session of an episode."""

    episode_id: Series[Str] = pa.Field(
        description="Episode the session belongs to; must be a valid episode of the episodes "
        "file, hold no e-mail, phone number, NHS number or US SSN, and not begin with `-`."
    )
    session_date: Series[pa.DateTime] = pa.Field(
        description="Date of the session, within the episode's first visit and last contact dates."
    )
    session_type: Series[Str] = pa.Field(isin=list(SESSION_TYPES), description="Kind of session.")
    run_minutes: Series[float] = pa.Field(
        ge=0, le=300, description="Minutes of running in the session (0 for other sessions)."
    )
    walk_minutes: Series[float] = pa.Field(
        ge=0, le=300, description="Minutes of walking in the session (walk–run intervals)."
    )
    pain_during_nrs: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=10, description="Pain during the session, NRS 0–10."
    )
    pain_next_day_nrs: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=10, nullable=True, description="Pain the next day, NRS 0–10 (may be missing)."
    )
    cadence_spm: Series[float] = pa.Field(
        ge=120, le=230, nullable=True,
        description="Running cadence, steps per minute (runs only; may be missing).",
    )

    class Config:
        strict = False
        coerce = False

    @pa.check("episode_id", name="not_identifying")
    def _not_identifying(cls, s: Series[Str]) -> Series[bool]:
        return ~looks_identifying(s)

    @pa.check("episode_id", name="formula_prefix")
    def _no_formula_prefix(cls, s: Series[Str]) -> Series[bool]:
        return ~formula_prefix(s)

    @pa.dataframe_check(name="cadence_only_for_runs")
    def _cadence_only_for_runs(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["cadence_spm"].isna() | (df["session_type"] == "run")).astype(bool)


#: The kind of each contract column, used by the parser and the docs.
def column_kinds(model: type[pa.DataFrameModel]) -> dict[str, str]:
    """Map each column of ``model`` to ``string``, ``category``, ``int``, ``float`` or ``date``."""
    kinds: dict[str, str] = {}
    for name, col in model.to_schema().columns.items():
        dtype = str(col.dtype)
        if name in CATEGORIES:
            kinds[name] = "category"
        elif "datetime" in dtype:
            kinds[name] = "date"
        elif "Int64" in dtype or "int" in dtype:
            kinds[name] = "int"
        elif "float" in dtype:
            kinds[name] = "float"
        else:
            kinds[name] = "string"
    return kinds


def required_columns(model: type[pa.DataFrameModel]) -> list[str]:
    """Columns a file must have for ``model``."""
    return [n for n, c in model.to_schema().columns.items() if c.required]
