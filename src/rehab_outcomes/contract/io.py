"""Reading clinic exports (CSV, Parquet, Excel) into a raw DataFrame, and file fingerprints."""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from rehab_outcomes.contract.pii import mask, masked_file_name
from rehab_outcomes.exceptions import ConfigError, InputRefusedError

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
    shown = masked_file_name(path)
    try:
        if suffix == ".csv":
            df = _read_csv(path, shown)
        elif suffix in (".parquet", ".pq"):
            df = _read_parquet(path, shown)
        else:
            df = _read_excel(path, sheet, shown)
    except (InputRefusedError, ConfigError):
        raise
    except Exception as exc:
        reason = type(exc).__name__
        raise InputRefusedError(f"cannot read {shown}: unreadable {suffix[1:]} file ({reason})") from None
    if df.shape[1] == 0 or len(df) == 0:
        raise InputRefusedError(f"{shown} has no data rows")
    names = [str(c).strip() for c in df.columns]
    _refuse_duplicate_names(names, shown)
    df.columns = names
    return df.reset_index(drop=True)


def _refuse_duplicate_names(names: list[str], shown: str) -> None:
    """Refuse a file whose column names repeat (after trimming spaces), naming them masked."""
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    dups = [n for n, k in seen.items() if k > 1]
    if dups:
        listed = ", ".join(f"'{mask(n)}' ({seen[n]}x)" for n in dups)
        raise InputRefusedError(
            f"{shown} has duplicate column names: {listed}; every column must have its own name"
        )


def _read_parquet(path: Path, shown: str) -> pd.DataFrame:
    """Read a Parquet file: text columns as Arrow strings (missing-value words as missing, as in
    CSV); dates and timestamps stay typed when every one lies in 1900-2261, otherwise they are
    read as ISO text so that each out-of-range cell is quarantined, not the whole file."""
    pf = pq.ParquetFile(path)
    names = [str(n).strip() for n in pf.schema_arrow.names]
    _refuse_duplicate_names(names, shown)
    table = pf.read()
    columns: dict[str, pa.ChunkedArray] = {}
    for i, field in enumerate(table.schema):
        arr = table.column(i)
        t = field.type
        if pa.types.is_dictionary(t):
            arr = arr.cast(t.value_type)
            t = t.value_type
        if pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            kind = "binary" if "binary" in str(t) else "list or struct"
            raise InputRefusedError(
                f"{shown}: column '{mask(field.name)}' holds {kind} values; every column must hold "
                "plain text, numbers or dates"
            )
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            if pa.types.is_timestamp(t) and t.tz is not None:
                arr = pc.local_timestamp(arr)
            if not _dates_in_range(arr):
                arr = _dates_as_text(arr)  # parsed, and quarantined, cell by cell
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            arr = pc.if_else(pc.is_in(arr, value_set=pa.array(list(NA_STRINGS))), None, arr)
        columns[f"__{i}"] = arr
    out = pa.table(columns).to_pandas(types_mapper=_string_mapper, date_as_object=False)
    out.columns = list(table.schema.names)
    return out


def _dates_in_range(arr: pa.ChunkedArray) -> bool:
    """True if every date lies where pandas can hold it as a date (1900 to 2261); such columns
    stay typed dates, the others are read as text so each bad cell is quarantined."""
    if arr.null_count == len(arr):
        return True
    days = pc.cast(arr, pa.date32()) if pa.types.is_timestamp(arr.type) else arr
    mm = pc.min_max(days)
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    return lo >= _dt.date(1900, 1, 1) and hi <= _dt.date(2261, 12, 31)


def _dates_as_text(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO text of dates and timestamps (a time of day kept, so it fails the date rule)."""
    if pa.types.is_date(arr.type):
        return pc.strftime(arr, format="%Y-%m-%d")
    midnight = pc.and_(pc.and_(pc.equal(pc.hour(arr), 0), pc.equal(pc.minute(arr), 0)),
                       pc.and_(pc.equal(pc.second(arr), 0), pc.equal(pc.subsecond(arr), 0)))
    return pc.if_else(midnight, pc.strftime(arr, format="%Y-%m-%d"),
                      pc.strftime(arr, format="%Y-%m-%dT%H:%M:%S"))


def _read_csv(path: Path, shown: str) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise InputRefusedError(f"{shown} is empty")
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a multibyte character cut at the buffer's end
            raise InputRefusedError(f"{shown} is not UTF-8 text") from None
    first_line = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    names = next(csv.reader([first_line]))
    _refuse_duplicate_names([n.strip() for n in names], shown)
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


def _read_excel(path: Path, sheet: str | int | None, shown: str) -> pd.DataFrame:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        names = wb.sheetnames
        if sheet is None:
            ws = wb[names[0]]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise ConfigError(f"{shown} has {len(names)} sheet(s): sheet index {sheet} does not exist")
            ws = wb[names[sheet]]
        else:
            if sheet not in names:
                raise ConfigError(f"{shown} has no sheet named '{mask(sheet)}' (it has {len(names)} "
                                  "sheet(s); give the name exactly or a 0-based index)")
            ws = wb[sheet]
        rows = list(ws.iter_rows(values_only=True))
    finally:
        wb.close()
    if not rows:
        return pd.DataFrame()
    header = ["" if v is None else str(v) for v in rows[0]]
    body = rows[1:]
    # trailing empty header cells with no data are spreadsheet padding, not columns
    width = len(header)
    while width and header[width - 1] == "" and all(
            len(r) < width or r[width - 1] is None for r in body):
        width -= 1
    header = header[:width]
    _refuse_duplicate_names([h.strip() for h in header], shown)
    body = [r for r in body if any(v is not None and str(v).strip() != "" for v in r[:width])]
    data = {i: [_cell_to_text(r[i]) if i < len(r) else None for r in body] for i in range(width)}
    out = pd.DataFrame(data)
    out.columns = header
    return out.astype(_STR)
