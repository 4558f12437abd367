"""Parsing raw export columns into the contract's types, reporting every cell that fails.

Parsing never guesses: a cell that is present but cannot be read as the column's type becomes
missing in the parsed frame *and* is reported as a ``type`` failure, so it is quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_STR = pd.StringDtype("pyarrow")
ISO_DATE_RE = r"\d{4}-\d{2}-\d{2}"
#: A number as text: optional sign, digits with an optional decimal point, optional exponent.
NUMBER_RE = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


@dataclass(frozen=True)
class ParseFailure:
    """Cells of one column that could not be parsed."""

    column: str
    rule: str
    rows: np.ndarray  # positional row indices


def _present(raw: pd.Series) -> np.ndarray:
    return raw.notna().to_numpy(dtype=bool)


def _as_text(raw: pd.Series) -> pd.Series:
    if isinstance(raw.dtype, pd.StringDtype):
        return raw
    if pd.api.types.is_float_dtype(raw.dtype):
        # 12.0 stored as float in a typed file reads as "12", the text a CSV would hold
        arr = raw.to_numpy(dtype=float, na_value=np.nan)
        integral = np.isfinite(arr) & (arr == np.round(arr))
        text = raw.astype(object).where(~integral, pd.Series(arr, index=raw.index).round().astype("Int64"))
        return text.astype(_STR)
    return raw.astype(_STR)


def parse_string(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Strings (also category columns, checked later against their levels)."""
    return _as_text(raw), np.zeros(len(raw), dtype=bool)


def parse_float(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return pd.Series(np.nan, index=raw.index), _present(raw)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        out = raw.astype("float64")
    else:
        # decimal numbers only (no thousands separators, no "inf"/"nan" words), read by Arrow
        arr = pc.utf8_trim_whitespace(_text_array(raw.astype(_STR)))
        ok = pc.match_substring_regex(arr, NUMBER_RE)
        values = pc.cast(pc.if_else(ok, arr, None), pa.float64())
        out = pd.Series(values.to_numpy(zero_copy_only=False), index=raw.index, dtype="float64")
    bad = _present(raw) & ~np.isfinite(out.to_numpy(dtype=float, na_value=np.nan))
    return out.where(~bad, np.nan), bad


def parse_int(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    values, bad = parse_float(raw)
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    nonint = np.isfinite(arr) & (arr != np.round(arr))
    bad = bad | nonint
    arr = np.where(bad, np.nan, arr)
    out = pd.array(np.where(np.isfinite(arr), arr, 0).astype("int64"), dtype="Int64")
    out[~np.isfinite(arr)] = pd.NA
    return pd.Series(out, index=raw.index), bad


#: Dates outside this range are quarantined per cell (rule ``date_range``): clinic records
#: before 1900 are typing errors, and pandas cannot hold dates after 2262.
DATE_MIN = "1900-01-01"
DATE_MAX = "2261-12-31"
_STRIP_ZEROS = (r"(^|\D)0+(\d)", r"\1\2")


def _text_array(text: pd.Series) -> pa.ChunkedArray:
    if hasattr(text.array, "_pa_array"):
        return pa.chunked_array(text.array._pa_array)
    return pa.chunked_array([pa.array(text.to_numpy(dtype=object, na_value=None), type=pa.string())])


def _strict_strptime(arr: pa.ChunkedArray, fmt: str) -> pa.ChunkedArray:
    """``strptime`` that keeps only exact readings: formatting the date again must give back the
    same numbers (so 31/02/2024 is not rolled over to 2 March; 1/2/2024 equals 01/02/2024)."""
    parsed = pc.strptime(arr, format=fmt, unit="s", error_is_null=True)
    again = pc.strftime(parsed, format=fmt)
    pattern, repl = _STRIP_ZEROS
    same = pc.equal(pc.replace_substring_regex(pc.utf8_trim_whitespace(arr), pattern=pattern,
                                               replacement=repl),
                    pc.replace_substring_regex(again, pattern=pattern, replacement=repl))
    return pc.if_else(same, parsed, None)


def parse_date(raw: pd.Series, date_format: str | None = None) -> tuple[pd.Series, dict[str, np.ndarray]]:
    """ISO ``YYYY-MM-DD`` text (always accepted), text in ``date_format`` (strftime codes, from a
    mapping file), or stored dates/timestamps at midnight.

    Returns the dates and the failing cells per rule: ``type:iso_date`` (or ``type:date_format``)
    for text that is not a date, ``date_range`` for a date before 1900 or after 2261.
    """
    present = _present(raw)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        ts = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
        ts = ts.astype("datetime64[ns]")
        bad = present & (ts != ts.dt.normalize()).to_numpy(dtype=bool)
        early = present & ~bad & (ts < pd.Timestamp(DATE_MIN)).to_numpy(dtype=bool)
        return ts.where(~(bad | early)), {TYPE_RULES["date"]: bad, "date_range": early}
    arr = _text_array(_as_text(raw))
    shaped = pc.match_substring_regex(arr, "^" + ISO_DATE_RE + "$")
    iso = pc.if_else(shaped, arr, None)
    parsed = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls impossible days over (2024-02-30 -> 2024-03-01): keep exact readings only
    day = pc.cast(pc.utf8_slice_codeunits(iso, 8, 10), pa.int64(), safe=False)
    parsed = pc.if_else(pc.equal(pc.day(parsed), day), parsed, None)
    if date_format is not None and date_format != "%Y-%m-%d":
        other = _strict_strptime(pc.if_else(shaped, None, arr), date_format)
        parsed = pc.if_else(shaped, parsed, other)
    in_range = pc.and_(pc.greater_equal(parsed, pa.scalar(pd.Timestamp(DATE_MIN), pa.timestamp("s"))),
                       pc.less_equal(parsed, pa.scalar(pd.Timestamp(DATE_MAX), pa.timestamp("s"))))
    readable = pc.is_valid(parsed).to_numpy(zero_copy_only=False)
    ok_range = pc.fill_null(in_range, False).to_numpy(zero_copy_only=False)
    kept = pc.if_else(pc.fill_null(in_range, False), parsed, None)
    values = kept.cast(pa.timestamp("ns")).to_numpy()
    ts = pd.Series(values.astype("datetime64[ns]"), index=raw.index)
    rule = TYPE_RULES["date"] if date_format is None else "type:date_format"
    return ts, {rule: present & ~readable, "date_range": present & readable & ~ok_range}


PARSERS = {
    "string": parse_string,
    "category": parse_string,
    "int": parse_int,
    "float": parse_float,
    "date": parse_date,
}

TYPE_RULES = {
    "int": "type:integer",
    "float": "type:number",
    "date": "type:iso_date",
}


def parse_frame(raw: pd.DataFrame, kinds: dict[str, str], date_format: str | None = None,
                units: dict[str, float] | None = None) -> tuple[pd.DataFrame, list[ParseFailure]]:
    """Parse the contract columns of ``raw`` (others are left out) by their kinds.

    ``date_format``: strftime codes for date text that is not ISO (from a mapping file);
    ``units``: factor per numeric column converting the export's unit to the contract's.
    """
    parsed: dict[str, pd.Series] = {}
    failures: list[ParseFailure] = []
    for col, kind in kinds.items():
        if col not in raw.columns:
            continue
        if kind == "date":
            values, bad_by_rule = parse_date(raw[col], date_format)
        else:
            values, bad = PARSERS[kind](raw[col])
            bad_by_rule = {TYPE_RULES[kind]: bad} if kind in TYPE_RULES else {}
        if units and col in units:
            values = values * units[col]
        parsed[col] = values
        for rule, bad in bad_by_rule.items():
            if bad.any():
                failures.append(ParseFailure(col, rule, np.flatnonzero(bad)))
    return pd.DataFrame(parsed, index=raw.index), failures
