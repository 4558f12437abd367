"""Explicit recoding of a clinic's own codes (``--recode FILE``); never applied silently.

The mapping file is YAML (or JSON), one block per column::

    # recode.yaml: translate this clinic's codes to the contract's levels
    sex:
      F: female
      M: male
    arm:
      Rest: rest_only
      Stretch: stretching_only
      Strength+run: strength_graded_running

Only exact, whole-cell matches are translated. Every translation is counted and reported in
``validation.json`` under ``recoded``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from rehab_outcomes.contract.schema import CATEGORIES
from rehab_outcomes.exceptions import ConfigError

Mapping = dict[str, dict[str, str]]


def load_recode(path: str | Path, allowed_columns: dict[str, str]) -> Mapping:
    """Read and check a recode file against the columns it may touch (name -> kind)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"recode file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"recode file {path.name} is not valid YAML: {exc.problem}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"recode file {path.name} must map column names to {{from: to}} blocks")
    mapping: Mapping = {}
    for col, block in data.items():
        if col not in allowed_columns:
            raise ConfigError(f"recode file {path.name}: '{col}' is not a contract column")
        if allowed_columns[col] not in ("string", "category"):
            raise ConfigError(f"recode file {path.name}: column '{col}' is not a text column")
        if not isinstance(block, dict) or not block:
            raise ConfigError(f"recode file {path.name}: '{col}' must map codes to contract values")
        levels = CATEGORIES.get(col)
        clean: dict[str, str] = {}
        for src, dst in block.items():
            if levels is not None and str(dst) not in levels:
                raise ConfigError(
                    f"recode file {path.name}: '{col}' target '{dst}' is not one of {', '.join(levels)}"
                )
            clean[str(src)] = str(dst)
        mapping[str(col)] = clean
    return mapping


def apply_recode(raw: pd.DataFrame, mapping: Mapping) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Translate codes; returns the new frame and counts ``{column: {"from -> to": n}}``."""
    out = raw.copy()
    counts: dict[str, dict[str, int]] = {}
    for col, block in mapping.items():
        if col not in out.columns:
            continue
        s = out[col].astype("string[pyarrow]")
        col_counts: dict[str, int] = {}
        for src, dst in block.items():
            hit = (s == src).fillna(False).to_numpy(dtype=bool)
            n = int(hit.sum())
            if n:
                col_counts[f"{src} -> {dst}"] = n
        if col_counts:
            out[col] = s.replace(block)
            counts[col] = col_counts
    return out, counts
