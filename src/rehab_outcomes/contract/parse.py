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
        out = pd.to_numeric(raw.astype(_STR).str.strip(), errors="coerce").astype("float64")
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


def parse_date(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """ISO ``YYYY-MM-DD`` text, or stored dates/timestamps at midnight."""
    present = _present(raw)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        ts = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
        ts = ts.astype("datetime64[ns]")
        bad = present & (ts != ts.dt.normalize()).to_numpy(dtype=bool)
        return ts.where(~bad), bad
    text = _as_text(raw)
    arr = pa.chunked_array(text.array._pa_array) if hasattr(text.array, "_pa_array") else pa.chunked_array(
        [pa.array(text.to_numpy(dtype=object, na_value=None), type=pa.string())])
    shaped = pc.match_substring_regex(arr, "^" + ISO_DATE_RE + "$")
    arr = pc.if_else(shaped, arr, None)
    parsed = pc.strptime(arr, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls impossible days over (2024-02-30 -> 2024-03-01): keep only exact round trips
    day = pc.cast(pc.utf8_slice_codeunits(arr, 8, 10), pa.int64(), safe=False)
    parsed = pc.if_else(pc.equal(pc.day(parsed), day), parsed, None)
    values = parsed.cast(pa.timestamp("ns")).to_numpy()
    ts = pd.Series(values.astype("datetime64[ns]"), index=raw.index)
    bad = present & ts.isna().to_numpy()
    return ts, bad


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


def parse_frame(raw: pd.DataFrame, kinds: dict[str, str]) -> tuple[pd.DataFrame, list[ParseFailure]]:
    """Parse the contract columns of ``raw`` (others are left out) by their kinds."""
    parsed: dict[str, pd.Series] = {}
    failures: list[ParseFailure] = []
    for col, kind in kinds.items():
        if col not in raw.columns:
            continue
        values, bad = PARSERS[kind](raw[col])
        parsed[col] = values
        if bad.any():
            failures.append(ParseFailure(col, TYPE_RULES[kind], np.flatnonzero(bad)))
    return pd.DataFrame(parsed, index=raw.index), failures
