"""Reading clinic exports (CSV, Parquet, Excel) into a raw DataFrame, and file fingerprints."""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from rehab_outcomes.exceptions import InputRefusedError

#: Text that counts as a missing value in CSV and Excel cells.
NA_STRINGS = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq", ".xlsx")

_STR = pd.StringDtype("pyarrow")


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _string_mapper(t: pa.DataType) -> pd.StringDtype | None:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _STR
    return None


def _cell_to_text(v: object) -> object:
    """Excel cells to the text a CSV export of them would hold."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, _dt.datetime | pd.Timestamp):
        if v.hour == v.minute == v.second == 0 and getattr(v, "microsecond", 0) == 0:
            return v.strftime("%Y-%m-%d")
        return v.isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, bool):
        return str(v)
    text = str(v)
    return None if text in NA_STRINGS else text


def read_table(path: str | Path, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a CSV (UTF-8, with or without BOM), Parquet or Excel ``.xlsx`` file.

    CSV and Excel cells are read as text (the parser types them later, so every bad cell is
    reported); Parquet columns keep their stored types, strings as Arrow-backed strings.

    Raises
    ------
    InputRefusedError
        If the file is missing, of an unsupported kind, unreadable or has no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputRefusedError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputRefusedError(
            f"unsupported file type '{suffix}' for {path.name}: use CSV, Parquet or .xlsx"
        )
    try:
        if suffix == ".csv":
            df = _read_csv(path)
        elif suffix in (".parquet", ".pq"):
            df = pq.read_table(path).to_pandas(date_as_object=False, types_mapper=_string_mapper)
        else:
            df = _read_excel(path, sheet)
    except InputRefusedError:
        raise
    except Exception as exc:
        reason = type(exc).__name__
        raise InputRefusedError(f"cannot read {path.name}: unreadable {suffix[1:]} file ({reason})") from None
    if df.shape[1] == 0 or len(df) == 0:
        raise InputRefusedError(f"{path.name} has no data rows")
    df.columns = [str(c).strip() for c in df.columns]
    return df.reset_index(drop=True)


def _read_csv(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise InputRefusedError(f"{path.name} is empty")
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a multibyte character cut at the buffer's end
            raise InputRefusedError(f"{path.name} is not UTF-8 text") from None
    first_line = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    names = next(csv.reader([first_line]))
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 24),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            null_values=list(NA_STRINGS),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    return table.to_pandas(types_mapper=_string_mapper)


def _read_excel(path: Path, sheet: str | int | None) -> pd.DataFrame:
    raw = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=object,
                        engine="openpyxl", keep_default_na=False)
    out = pd.DataFrame({c: raw[c].map(_cell_to_text) for c in raw.columns})
    return out.astype(_STR)
