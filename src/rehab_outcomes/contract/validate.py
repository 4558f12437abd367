"""Validation of clinic exports against the data contract.

The steps are: read (CSV, Parquet, Excel) → refuse the whole file if it cannot be trusted
(missing columns, identifying columns) → optional explicit recoding → parse every cell →
validate every row lazily with the pandera models → quarantine each failing row with one line
per failure (rule, column, masked value) → write typed valid rows.

Invariant: ``n_in == n_valid + n_quarantined``; no row is ever dropped silently.
"""

from __future__ import annotations

import copy
import difflib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc

from rehab_outcomes import __version__
from rehab_outcomes.contract.io import read_table, sha256_of
from rehab_outcomes.contract.mapping import (
    Mapping,
    apply_values,
    date_order,
    load_mapping,
    rename_columns,
)
from rehab_outcomes.contract.parse import ParseFailure, parse_frame
from rehab_outcomes.contract.pii import (
    EMAIL_RE,
    identifying_kind,
    is_identifying_column_name,
    mask,
    mask_key,
    mask_series,
    masked_file_name,
)
from rehab_outcomes.contract.schema import (
    CATEGORIES,
    CONTRACT_VERSION,
    DATAFRAME_RULE_COLUMNS,
    Episodes,
    Sessions,
    Visits,
    column_kinds,
    required_columns,
)
from rehab_outcomes.exceptions import (
    ConfigError,
    InputRefusedError,
    QuarantineLimitError,
    StrictValidationError,
)
from rehab_outcomes.outputs import AtomicOutputs, guard_inputs, remove_managed, write_csv

log = logging.getLogger(__name__)

QUARANTINE_COLUMNS = ["row", "episode_id", "rule", "column", "value"]
#: Share of the non-empty cells of an extra column that must be *bare* (unformatted) phone or SSN
#: numbers to refuse the file; e-mails, NHS numbers, grouped SSNs and formatted phone numbers
#: refuse it from a single cell (see ``contract.pii`` and ``docs/privacy.md``).
IDENTIFYING_SHARE = 0.5
#: Smallest (age band, sex, site) group size below which validation.json warns.
REIDENTIFICATION_THRESHOLD = 11
AGE_BANDS = [12, 20, 30, 40, 50, 60, 70, 80, 90, 200]
AGE_BAND_LABELS = ["12-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+"]

EPISODE_OUTPUTS = ("episodes.valid.parquet", "quarantine.csv", "validation.json")
VISIT_OUTPUTS = ("visits.valid.parquet", "visits_quarantine.csv")
SESSION_OUTPUTS = ("sessions.valid.parquet", "sessions_quarantine.csv")


@dataclass
class TableValidation:
    """Outcome of validating one table: typed valid rows, quarantine lines and counts."""

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    n_in: int
    columns_ignored: list[str] = field(default_factory=list)
    recoded: dict[str, dict[str, int]] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    converted: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_valid(self) -> int:
        return len(self.valid)

    @property
    def n_quarantined(self) -> int:
        return int(self.quarantine["row"].nunique()) if len(self.quarantine) else 0

    def failures_by_rule(self) -> dict[str, int]:
        """Number of failures per rule (a row may fail several rules)."""
        if not len(self.quarantine):
            return {}
        counts = self.quarantine.groupby("rule", sort=True).size()
        return {str(k): int(v) for k, v in counts.items()}

    def rows_by_rule(self) -> dict[str, int]:
        """Number of distinct rows failing each rule."""
        if not len(self.quarantine):
            return {}
        counts = self.quarantine.groupby("rule", sort=True)["row"].nunique()
        return {str(k): int(v) for k, v in counts.items()}

    def summary(self) -> dict[str, Any]:
        return {
            "n_in": self.n_in,
            "n_valid": self.n_valid,
            "n_quarantined": self.n_quarantined,
            "failures_by_rule": self.failures_by_rule(),
            "rows_by_rule": self.rows_by_rule(),
            "columns_ignored": self.columns_ignored,
            "renamed": self.renamed,
            "recoded": self.recoded,
            "converted": self.converted,
            "warnings": self.warnings,
        }


# ----------------------------------------------------------------------------------------------
# whole-file checks


def check_columns(raw: pd.DataFrame, model: type[pa.DataFrameModel], what: str) -> list[str]:
    """Refuse missing required columns and identifying extra columns; return ignored columns.

    An extra (non-contract) column refuses the whole file when its name looks like an identifying
    value (an e-mail address, a phone number...), when its name says it holds identifying data
    (:func:`~rehab_outcomes.contract.pii.is_identifying_column_name`), or when any of its cells
    holds an identifying value (:func:`_identifying_values`; every row is scanned). Messages name
    such a column by its position and never echo an identifying name or value. The columns
    returned (ignored, and listed in ``validation.json``) all have harmless names.
    """
    from rehab_outcomes.contract.pii import describe_kind

    required = required_columns(model)
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise InputRefusedError(
            f"{what} file lacks required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
        )
    known = set(model.to_schema().columns)
    extra = [(pos, col) for pos, col in enumerate(raw.columns, start=1) if col not in known]
    for pos, col in extra:  # names first: cheap, and a name must never reach any output
        kind = identifying_kind(pd.Series([str(col)], dtype="string[pyarrow]")).iloc[0]
        if not pd.isna(kind):
            raise InputRefusedError(
                f"{what} file refused: column {pos} has a name that looks like "
                f"{describe_kind(str(kind))}; remove or rename it (the toolkit accepts anonymised "
                "records only)"
            )
        if is_identifying_column_name(col):
            raise InputRefusedError(
                f"{what} file refused: column {pos} ('{mask(col)}') is named like identifying data; "
                "remove it from the export (the toolkit accepts anonymised records only)"
            )
    for pos, col in extra:
        found = _identifying_values(raw.iloc[:, pos - 1])
        if found:
            raise InputRefusedError(
                f"{what} file refused: column {pos} ('{mask(col)}') holds values that look like "
                f"{found} (identifying data); remove it from the export"
            )
    return [str(col) for _, col in extra]


def _identifying_values(values: pd.Series) -> str | None:
    """What identifying values an extra column holds (``"e-mail addresses"``...), or ``None``.

    Every cell is scanned (no sample, no share threshold) for e-mails, NHS numbers, grouped SSNs
    and formatted phone numbers anywhere in its text; bare SSN/phone numbers must make up
    :data:`IDENTIFYING_SHARE` of the non-empty cells (see :mod:`rehab_outcomes.contract.pii`).
    """
    from rehab_outcomes.contract.pii import as_arrow_text, describe_kind, identifying_column_kind

    if not len(values):
        return None
    # fast path: one vectorised pass finds any e-mail address
    if pc.any(pc.match_substring_regex(as_arrow_text(values), EMAIL_RE)).as_py():
        return describe_kind("e-mail", plural=True)
    kind = identifying_column_kind(values, bare_share=IDENTIFYING_SHARE)
    return describe_kind(kind, plural=True) if kind else None


# ----------------------------------------------------------------------------------------------
# row-level validation


def _failure_frame(
    parse_failures: list[ParseFailure],
    schema_errors: pa.errors.SchemaErrors | None,
    frame_failures: list[tuple[str, np.ndarray]],
    n_rows: int,
) -> pd.DataFrame:
    """Collect (row position, column, rule) of every failure."""
    parts = [
        pd.DataFrame({"pos": f.rows, "column": f.column, "rule": f"{f.column}:{f.rule}"})
        for f in parse_failures
    ]
    parsed_bad = {(f.column, int(r)) for f in parse_failures for r in f.rows}
    if schema_errors is not None:
        fc = schema_errors.failure_cases
        if fc["index"].isna().any():
            # a whole-column failure (dtype, missing column): a bug of the parser, never of the data
            bad = fc.loc[fc["index"].isna(), ["column", "check"]].to_dict("records")
            raise RuntimeError(f"contract validation failed on whole columns: {bad}")
        fc = fc.assign(pos=fc["index"].astype("int64"))
        cols = fc[["pos", "column", "check"]]
        cols = cols.assign(rule=cols["column"].astype(str) + ":" + cols["check"].astype(str))
        if parsed_bad:
            keep = [
                not (chk == "not_nullable" and (c, p) in parsed_bad)
                for p, c, chk in zip(cols["pos"], cols["column"], cols["check"], strict=True)
            ]
            cols = cols[np.asarray(keep, dtype=bool)]
        parts.append(cols[["pos", "column", "rule"]])
    for name, rows in frame_failures:
        col = DATAFRAME_RULE_COLUMNS.get(name, "")
        parts.append(pd.DataFrame({"pos": rows, "column": col, "rule": f"{col}:{name}"}))
    if not parts:
        return pd.DataFrame({"pos": pd.Series([], dtype="int64"), "column": [], "rule": []})
    out = pd.concat(parts, ignore_index=True)
    out["pos"] = out["pos"].astype("int64")
    assert out["pos"].between(0, n_rows - 1).all()
    return out.drop_duplicates(["pos", "column", "rule"])


def _quarantine_lines(raw: pd.DataFrame, failures: pd.DataFrame, key_columns: tuple[str, ...]) -> pd.DataFrame:
    """Quarantine lines with masked values, sorted by row then rule."""
    if not len(failures):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in QUARANTINE_COLUMNS})
    failures = failures.sort_values(["pos", "rule", "column"], kind="stable").reset_index(drop=True)
    pos = failures["pos"].to_numpy()
    values = pd.Series([None] * len(failures), dtype=object)
    for col, idx in failures.groupby("column").groups.items():
        if col in raw.columns:
            raw_vals = raw[col].iloc[pos[idx]].reset_index(drop=True)
            raw_text = raw_vals.astype(object).where(raw_vals.notna(), None)
            masked = mask_key(raw_text) if col in key_columns else mask_series(pd.Series(
                [None if v is None else str(v) for v in raw_text], dtype=object))
            values.iloc[np.asarray(idx)] = masked.where(raw_vals.notna().to_numpy(), "").to_numpy()
    eid = raw["episode_id"].iloc[pos] if "episode_id" in raw.columns else pd.Series([""] * len(pos))
    eid = mask_series(eid.reset_index(drop=True))
    return pd.DataFrame({
        "row": pos + 1,
        "episode_id": eid.to_numpy(),
        "rule": failures["rule"].to_numpy(),
        "column": failures["column"].to_numpy(),
        "value": values.fillna("").to_numpy(),
    })


def _to_categories(df: pd.DataFrame) -> pd.DataFrame:
    for col, levels in CATEGORIES.items():
        if col in df.columns:
            arr = pa_arrow.array(df[col].array) if not hasattr(df[col].array, "_pa_array") \
                else df[col].array._pa_array
            codes = pc.index_in(arr, value_set=pa_arrow.array(list(levels))).fill_null(-1)
            df[col] = pd.Categorical.from_codes(np.asarray(codes, dtype=np.int8), categories=list(levels))
    return df


def _check_model(model: type[pa.DataFrameModel], parsed: pd.DataFrame) -> tuple[
        pa.errors.SchemaErrors | None, list[tuple[str, np.ndarray]]]:
    """Run the model's column checks with pandera (lazily) and its cross-column checks directly.

    The cross-column (dataframe-level) checks are evaluated as the vectorised functions they
    are: pandera's reshaping of their failure cases costs seconds on large files.
    Returns the column-level errors and, per failing cross-column rule, the failing positions.
    """
    schema = model.to_schema()
    frame_checks = schema.checks
    column_schema = copy.copy(schema)
    column_schema.checks = []
    errors = None
    try:
        column_schema.validate(parsed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        errors = exc
    frame_failures = []
    for check in frame_checks:
        ok = np.asarray(check(parsed).check_output, dtype=bool)
        if not ok.all():
            frame_failures.append((check.name, np.flatnonzero(~ok)))
    return errors, frame_failures


def _require_columns(raw: pd.DataFrame, model: type[pa.DataFrameModel], what: str) -> None:
    """Refuse a file that lacks required columns, naming all of them with a "did you mean"."""
    missing = [c for c in required_columns(model) if c not in raw.columns]
    if not missing:
        return
    known = set(model.to_schema().columns)
    candidates = {re.sub(r"[^a-z0-9]", "", str(c).lower()): str(c) for c in raw.columns
                  if c not in known and not is_identifying_column_name(str(c))}
    parts = []
    for col in missing:
        hint = difflib.get_close_matches(col.replace("_", ""), list(candidates), n=1, cutoff=0.6)
        parts.append(f"{col} (did you mean '{mask(candidates[hint[0]])}'?)" if hint else col)
    raise InputRefusedError(
        f"{what} file lacks required column{'s' if len(missing) > 1 else ''}: {', '.join(parts)}"
        + ("; a mapping file (--mapping, see `rehab-outcomes mapping draft`) can rename columns"
           if any("did you mean" in p for p in parts) else "")
    )


def _ambiguous_dates(parsed: pd.DataFrame, raw: pd.DataFrame, mapping: Mapping | None,
                     kinds: dict[str, str]) -> list[str]:
    """Warn when a day-first (or month-first) format was applied and no day exceeded 12."""
    fmt = mapping.date_format if mapping else None
    if fmt is None or date_order(fmt) == "other":
        return []
    days = []
    for col, kind in kinds.items():
        if kind != "date" or col not in parsed.columns:
            continue
        text = raw[col].astype("string[pyarrow]")
        non_iso = ~text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(True).to_numpy(dtype=bool)
        d = parsed[col][non_iso].dropna()
        days.append(d.dt.day.to_numpy())
    if not days:
        return []
    all_days = np.concatenate(days)
    if len(all_days) and all_days.max() <= 12:
        return [f"every date read with the format {fmt} has a day of 12 or less, so day and month "
                "could be swapped: check the date format in the mapping file"]
    return []


def _validate_table(raw: pd.DataFrame, model: type[pa.DataFrameModel], what: str,
                    mapping: Mapping | None, key_columns: tuple[str, ...],
                    extra_rules: Any = None) -> TableValidation:
    n_in = len(raw)
    renamed: dict[str, str] = {}
    if mapping is not None:
        raw, renamed = rename_columns(
            raw, mapping, required=column_kinds(Episodes) if model is Episodes else ())
    _require_columns(raw, model, what)
    ignored = check_columns(raw, model, what)
    kinds = column_kinds(model)
    recoded: dict[str, dict[str, int]] = {}
    if mapping is not None:
        raw, recoded = apply_values(raw, mapping)
    units = mapping.unit_factors() if mapping is not None else {}
    t0 = time.perf_counter()
    parsed, parse_failures = parse_frame(raw, kinds, date_format=mapping.date_format if mapping else None,
                                         units={c: f for c, f in units.items() if c in kinds})
    log.info("%s: parsed %s rows (%.2f s)", what, f"{n_in:,}", time.perf_counter() - t0)
    t0 = time.perf_counter()
    errors, frame_failures = _check_model(model, parsed)
    failures = _failure_frame(parse_failures, errors, frame_failures, n_in)
    if extra_rules is not None:
        failures = pd.concat([failures, *extra_rules(parsed)], ignore_index=True).drop_duplicates()
        failures["pos"] = failures["pos"].astype("int64")
    log.info("%s: checked %s rows against %d rules (%.2f s)", what, f"{n_in:,}",
             len(model.to_schema().checks) + sum(len(c.checks) for c in model.to_schema().columns.values()),
             time.perf_counter() - t0)
    quarantine = _quarantine_lines(raw, failures, key_columns=key_columns)
    bad = np.zeros(n_in, dtype=bool)
    bad[failures["pos"].to_numpy()] = True
    valid = parsed.loc[~bad].reset_index(drop=True) if bad.any() else parsed
    converted = {c: {"unit": mapping.spec.units[c], "factor": units[c],
                     "n_converted": int(parsed[c].notna().sum())}
                 for c in units if c in parsed.columns} if mapping is not None else {}
    return TableValidation(valid, quarantine, n_in, ignored, recoded, renamed, converted,
                           _ambiguous_dates(parsed, raw, mapping, kinds))


def validate_episodes(raw: pd.DataFrame, mapping: Mapping | None = None) -> TableValidation:
    """Validate a raw episodes table (as read by :func:`read_table`).

    Raises :class:`InputRefusedError` for whole-file problems; row problems are quarantined.
    """
    ep = _validate_table(raw, Episodes, "episodes", mapping, key_columns=("patient_key",))
    ep.valid = _to_categories(ep.valid)
    return ep


def _against_episodes(episodes: pd.DataFrame, date_col: str, rule: str) -> Any:
    """Rules of a child table that need the valid episodes: the episode exists, and the row's
    date lies between its first visit and last contact."""
    ep = episodes.set_index("episode_id")[["first_visit_date", "last_contact_date"]]

    def rules(parsed: pd.DataFrame) -> list[pd.DataFrame]:
        eid = parsed["episode_id"].astype(object)
        exists = eid.isin(ep.index).to_numpy() & parsed["episode_id"].notna().to_numpy()
        first = eid.map(ep["first_visit_date"])
        last = eid.map(ep["last_contact_date"])
        d = parsed[date_col]
        within = (d.isna() | ~exists | ((d >= first) & (d <= last))).to_numpy(dtype=bool)
        return [
            pd.DataFrame({"pos": np.flatnonzero(~exists), "column": "episode_id",
                          "rule": "episode_id:episode_exists"}),
            pd.DataFrame({"pos": np.flatnonzero(~within), "column": date_col,
                          "rule": f"{date_col}:{rule}"}),
        ]

    return rules


def validate_visits(raw: pd.DataFrame, episodes: pd.DataFrame,
                    mapping: Mapping | None = None) -> TableValidation:
    """Validate a raw visits table against the *valid* episodes."""
    return _validate_table(raw, Visits, "visits", mapping, key_columns=(),
                           extra_rules=_against_episodes(episodes, "visit_date", "visit_within_episode"))


def validate_sessions(raw: pd.DataFrame, episodes: pd.DataFrame,
                      mapping: Mapping | None = None) -> TableValidation:
    """Validate a raw training log (sessions table) against the *valid* episodes."""
    return _validate_table(
        raw, Sessions, "sessions", mapping, key_columns=(),
        extra_rules=_against_episodes(episodes, "session_date", "session_within_episode"))


# ----------------------------------------------------------------------------------------------
# re-identification warning


def smallest_groups(valid: pd.DataFrame, threshold: int = REIDENTIFICATION_THRESHOLD) -> dict[str, Any]:
    """Smallest group size over (age band, sex, site), a re-identification warning."""
    keys = ["age_band", "sex", "site"]
    if not len(valid):
        return {"keys": keys, "min_group_size": 0, "groups": 0, "groups_below_threshold": 0,
                "threshold": threshold}
    band = pd.cut(valid["age_years"].astype(float), AGE_BANDS, right=False, labels=AGE_BAND_LABELS)
    sizes = pd.DataFrame({"age_band": band.astype(str), "sex": valid["sex"].astype(str),
                          "site": valid["site"].astype(str)}).groupby(keys).size()
    smallest = int(sizes.min())
    below = int((sizes < threshold).sum())
    out: dict[str, Any] = {
        "keys": keys,
        "min_group_size": smallest,
        "groups": int(len(sizes)),
        "groups_below_threshold": below,
        "threshold": threshold,
    }
    if below:
        out["warning"] = (
            f"{below} of {len(sizes)} (age band, sex, site) groups have fewer than {threshold} "
            "episodes: share row-level outputs only with care"
        )
    return out


# ----------------------------------------------------------------------------------------------
# the whole step


@dataclass
class ValidationRun:
    """Everything :func:`run_validation` produced (already written to disk)."""

    episodes: TableValidation
    visits: TableValidation | None
    report: dict[str, Any]
    sessions: TableValidation | None = None


MANAGED_OUTPUTS = EPISODE_OUTPUTS + VISIT_OUTPUTS + SESSION_OUTPUTS


def _file_record(path: Path) -> dict[str, str]:
    """How an input is recorded: its SHA-256 and its name with anything identifying masked."""
    return {"file": masked_file_name(path), "sha256": sha256_of(path)}


def _load_run_config(path: str | Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--run-config {masked_file_name(path)} cannot be read "
                          f"({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--run-config {masked_file_name(path)} must hold a mapping of settings")
    return data


def _validate_child(path: str | Path | None, what: str, validator: Any, episodes: pd.DataFrame,
                    mapping: Mapping | None) -> TableValidation | None:
    """Read and validate an optional table of the episodes (visits, sessions), logging progress."""
    if path is None:
        return None
    t0 = time.perf_counter()
    raw = read_table(path)
    log.info("%s: read %s: %s rows (%.2f s)", what, masked_file_name(path), f"{len(raw):,}",
             time.perf_counter() - t0)
    table = validator(raw, episodes, mapping)
    log.info("%s: %s valid, %s quarantined", what, f"{table.n_valid:,}", f"{table.n_quarantined:,}")
    return table


def _too_many_quarantined(ep: TableValidation, max_share: float) -> str | None:
    """The one-line reason to stop the workflow, or None."""
    if ep.n_in and ep.n_valid and ep.n_quarantined / ep.n_in <= max_share:
        return None
    rows = ep.rows_by_rule()
    top = sorted(rows.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    parts = []
    for rule, n in top:
        first = ep.quarantine[ep.quarantine["rule"] == rule].iloc[0]
        example = f"row {int(first['row'])}"
        if str(first["value"]):
            example += f" value '{first['value']}'"
        parts.append(f"{rule} ({n:,} rows, e.g. {example})")
    share = ep.n_quarantined / ep.n_in if ep.n_in else 1.0
    head = ("no episode is valid" if not ep.n_valid else
            f"{ep.n_quarantined:,} of {ep.n_in:,} episodes ({share:.0%}) quarantined, more than "
            f"the limit of {max_share:.0%}")
    return f"{head}; top failing rules: {'; '.join(parts)}"


def run_validation(
    episodes_path: str | Path,
    out_dir: str | Path,
    visits_path: str | Path | None = None,
    sheet: str | int | None = None,
    mapping_path: str | Path | None = None,
    strict: bool = False,
    max_quarantined_share: float = 1.0,
    run_config: str | Path | dict[str, Any] | None = None,
    recode_path: str | Path | None = None,
    sessions_path: str | Path | None = None,
) -> ValidationRun:
    """Validate an export and write ``episodes.valid.parquet``, ``quarantine.csv`` and
    ``validation.json`` (plus ``visits.valid.parquet`` and ``visits_quarantine.csv`` with visits).

    Nothing is written if the file is refused (outputs of an earlier run are removed, never an
    input). Outputs are written atomically. After writing, :class:`QuarantineLimitError` is
    raised when no episode is valid or more than ``max_quarantined_share`` were quarantined, and
    with ``strict`` :class:`StrictValidationError` when any row was.
    ``recode_path`` is the older name of ``mapping_path``.
    """
    out_dir = Path(out_dir)
    episodes_path = Path(episodes_path)
    if mapping_path is not None and recode_path is not None:
        raise ConfigError("give --mapping or its older name --recode, not both")
    mapping_path = mapping_path if mapping_path is not None else recode_path
    if not 0 <= max_quarantined_share <= 1:
        raise ConfigError("--max-quarantined-share must lie between 0 and 1")
    guard_inputs([episodes_path, visits_path, sessions_path, mapping_path,
                  run_config if not isinstance(run_config, dict) else None],
                 out_dir, managed=MANAGED_OUTPUTS)
    config_record = run_config if isinstance(run_config, dict) else _load_run_config(run_config)
    try:
        mapping = load_mapping(mapping_path, column_kinds(Episodes) | column_kinds(Visits)
                               | column_kinds(Sessions)) if mapping_path else None
        t0 = time.perf_counter()
        raw = read_table(episodes_path, sheet=sheet)
        log.info("episodes: read %s: %s rows, %d columns (%.2f s)", masked_file_name(episodes_path),
                 f"{len(raw):,}", raw.shape[1], time.perf_counter() - t0)
        t0 = time.perf_counter()
        ep = validate_episodes(raw, mapping)
        log.info("episodes: %s valid, %s quarantined (%.2f s)", f"{ep.n_valid:,}",
                 f"{ep.n_quarantined:,}", time.perf_counter() - t0)
        vis = _validate_child(visits_path, "visits", validate_visits, ep.valid, mapping)
        ses = _validate_child(sessions_path, "sessions", validate_sessions, ep.valid, mapping)
    except InputRefusedError:
        remove_managed(out_dir, MANAGED_OUTPUTS)
        raise
    report: dict[str, Any] = {
        "input": _file_record(episodes_path),
        "contract_version": CONTRACT_VERSION,
        "package_version": __version__,
        **ep.summary(),
        "reidentification": smallest_groups(ep.valid),
    }
    if mapping is not None and mapping_path is not None:
        report["mapping"] = {**_file_record(Path(mapping_path)), **mapping.describe()}
    files: dict[str, Any] = {"episodes.valid.parquet": ep.valid, "quarantine.csv": ep.quarantine}
    if vis is not None and visits_path is not None:
        report["visits"] = {"input": _file_record(Path(visits_path)), **vis.summary()}
        files["visits.valid.parquet"] = vis.valid
        files["visits_quarantine.csv"] = vis.quarantine
    if ses is not None and sessions_path is not None:
        report["sessions"] = {"input": _file_record(Path(sessions_path)), **ses.summary()}
        files["sessions.valid.parquet"] = ses.valid
        files["sessions_quarantine.csv"] = ses.quarantine
    if config_record is not None:
        report["run_config"] = config_record
    files["validation.json"] = report
    t0 = time.perf_counter()
    with AtomicOutputs(out_dir, managed=MANAGED_OUTPUTS) as tmp:
        for name, obj in files.items():
            target = tmp / name
            if name.endswith(".parquet"):
                obj.to_parquet(target, index=False, engine="pyarrow")
            elif name.endswith(".csv"):
                write_csv(obj, target)
            else:
                target.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    log.info("wrote %d files (%.2f s)", len(files), time.perf_counter() - t0)
    for w in ep.warnings:
        log.warning("episodes: %s", w)
    reason = _too_many_quarantined(ep, max_quarantined_share)
    if reason is not None:
        raise QuarantineLimitError(f"{reason}; see {out_dir / 'quarantine.csv'}")
    children = [t for t in (vis, ses) if t is not None]
    if strict and (ep.n_quarantined or any(t.n_quarantined for t in children)):
        n = ep.n_quarantined + sum(t.n_quarantined for t in children)
        raise StrictValidationError(f"--strict: {n:,} row(s) quarantined, see {out_dir / 'quarantine.csv'}")
    return ValidationRun(ep, vis, report, ses)
