"""Benchmark: validate 1,000,000 episodes (clean, with 1 % bad rows, with extra columns), CSV
and Parquet, the full identifying-data scan included.

Reports wall time of ``read_table`` + ``validate_episodes`` next to a baseline measured in the
same run: a typed ``pandas.read_csv`` of the same CSV (dtypes given, dates parsed) and a plain
``pandas.read_parquet`` of the same Parquet file. Validation scans every cell of every text and
category column for e-mails, phone, NHS and social security numbers and formula prefixes, and
every cell of every extra column (see ``docs/privacy.md``); ``pii_scan_s`` is the time of that
scan alone on the same rows. The "1% bad" file has identifying values among its bad rows; the
"extra columns" file adds a free-text column, 10-digit lab codes and Unix timestamps, which are
scanned in full and must not be refused.

Goals on a 2-core machine: Parquet read + validated in at most 2 s; CSV in at most 2x the time
of the typed ``pandas.read_csv``.

Usage: python benchmarks/bench_validate.py [--rows 1000000] [--repeat 3] [--out results/bench]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rehab_outcomes.contract import pii
from rehab_outcomes.contract.io import read_table
from rehab_outcomes.contract.validate import validate_episodes

DATE_COLS = ["first_visit_date", "pain_free_run_date", "reinjury_date", "last_contact_date"]
TYPED = {
    "episode_id": "string[pyarrow]", "patient_key": "string[pyarrow]", "site": "string[pyarrow]",
    "arm": "category", "diagnosis": "category", "age_years": "Int64", "sex": "category",
    "bmi": "float64", "weekly_km_before_injury": "float64", "symptom_weeks": "float64",
    "baseline_pain_nrs": "Int64", "baseline_kujala": "Int64", "exit_reason": "category",
    "notes": "string[pyarrow]", "lab_code": "string[pyarrow]", "sample_ts": "int64",
}
TEXT_COLUMNS = ("episode_id", "patient_key", "site", "arm", "diagnosis", "sex", "exit_reason")
EXTRA_COLUMNS = ("notes", "lab_code", "sample_ts")


def make_export(n: int, bad_share: float, seed: int = 7, extras: bool = False) -> pd.DataFrame:
    """A contract-shaped export of ``n`` rows, ``bad_share`` of them broken (one rule each, some
    by an identifying value); ``extras`` adds harmless extra columns (text, codes, timestamps)."""
    rng = np.random.default_rng(seed)
    first = np.datetime64("2022-01-03") + rng.integers(0, 730, n).astype("timedelta64[D]")
    has_pf = rng.random(n) < 0.7
    pf = first + rng.integers(0, 300, n).astype("timedelta64[D]")
    has_re = has_pf & (rng.random(n) < 0.3)
    re = pf + rng.integers(1, 300, n).astype("timedelta64[D]")
    last = np.maximum(re, pf) + rng.integers(0, 100, n).astype("timedelta64[D]")
    ids = np.char.add("EP", np.char.zfill(np.arange(n).astype(str), 7))

    def dates(a: np.ndarray, keep: np.ndarray | None = None) -> pd.Series:
        s = pd.Series(np.datetime_as_string(a, unit="D"), dtype="string[pyarrow]")
        return s if keep is None else s.where(keep)

    df = pd.DataFrame({
        "episode_id": pd.Series(ids, dtype="string[pyarrow]"),
        "patient_key": pd.Series(np.char.add("PK", np.char.zfill(rng.integers(0, 10**9, n).astype(str), 9)),
                                 dtype="string[pyarrow]"),
        "site": pd.Series(rng.choice(["north", "south", "east", "west", "central"], n), dtype="string[pyarrow]"),
        "arm": rng.choice(["rest_only", "stretching_only", "strength_graded_running"], n),
        "diagnosis": rng.choice(["patellofemoral_pain", "itb_syndrome", "patellar_tendinopathy"], n),
        "age_years": rng.integers(16, 70, n),
        "sex": rng.choice(["female", "male"], n),
        "bmi": np.round(np.clip(rng.normal(23.3, 2.8, n), 15, 45), 1),
        "weekly_km_before_injury": np.round(rng.lognormal(np.log(20), 0.5, n), 1),
        "symptom_weeks": np.round(rng.gamma(2, 8, n), 1),
        "baseline_pain_nrs": rng.integers(2, 10, n),
        "baseline_kujala": rng.integers(40, 100, n),
        "first_visit_date": dates(first),
        "pain_free_run_date": dates(pf, has_pf),
        "reinjury_date": dates(re, has_re),
        "last_contact_date": dates(last),
        "exit_reason": rng.choice(["completed", "lost_to_follow_up", "withdrew", "ongoing"], n),
    })
    n_bad = int(n * bad_share)
    if n_bad:
        rows = rng.choice(n, n_bad, replace=False)
        kinds = np.arange(n_bad) % 7
        df["age_years"] = df["age_years"].astype(object)
        df.loc[rows[kinds == 0], "age_years"] = 95
        df.loc[rows[kinds == 1], "sex"] = "F"
        df.loc[rows[kinds == 2], "bmi"] = 99.0
        df.loc[rows[kinds == 3], "first_visit_date"] = "2099-01-01"
        df["age_years"] = df["age_years"].astype("int64")
        # identifying values (fake) inside contract text columns
        df.loc[rows[kinds == 4], "site"] = "Leeds zoe.x@example.org"
        df.loc[rows[kinds == 5], "site"] = "Leeds 07700 900123"
        df.loc[rows[kinds == 6], "episode_id"] = "4010232137"
    if extras:
        df["notes"] = pd.Series(rng.choice(["", "seen 2024-01-08, 12 km", "shoe 42, ran 5 km",
                                            "ok"], n), dtype="string[pyarrow]")
        df["lab_code"] = pd.Series(rng.integers(10**9, 10**10, n).astype(str), dtype="string[pyarrow]")
        df["sample_ts"] = rng.integers(1_600_000_000, 1_750_000_000, n)
    return df


def pii_scan(df: pd.DataFrame) -> None:
    """The identifying-data scan validation runs, alone: every text cell, every extra column
    (``df`` has its text columns as Arrow strings already, as the parser gives them)."""
    for col in TEXT_COLUMNS:
        pii.looks_identifying(df[col])
        if col in ("episode_id", "patient_key", "site"):
            pii.formula_prefix(df[col])
    for col in EXTRA_COLUMNS:
        if col in df.columns:
            assert pii.identifying_column_kind(df[col]) is None


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, bad, extras in (("clean", 0.0, False), ("1% bad", 0.01, False),
                                   ("extra columns", 0.0, True)):
            df = make_export(args.rows, bad, extras=extras)
            csv, pq = Path(tmp) / f"{label}.csv", Path(tmp) / f"{label}.parquet"
            df.to_csv(csv, index=False)
            df.to_parquet(pq, index=False)
            res = validate_episodes(read_table(pq))
            expected_bad = int(args.rows * bad)
            assert res.n_quarantined == expected_bad, (res.n_quarantined, expected_bad)
            assert res.columns_ignored == [c for c in EXTRA_COLUMNS if c in df.columns]
            typed = {c: t for c, t in TYPED.items() if c in df.columns}
            t_csv_base = best_of(lambda csv=csv, typed=typed: pd.read_csv(csv, dtype=typed,
                                                                          parse_dates=DATE_COLS),
                                 args.repeat)
            text = df.astype({c: "string[pyarrow]" for c in TEXT_COLUMNS})
            t_scan = best_of(lambda text=text: pii_scan(text), args.repeat)
            t_csv = best_of(lambda csv=csv: validate_episodes(read_table(csv)), args.repeat)
            t_pq_base = best_of(lambda pq=pq: pd.read_parquet(pq), args.repeat)
            t_pq = best_of(lambda pq=pq: validate_episodes(read_table(pq)), args.repeat)
            rows += [
                {"input": f"CSV, {label}", "baseline": "typed pandas.read_csv", "baseline_s": t_csv_base,
                 "validate_s": t_csv, "ratio": t_csv / t_csv_base, "goal": "ratio <= 2",
                 "pii_scan_s": t_scan, "quarantined": res.n_quarantined},
                {"input": f"Parquet, {label}", "baseline": "pandas.read_parquet", "baseline_s": t_pq_base,
                 "validate_s": t_pq, "ratio": t_pq / t_pq_base, "goal": "validate_s <= 2",
                 "pii_scan_s": t_scan, "quarantined": res.n_quarantined},
            ]
    table = pd.DataFrame(rows)
    print(f"rows: {args.rows:,} (best of {args.repeat})")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    (args.out / "validate.json").write_text(json.dumps({"rows": args.rows, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
