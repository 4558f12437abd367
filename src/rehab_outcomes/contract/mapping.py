"""The mapping file: how a clinic's own export translates to the data contract, stated explicitly.

Nothing is ever guessed while validating; what differs from the contract is written down once in
a YAML file (``validate EXPORT --mapping FILE``, config ``records.mapping``)::

    columns:        # the clinic's column name -> contract column
      Treatment: arm
      Clinic: site
    dates:
      format: "%d/%m/%Y"          # strftime codes, applied strictly to every date column
    values:         # per contract column: the clinic's code -> contract value
      arm: {Rest: rest_only, Stretch: stretching_only, "Strength+Run": strength_graded_running}
      sex: {F: female, M: male, X: other}
    units:
      weekly_km_before_injury: miles   # converted to km (x 1.609344)

Every section is optional. A file in the older flat form (``sex: {F: female}`` at the top
level, as written for ``--recode``) is read as ``values``. Renaming happens first, then codes
are translated (exact, whole-cell matches only), then dates are read with the format (ISO dates
are always accepted as well), then units are converted. Every change is counted and reported
in ``validation.json`` under ``mapping``. ``rehab-outcomes mapping draft EXPORT`` writes a
first draft of this file from an export.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rehab_outcomes.contract.pii import mask
from rehab_outcomes.contract.schema import CATEGORIES
from rehab_outcomes.exceptions import ConfigError

#: Units a numeric contract column may be exported in, with the factor to the contract's unit.
UNITS: dict[str, dict[str, float]] = {
    "weekly_km_before_injury": {"km": 1.0, "miles": 1.609344, "mi": 1.609344},
    "symptom_weeks": {"weeks": 1.0, "days": 1.0 / 7.0, "months": 365.25 / 12.0 / 7.0},
}
_SECTIONS = {"columns", "dates", "values", "units"}
_DIRECTIVE = re.compile(r"%[^aAbBdHIjmMpSyYz%]")


class DateSettings(BaseModel):
    """How the export writes its dates."""

    model_config = ConfigDict(extra="forbid")
    format: str = Field(description="strftime codes, e.g. '%d/%m/%Y'; ISO dates are always accepted")

    @field_validator("format")
    @classmethod
    def _known_codes(cls, v: str) -> str:
        if "%Y" not in v and "%y" not in v or "%d" not in v or ("%m" not in v and "%b" not in v):
            raise ValueError("a date format needs a day (%d), a month (%m or %b) and a year (%Y)")
        bad = _DIRECTIVE.search(v)
        if bad:
            raise ValueError(f"unknown strftime code {bad.group(0)!r}")
        return v


class MappingFile(BaseModel):
    """The whole mapping file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    columns: dict[str, str] = Field(default_factory=dict)
    dates: DateSettings | None = None
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    units: dict[str, str] = Field(default_factory=dict)

    @field_validator("values", mode="before")
    @classmethod
    def _codes_as_text(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({str(a): str(b) for a, b in block.items()} if isinstance(block, dict) else block)
                    for k, block in v.items()}
        return v

    @field_validator("columns", mode="before")
    @classmethod
    def _names_as_text(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(a): str(b) for a, b in v.items()}
        return v


class Mapping:
    """A checked mapping, ready to apply to a raw export (see :func:`load_mapping`)."""

    def __init__(self, spec: MappingFile, name: str = "mapping") -> None:
        self.spec = spec
        self.name = name

    @property
    def date_format(self) -> str | None:
        return self.spec.dates.format if self.spec.dates else None

    def unit_factors(self) -> dict[str, float]:
        return {col: UNITS[col][unit] for col, unit in self.spec.units.items()}

    def describe(self) -> dict[str, Any]:
        """The mapping as recorded in ``validation.json`` (codes masked if identifying)."""
        return {
            "columns": {mask(k): v for k, v in self.spec.columns.items()},
            "dates": self.spec.dates.model_dump() if self.spec.dates else None,
            "values": {c: {mask(k): v for k, v in b.items()} for c, b in self.spec.values.items()},
            "units": dict(self.spec.units),
        }


def _check(spec: MappingFile, kinds: dict[str, str], name: str) -> None:
    def fail(msg: str) -> None:
        raise ConfigError(f"mapping file {name}: {msg}")

    targets: dict[str, str] = {}
    for src, dst in spec.columns.items():
        if dst not in kinds:
            hint = sorted((k for k in kinds if k in dst), key=len, reverse=True)[:1] \
                or difflib.get_close_matches(dst, list(kinds), n=1)
            fail(f"columns: '{mask(dst)}' is not a contract column"
                 + (f" (did you mean '{hint[0]}'?)" if hint else ""))
        if dst in targets:
            fail(f"columns: two columns are mapped to '{dst}'")
        targets[dst] = src
    for col, block in spec.values.items():
        if col not in kinds:
            fail(f"values: '{mask(col)}' is not a contract column")
        if kinds[col] not in ("string", "category"):
            fail(f"values: column '{col}' is not a text column")
        if not block:
            fail(f"values: '{col}' must map codes to contract values")
        levels = CATEGORIES.get(col)
        for dst in block.values():
            if levels is not None and dst not in levels:
                fail(f"values: '{col}' target '{mask(dst)}' is not one of {', '.join(levels)}")
    for col, unit in spec.units.items():
        if col not in UNITS:
            fail(f"units: column '{mask(col)}' has no unit choice (only {', '.join(UNITS)})")
        if unit not in UNITS[col]:
            fail(f"units: '{col}' unit '{mask(unit)}' is not one of {', '.join(UNITS[col])}")


def load_mapping(path: str | Path, kinds: dict[str, str]) -> Mapping:
    """Read and check a mapping file (YAML or JSON) against the contract columns (name -> kind).

    Raises :class:`ConfigError` (exit status 1) naming the key at fault.
    """
    path = Path(path)
    name = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"mapping file not found: {name}") from None
    except IsADirectoryError:
        raise ConfigError(f"mapping file {name} is a folder") from None
    except UnicodeDecodeError:
        raise ConfigError(f"mapping file {name} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"mapping file {name} is not valid YAML: {problem}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"mapping file {name} must hold the sections columns, dates, values, units")
    if not set(map(str, data)) & _SECTIONS:
        data = {"values": data}  # the flat form of --recode files
    try:
        spec = MappingFile.model_validate(data)
    except ValidationError as exc:
        parts = [f"{mask('.'.join(str(p) for p in err['loc']))}: {err['msg']}"
                 for err in exc.errors()[:3]]
        raise ConfigError(f"mapping file {name}: {'; '.join(parts)}") from None
    _check(spec, kinds, name)
    return Mapping(spec, name)


def rename_columns(raw: pd.DataFrame, mapping: Mapping | None,
                   required: Iterable[str] = ()) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename the export's columns to contract names; returns the frame and what was renamed.

    One mapping file may serve the episodes, visits and sessions files: a column named under
    ``columns:`` must exist in the file whose table has its target among ``required`` (the
    episodes file); other files take the columns they have.
    """
    if mapping is None or not mapping.spec.columns:
        return raw, {}
    required = set(required)
    present = {c: d for c, d in mapping.spec.columns.items() if c in raw.columns}
    missing = [c for c, d in mapping.spec.columns.items() if c not in raw.columns and d in required]
    if missing:
        shown = ", ".join(f"'{mask(c)}'" for c in missing)
        raise ConfigError(f"mapping file {mapping.name}: column(s) {shown} named under columns: "
                          "are not in the export")
    clash = [d for c, d in present.items() if d in raw.columns and d not in present]
    if clash:
        raise ConfigError(f"mapping file {mapping.name}: the export already has a column "
                          f"'{clash[0]}'; mapping another column to it would hide one of them")
    return raw.rename(columns=present), {mask(c): d for c, d in present.items()}


def apply_values(raw: pd.DataFrame, mapping: Mapping | None) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Translate codes; returns the new frame and counts ``{column: {"from -> to": n}}``."""
    if mapping is None or not mapping.spec.values:
        return raw, {}
    out = raw.copy()
    counts: dict[str, dict[str, int]] = {}
    for col, block in mapping.spec.values.items():
        if col not in out.columns:
            continue
        s = out[col].astype("string[pyarrow]")
        col_counts: dict[str, int] = {}
        for src, dst in block.items():
            n = int((s == src).fillna(False).to_numpy(dtype=bool).sum())
            if n:
                col_counts[f"{mask(src)} -> {dst}"] = n
        if col_counts:
            out[col] = s.replace(block)
            counts[col] = col_counts
    return out, counts


def date_order(date_format: str) -> Literal["day_first", "month_first", "other"]:
    """Whether a format puts the day before the month."""
    d, m = date_format.find("%d"), max(date_format.find("%m"), date_format.find("%b"))
    if d < 0 or m < 0:
        return "other"
    return "day_first" if d < m else "month_first"
