"""``rehab-outcomes mapping draft``: a first mapping file written from a clinic's own export.

The draft proposes, and the researcher decides: columns are matched to the contract by their
normalised name (and a list of common synonyms) and, for coded columns, by their values; every
distinct code of a coded column is listed with a proposed contract value or ``TODO``; the date
format is guessed from the values. A draft with ``TODO`` left in it is refused by ``validate``
(``TODO`` is not a contract value), so nothing is guessed silently. Values that look identifying
are never written into the draft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from rehab_outcomes.contract.mapping import UNITS
from rehab_outcomes.contract.parse import _strict_strptime
from rehab_outcomes.contract.pii import is_identifying_column_name, looks_identifying, mask
from rehab_outcomes.contract.schema import CATEGORIES, Episodes, Visits, column_kinds

TODO = "TODO"
#: Most distinct codes listed for one coded column.
MAX_CODES = 40

#: Other names clinics use for each contract column (compared after normalising).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "episode_id": ("episode", "episodeid", "episodeno", "episodenumber", "caseid", "case",
                   "referralid", "referral", "id"),
    "patient_key": ("patient", "patientkey", "patientid", "pseudonym", "pseudoid", "pid",
                    "subjectid", "subject", "studyid"),
    "site": ("site", "clinic", "location", "centre", "center", "practice", "branch", "sitename",
             "clinicname"),
    "arm": ("arm", "treatment", "group", "intervention", "programme", "program", "therapy",
            "treatmentarm", "treatmentgroup"),
    "diagnosis": ("diagnosis", "dx", "condition", "injury", "workingdiagnosis"),
    "age_years": ("age", "ageyears", "ageatfirstvisit", "ageatreferral", "ageyrs"),
    "sex": ("sex", "gender"),
    "bmi": ("bmi", "bodymassindex"),
    "weekly_km_before_injury": ("weeklykm", "kmperweek", "weeklydistance", "weeklymiles",
                                "milesperweek", "weeklymileage", "mileage", "weeklyvolume",
                                "kmweek", "milesweek"),
    "symptom_weeks": ("symptomweeks", "symptomduration", "durationweeks", "weekssymptoms",
                      "symptomdurationweeks", "duration"),
    "baseline_pain_nrs": ("pain", "baselinepain", "painnrs", "nrs", "painscore", "painbaseline",
                          "vas"),
    "baseline_kujala": ("kujala", "baselinekujala", "akps", "kujalascore"),
    "first_visit_date": ("firstvisit", "firstvisitdate", "startdate", "referraldate",
                         "firstappointment", "dateoffirstvisit", "initialassessment"),
    "pain_free_run_date": ("painfreedate", "painfreerundate", "returntorun", "returntorunning",
                           "rtrdate", "painfreerun", "painfreerunning"),
    "reinjury_date": ("reinjury", "reinjurydate", "recurrence", "recurrencedate", "relapsedate"),
    "last_contact_date": ("lastcontact", "lastcontactdate", "lastvisit", "enddate",
                          "dischargedate", "lastseen"),
    "exit_reason": ("exitreason", "outcome", "dischargereason", "status", "reason", "exit"),
    "visit_date": ("visitdate", "date", "appointmentdate", "attendancedate"),
    "pain_nrs": ("pain", "painnrs", "painscore", "nrs"),
    "run_minutes_week": ("runminutes", "runminutesweek", "minutesrunning", "runningminutes"),
    "strength_sessions_week": ("strengthsessions", "strengthsessionsweek", "strength"),
    "walk_run_stage": ("stage", "walkrunstage", "programmestage"),
}

#: Keywords that suggest a contract value for a clinic's code (lower-case substrings).
CODE_HINTS: dict[str, dict[str, tuple[str, ...]]] = {
    "arm": {
        "strength_graded_running": ("strength", "run", "graded", "str+", "sgr", "load"),
        "stretching_only": ("stretch", "flex"),
        "rest_only": ("rest", "relative rest", "wait"),
    },
    "sex": {"female": ("f", "female", "woman", "w", "frau", "femme", "mujer"),
            "male": ("m", "male", "man", "h", "homme", "mann", "hombre"),
            "other": ("x", "other", "diverse", "d", "nb", "non-binary", "u")},
    "diagnosis": {
        "patellofemoral_pain": ("pfp", "patellofemoral", "pfps", "anterior knee", "runner"),
        "itb_syndrome": ("itb", "iliotibial", "it band"),
        "patellar_tendinopathy": ("tendin", "jumper", "patellar tend"),
        "meniscal_irritation": ("menisc",),
        "other_knee": ("other",),
    },
    "session_type": {"run": ("run", "jog"), "strength": ("strength", "gym", "weights"),
                     "cross_training": ("cross", "bike", "swim", "cycle")},
    "exit_reason": {
        "completed": ("complete", "discharged", "finished", "done"),
        "lost_to_follow_up": ("lost", "ltfu", "dna", "no show", "did not attend"),
        "withdrew": ("withdr", "declined", "stopped", "self"),
        "ongoing": ("ongoing", "open", "active", "current"),
    },
}

#: Date formats tried, in order of preference.
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d",
                "%d/%m/%y", "%m/%d/%y", "%d.%m.%y")


def normalise(name: str) -> str:
    """Lower case, letters and digits only: ``"Weekly KM (before)"`` -> ``"weeklykmbefore"``."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass
class Draft:
    """What the draft proposes."""

    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    date_format: str | None = None
    date_note: str = ""
    units: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    identifying: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _suggest_code(column: str, code: str) -> str:
    if code in CATEGORIES[column]:
        return code
    low = code.strip().lower()
    for level, hints in CODE_HINTS[column].items():
        for h in hints:
            if (len(h) <= 2 and low == h) or (len(h) > 2 and h in low):
                return level
    return TODO


def _category_score(column: str, codes: list[str]) -> float:
    if not codes:
        return 0.0
    hits = sum(_suggest_code(column, c) != TODO for c in codes)
    return hits / len(codes)


def _distinct_codes(values: pd.Series) -> list[str]:
    s = values.dropna().astype(str)
    s = s[~looks_identifying(s.astype("string[pyarrow]")).to_numpy(dtype=bool)]
    counts = s.value_counts()
    return [str(c) for c in counts.index[:MAX_CODES]]


def _guess_date_format(samples: list[pd.Series]) -> tuple[str | None, str]:
    text = pd.concat(samples).dropna().astype(str) if samples else pd.Series([], dtype=str)
    text = text[text.str.strip() != ""]
    if text.empty:
        return None, "no dates to look at"
    arr = pa.chunked_array([pa.array(text.tolist(), type=pa.string())])
    fits = []
    for fmt in DATE_FORMATS:
        ok = _strict_strptime(arr, fmt)
        if ok.null_count == 0:
            fits.append(fmt)
    if not fits:
        return None, "no single format reads every date: set dates.format by hand"
    if "%d/%m/%Y" in fits and "%m/%d/%Y" in fits:
        return "%d/%m/%Y", ("every day is 12 or less, so day-first and month-first both fit: "
                            "check which one the clinic uses")
    return fits[0], ""


def draft_mapping(raw: pd.DataFrame, table: str = "episodes") -> Draft:
    """Propose a mapping for a raw export (all columns as text, as :func:`read_table` gives)."""
    model = Episodes if table == "episodes" else Visits
    kinds = column_kinds(model)
    d = Draft()
    taken: set[str] = {c for c in raw.columns if c in kinds}
    for col in raw.columns:
        if col in kinds:
            continue
        if is_identifying_column_name(str(col)):
            d.identifying.append(str(col))
            continue
        norm = normalise(col)
        match = None
        for target, names in SYNONYMS.items():
            if target in kinds and target not in taken and (norm == normalise(target) or norm in names):
                match = target
                break
        if match is None:
            codes = _distinct_codes(raw[col])
            if 0 < len(codes) <= MAX_CODES:
                scores = {c: _category_score(c, codes) for c in CATEGORIES
                          if c in kinds and c not in taken}
                best = max(scores, key=lambda c: scores[c], default=None)
                if best is not None and scores[best] >= 0.5:
                    match = best
        if match is None:
            d.unmatched.append(str(col))
            continue
        d.columns[str(col)] = match
        taken.add(match)
        if match == "weekly_km_before_injury" and "mile" in norm:
            d.units[match] = "miles"
    renamed = raw.rename(columns=d.columns)
    for col in CATEGORIES:
        if col in renamed.columns and col in kinds:
            codes = _distinct_codes(renamed[col])
            block = {c: _suggest_code(col, c) for c in codes if c not in CATEGORIES[col]}
            if block:
                d.values[col] = block
    date_cols = [c for c, k in kinds.items() if k == "date" and c in renamed.columns]
    fmt, note = _guess_date_format([renamed[c] for c in date_cols])
    d.date_format, d.date_note = fmt, note
    d.missing = [c for c, col in model.to_schema().columns.items()
                 if col.required and c not in renamed.columns]
    return d


def _q(text: str) -> str:
    """A YAML scalar, quoted."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(d: Draft, source: str) -> str:
    """The draft as a commented YAML mapping file."""
    lines = [
        f"# Draft mapping for {source}, written by `rehab-outcomes mapping draft`.",
        "# Check every line, replace each TODO, then: rehab-outcomes validate EXPORT --mapping THIS_FILE",
        "# (see docs/own-export.md). validate refuses a mapping that still holds TODO.",
        "",
        "# The clinic's column name -> contract column.",
        "columns:" if d.columns else "columns: {}",
    ]
    lines += [f"  {_q(src)}: {dst}" for src, dst in d.columns.items()]
    if d.missing:
        lines.append(f"  # TODO: no column found for: {', '.join(d.missing)}")
    if d.unmatched:
        shown = ", ".join(mask(c) for c in d.unmatched)
        lines.append(f"  # not matched (ignored by validate unless mapped): {shown}")
    if d.identifying:
        lines.append(f"  # {len(d.identifying)} column(s) look identifying: remove them from the "
                     "export, validate refuses them")
    lines += ["", "# How the export writes dates (strftime codes); ISO dates are always accepted."]
    if d.date_format:
        lines += ["dates:", f"  format: {_q(d.date_format)}"]
        if d.date_note:
            lines.append(f"  # {d.date_note}")
    else:
        lines += [f"# {d.date_note}", "# dates:", '#   format: "%d/%m/%Y"']
    lines += ["", "# Per contract column: the clinic's code -> contract value."]
    if d.values:
        lines.append("values:")
        for col, block in d.values.items():
            lines.append(f"  {col}:  # one of: {', '.join(CATEGORIES[col])}")
            lines += [f"    {_q(src)}: {dst}" for src, dst in block.items()]
    else:
        lines.append("values: {}")
    lines += ["", "# Units of numeric columns, converted to the contract's."]
    if d.units:
        lines.append("units:")
        lines += [f"  {col}: {unit}  # one of: {', '.join(UNITS[col])}" for col, unit in d.units.items()]
    else:
        lines.append("units: {}")
    return "\n".join(lines) + "\n"


def draft_file(export: Path, out: Path, sheet: str | int | None = None,
               force: bool = False) -> tuple[Draft, Path]:
    """Read ``export``, write the draft to ``out`` (never over the export; over an existing
    mapping only with ``force``)."""
    from rehab_outcomes.contract.io import read_table
    from rehab_outcomes.contract.pii import masked_file_name
    from rehab_outcomes.exceptions import ConfigError
    from rehab_outcomes.outputs import AtomicOutputs, guard_inputs

    guard_inputs([export], out.parent, managed=[out.name], out_file=out)
    if out.exists() and not force:
        raise ConfigError(f"{masked_file_name(out)} exists: give another --out, or --force to replace it")
    raw = read_table(export, sheet=sheet)
    d = draft_mapping(raw)
    with AtomicOutputs(out.parent, managed=[]) as tmp:
        (tmp / out.name).write_text(render(d, masked_file_name(export)), encoding="utf-8")
    return d, out


def summary_line(d: Draft) -> dict[str, Any]:
    """Counts for the command's one-line report."""
    todo = sum(v == TODO for b in d.values.values() for v in b.values())
    return {"columns": len(d.columns), "codes": sum(len(b) for b in d.values.values()),
            "todo": todo + len(d.missing) + (0 if d.date_format else 1),
            "missing": d.missing}
