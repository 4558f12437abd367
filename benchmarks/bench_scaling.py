"""Benchmark: how ``simulate``, ``validate`` and ``analyse`` scale with the number of episodes.

For every size N (default 10,000, 100,000 and 1,000,000 episodes, no visits):

- simulate: ``simulate_cohort(N, seed, visits=False)`` and writing ``episodes.csv``;
- validate: ``run_validation`` of that CSV (writes ``episodes.valid.parquet``);
- analyse: reading the valid Parquet, ``run_analysis`` and writing its tables (as the CLI).

The simulator's one-off calibration is done by a warm-up call before timing. Reports seconds
per step and per 1,000 episodes, and for analyse the time of each piece
(Kaplan–Meier, log-rank, Cox, PH check, RMST, ...) and the share of Cox. Writes
``scaling.csv``, ``scaling_pieces.csv`` and ``scaling.md`` to ``--out``.

Usage: python benchmarks/bench_scaling.py --out results/bench [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd

from rehab_outcomes.contract.validate import run_validation
from rehab_outcomes.simulation import simulate_cohort
from rehab_outcomes.survival.pipeline import run_analysis

PIPELINE_LOGGER = "rehab_outcomes.survival.pipeline"
T = TypeVar("T")
DONE = re.compile(r"^(?P<piece>\S+) done \((?P<secs>[0-9.]+) s\)$")


class _PieceTimes(logging.Handler):
    """Collects the ``<piece> done (<s> s)`` records that ``run_analysis`` logs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.times: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        m = DONE.match(record.getMessage())
        if m:
            self.times[m["piece"]] = self.times.get(m["piece"], 0.0) + float(m["secs"])


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run_size(n: int, seed: int, work: Path) -> tuple[list[dict], dict[str, float]]:
    """Time the three steps on ``n`` episodes; return step rows and analyse piece times."""
    sim_dir, val_dir, ana_dir = work / "simulate", work / "validate", work / "analyse"
    t_sim, cohort = _timed(lambda: simulate_cohort(n, seed, visits=False))
    t_write, _ = _timed(lambda: cohort.write(sim_dir))
    t_val, _ = _timed(lambda: run_validation(sim_dir / "episodes.csv", val_dir))

    handler = _PieceTimes()
    logger = logging.getLogger(PIPELINE_LOGGER)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        t_read, episodes = _timed(lambda: pd.read_parquet(val_dir / "episodes.valid.parquet"))
        t_run, result = _timed(lambda: run_analysis(episodes))
        t_out, _ = _timed(lambda: result.write(ana_dir))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    if result.problems:
        raise RuntimeError(f"analysis problems at n={n}: {result.problems}")
    t_ana = t_read + t_run + t_out
    cox = sum(v for k, v in handler.times.items() if k.startswith("cox:"))
    load = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    rows = []
    for step, secs, detail in (
        ("simulate", t_sim + t_write, f"simulate {t_sim:.2f} s + write CSV {t_write:.2f} s"),
        ("validate", t_val, "read CSV, validate, write Parquet"),
        ("analyse", t_ana, f"read {t_read:.2f} s + run_analysis {t_run:.2f} s + "
                           f"write {t_out:.2f} s"),
    ):
        rows.append({
            "n_episodes": n, "step": step, "seconds": secs, "seconds_per_1k": secs / (n / 1000),
            "cox_seconds": cox if step == "analyse" else None,
            "cox_share": cox / t_ana if step == "analyse" else None,
            "detail": detail, "load_1min": load,
        })
    return rows, handler.times


def _fmt(v: object) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def markdown(table: pd.DataFrame) -> str:
    """A Markdown table of ``table``."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.astype(object).itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark; write ``scaling.csv``, ``scaling_pieces.csv`` and ``scaling.md``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    simulate_cohort(1000, args.seed, visits=False)  # warm-up: calibration is cached per process
    rows: list[dict] = []
    pieces: dict[int, dict[str, float]] = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            r, p = run_size(n, args.seed, Path(tmp))
        rows += r
        pieces[n] = p
        print(pd.DataFrame(r).drop(columns="detail").to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    piece_table = pd.DataFrame(pieces).rename_axis("piece")
    piece_table.columns = [f"n={n:,}" for n in piece_table.columns]
    piece_table = piece_table.reset_index()
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "scaling.csv", index=False, lineterminator="\n", float_format="%.4f")
    piece_table.to_csv(args.out / "scaling_pieces.csv", index=False, lineterminator="\n",
                       float_format="%.4f")
    md = ["## Scaling of simulate, validate and analyse (no visits)\n",
          "Seconds per step and per 1,000 episodes; `cox_share` is the part of analyse spent "
          "in the two Cox fits.\n", markdown(table),
          "\n### analyse: seconds per piece of `run_analysis`\n", markdown(piece_table)]
    (args.out / "scaling.md").write_text("\n".join(md), encoding="utf-8")
    print(piece_table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
