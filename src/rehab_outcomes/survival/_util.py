"""Input handling shared by the survival analyses: outcome arrays, groups, design matrices."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rehab_outcomes.contract.schema import CATEGORIES, REFERENCE_ARM
from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning

#: Reference level of categorical covariates (others: the first level in contract order).
REFERENCE_LEVELS: dict[str, str] = {"arm": REFERENCE_ARM, "sex": "female"}


def outcome_name(duration_col: str, outcome: str | None) -> str:
    """Outcome label: ``outcome`` if given, else ``duration_col`` without ``_weeks``."""
    return outcome if outcome is not None else duration_col.removesuffix("_weeks")


def as_float(s: pd.Series) -> np.ndarray:
    """A numeric column as a float array, missing values as ``NaN``."""
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def levels(s: pd.Series, name: str | None = None) -> list[str]:
    """Levels present in ``s``: the contract's (or the categorical's) order, else sorted."""
    present = {str(v) for v in pd.unique(s.dropna())}
    if name in CATEGORIES:
        order = [str(v) for v in CATEGORIES[name]]
    elif isinstance(s.dtype, pd.CategoricalDtype):
        order = [str(c) for c in s.cat.categories]
    else:
        order = []
    known = [lv for lv in order if lv in present]
    return known + sorted(present - set(known))


def level_codes(s: pd.Series, labels: Sequence[str]) -> np.ndarray:
    """Position in ``labels`` of the text of every value of ``s`` (``-1`` if absent or missing).

    Equivalent to ``pd.Categorical(s.astype(str), categories=labels).codes`` but factorizes
    first, so the text conversion runs once per distinct value rather than once per row.
    """
    codes, uniques = pd.factorize(s)
    index = {lv: i for i, lv in enumerate(labels)}
    lookup = np.array([index.get(str(u), -1) for u in uniques] + [-1], dtype=np.intp)
    return lookup[codes]


def survival_arrays(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    weights_col: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times, events, weights and the mask of rows with an outcome.

    Rows with a missing time or event (e.g. ``reinjury_weeks`` of episodes never pain-free) are
    outside the analysis; they are flagged ``False`` in the returned mask.
    """
    for col in (duration_col, event_col, weights_col):
        if col is not None and col not in df.columns:
            raise AnalysisError(f"column {col!r} is missing from the data")
    time = as_float(df[duration_col])
    event = as_float(df[event_col])
    weights = np.ones(len(df)) if weights_col is None else as_float(df[weights_col])
    ok = np.isfinite(time) & np.isfinite(event) & np.isfinite(weights)
    if np.any(time[ok] < 0):
        raise AnalysisError(f"{duration_col!r} has negative times")
    if not np.all(np.isin(event[ok], (0.0, 1.0))):
        raise AnalysisError(f"{event_col!r} must be 0 (censored) or 1 (event)")
    if np.any(weights[ok] <= 0):
        raise AnalysisError(f"case weights {weights_col!r} must be positive")
    return time, event, weights, ok


def revcumsum(a: np.ndarray) -> np.ndarray:
    """Reverse cumulative sum along the first axis."""
    return np.cumsum(a[::-1], axis=0)[::-1]


@dataclass
class Design:
    """A Cox design matrix built from a covariate list."""

    X: np.ndarray
    names: list[str]
    assign: dict[str, list[int]]
    complete: np.ndarray
    references: dict[str, str] = field(default_factory=dict)


def build_design(df: pd.DataFrame, covariates: Sequence[str], rows: np.ndarray) -> Design:
    """Expand ``covariates`` into a numeric design matrix on the complete cases of ``rows``.

    Categorical terms (string, categorical or boolean columns) become indicator columns named
    ``term:level`` against a reference level (``arm``: rest_only, ``sex``: female, others: the
    first level present); levels without rows are dropped with a warning. Numeric terms keep
    their name. A row with any covariate missing is not a complete case.

    Parameters
    ----------
    df
        Data frame of episodes.
    covariates
        Column names.
    rows
        Boolean mask of rows eligible for the analysis (an outcome present, etc.).

    Returns
    -------
    Design
        ``X`` holds the complete-case rows only; ``complete`` is the mask over ``df``.
    """
    missing = [c for c in covariates if c not in df.columns]
    if missing:
        raise AnalysisError(f"covariate column(s) missing from the data: {missing}")
    if len(set(covariates)) != len(covariates):
        raise AnalysisError("covariates must not repeat")
    complete = rows.copy()
    numeric: dict[str, np.ndarray | None] = {}
    for c in covariates:
        s = df[c]
        is_num = (
            pd.api.types.is_numeric_dtype(s)
            and not pd.api.types.is_bool_dtype(s)
            and not isinstance(s.dtype, pd.CategoricalDtype)
        )
        numeric[c] = as_float(s) if is_num else None
        complete &= (np.isfinite(numeric[c]) if is_num else s.notna().to_numpy(dtype=bool))
    columns: list[np.ndarray] = []
    names: list[str] = []
    assign: dict[str, list[int]] = {}
    refs: dict[str, str] = {}
    for c in covariates:
        values = numeric[c]
        if values is not None:
            x = values[complete]
            if x.size and np.ptp(x) == 0:
                raise AnalysisError(f"covariate {c!r} is constant in the analysed rows; drop it")
            assign[c] = [len(names)]
            columns.append(x)
            names.append(c)
            continue
        s = df.loc[complete, c]
        declared: list[str] = []
        if c in CATEGORIES:
            declared = [str(v) for v in CATEGORIES[c]]
        elif isinstance(df[c].dtype, pd.CategoricalDtype):
            declared = [str(v) for v in df[c].cat.categories]
        present = levels(s, c)
        empty = [lv for lv in declared if lv not in present]
        if empty:
            warnings.warn(
                f"covariate {c!r}: level(s) {empty} have no analysed rows and are dropped",
                StatisticalWarning,
                stacklevel=3,
            )
        if len(present) < 2:
            raise AnalysisError(
                f"covariate {c!r} has a single level ({present}) in the analysed rows; "
                "no contrast can be estimated"
            )
        ref = REFERENCE_LEVELS.get(c, present[0])
        if ref not in present:
            warnings.warn(
                f"covariate {c!r}: reference level {ref!r} has no rows; using {present[0]!r}",
                StatisticalWarning,
                stacklevel=3,
            )
            ref = present[0]
        refs[c] = ref
        code = level_codes(s, present)
        assign[c] = []
        for i, lv in enumerate(present):
            if lv == ref:
                continue
            assign[c].append(len(names))
            columns.append((code == i).astype(float))
            names.append(f"{c}:{lv}")
    n = int(complete.sum())
    X = np.empty((n, len(columns)), order="F")  # column-major: the Cox engine works by column
    for j, col in enumerate(columns):
        X[:, j] = col
    return Design(X=X, names=names, assign=assign, complete=complete, references=refs)


def group_codes(
    df: pd.DataFrame, group_col: str | None, rows: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """Integer codes (over ``rows``) and labels of the groups present; one group ``all`` if none."""
    n = int(rows.sum())
    if group_col is None:
        return np.zeros(n, dtype=np.intp), ["all"]
    if group_col not in df.columns:
        raise AnalysisError(f"column {group_col!r} is missing from the data")
    s = df.loc[rows, group_col]
    if s.isna().any():
        raise AnalysisError(f"{group_col!r} has missing values in rows with an outcome")
    labels = levels(s, group_col)
    return level_codes(s, labels), labels
