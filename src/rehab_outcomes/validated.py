"""Reading the outputs of ``rehab-outcomes validate`` back in, refusing anything else in one line.

``analyse`` and ``dashboard`` read ``episodes.valid.parquet`` (and ``visits.valid.parquet``,
``validation.json``) through these functions. A missing file, a folder, a CSV, or a Parquet file
without the contract's columns and types is refused with :class:`InputRefusedError` (exit
status 2): one line naming the file by its masked name, no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from rehab_outcomes.exceptions import InputRefusedError
from rehab_outcomes.provenance import masked_name

_WHAT = {"episodes": "episodes.valid.parquet", "visits": "visits.valid.parquet"}


def _check_file(path: Path, what: str) -> None:
    name = masked_name(path)
    if path.is_dir():
        raise InputRefusedError(f"{name} is a folder, not {what}")
    if not path.is_file():
        raise InputRefusedError(f"input file not found: {name}")


def _type_ok(kind: str, t: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    if kind == "date":
        return bool(pa.types.is_timestamp(t) or pa.types.is_date(t))
    if kind == "int":
        return bool(pa.types.is_integer(t))
    if kind == "float":
        return bool(pa.types.is_floating(t) or pa.types.is_integer(t))
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t)
                or getattr(pa.types, "is_string_view", lambda _t: False)(t))


def read_validated(path: str | Path, table: str = "episodes") -> pd.DataFrame:
    """Read a validated ``episodes`` or ``visits`` Parquet file written by ``validate``.

    Refuses (:class:`InputRefusedError`) a missing file, a folder, a file that is not Parquet,
    and a Parquet file that lacks a column of the contract or holds one with the wrong type
    (an arm outside the contract's arms included).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rehab_outcomes.contract.schema import (
        ARMS,
        Episodes,
        Visits,
        column_kinds,
        required_columns,
    )

    path = Path(path)
    what = f"a validated {table} file ({_WHAT[table]} written by `rehab-outcomes validate`)"
    _check_file(path, what)
    name = masked_name(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError, ValueError):
        raise InputRefusedError(f"{name} is not a Parquet file: give {what}") from None
    model = Episodes if table == "episodes" else Visits
    kinds = column_kinds(model)
    missing = [c for c in required_columns(model) if c not in schema.names]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputRefusedError(f"{name} is not {what}: missing column(s) {shown}")
    wrong = [c for c in schema.names if c in kinds and not _type_ok(kinds[c], schema.field(c).type)]
    if wrong:
        raise InputRefusedError(f"{name} is not {what}: column(s) {', '.join(wrong[:5])} "
                                "have the wrong type")
    try:
        frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputRefusedError(f"{name} cannot be read ({type(exc).__name__})") from None
    if table == "episodes":
        arms = set(frame["arm"].dropna().astype(str).unique())
        if not arms <= set(ARMS):
            raise InputRefusedError(f"{name} is not {what}: arm values outside the contract")
    return frame


def read_validation(path: str | Path) -> dict[str, Any]:
    """Read a ``validation.json`` report (refused in one line if it is not one)."""
    path = Path(path)
    what = "a validation.json written by `rehab-outcomes validate`"
    _check_file(path, what)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise InputRefusedError(f"{masked_name(path)} is not {what}") from None
    if not isinstance(data, dict):
        raise InputRefusedError(f"{masked_name(path)} is not {what}")
    return data
