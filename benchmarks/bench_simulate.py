"""Benchmark of the cohort simulator.

Times (1) simulating N episodes in memory (goal: 1,000,000 in at most 5 s) and (2) simulating
N episodes with their visits and writing episodes.csv, visits.parquet and truth.json (goal: at
most 60 s). Each is also given as a ratio to a baseline measured in the same run, so figures
from different machines compare: (1) numpy drawing N × 17 standard normals, (2) pandas writing
the same visits frame to Parquet.

Usage::

    .venv/bin/python benchmarks/bench_simulate.py --n 1000000 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from rehab_outcomes import __version__
from rehab_outcomes.simulation import SimulationParams, simulate_cohort
from rehab_outcomes.simulation.calibration import calibrate


def _timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print a table and write ``bench_simulate.json`` to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="episodes (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed")
    ap.add_argument("--repeat", type=int, default=1, help="repeats; the best time is kept")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for the JSON")
    args = ap.parse_args(argv)
    n = args.n

    t_cal, _ = _timed(lambda: calibrate(SimulationParams()), 1)  # first call: not cached yet
    rng = np.random.default_rng(0)
    t_normals, _ = _timed(lambda: rng.standard_normal((n, 17)), args.repeat)
    t_episodes, _ = _timed(lambda: simulate_cohort(n, args.seed, visits=False), args.repeat)

    with tempfile.TemporaryDirectory() as tmp:
        def full():
            cohort = simulate_cohort(n, args.seed, visits=True)
            cohort.write(Path(tmp) / "sim", visits_format="parquet")
            return cohort

        t_full, cohort = _timed(full, args.repeat)
        n_visits = len(cohort.visits)
        t_pandas, _ = _timed(lambda: cohort.visits.to_parquet(Path(tmp) / "pandas.parquet",
                                                              index=False), args.repeat)
        sizes = {p.name: p.stat().st_size for p in (Path(tmp) / "sim").iterdir()}

    rows = [
        ("calibration (first call)", t_cal, None, None, None),
        ("baseline: numpy N x 17 normals", t_normals, None, None, None),
        ("episodes in memory", t_episodes, 5.0, t_episodes / t_normals, "numpy normals"),
        ("baseline: pandas visits to_parquet", t_pandas, None, None, None),
        ("episodes + visits, written (parquet)", t_full, 60.0, t_full / t_pandas, "pandas to_parquet"),
    ]
    print(f"rehab-outcomes {__version__}: N = {n:,} episodes, {n_visits:,} visits")
    print(f"{'step':40s} {'seconds':>9s} {'goal':>6s} {'ratio':>7s}  baseline")
    for name, sec, goal, ratio, base in rows:
        g = f"{goal:.0f}" if goal else ""
        r = f"{ratio:.1f}" if ratio else ""
        print(f"{name:40s} {sec:9.2f} {g:>6s} {r:>7s}  {base or ''}")
    report = {
        "package_version": __version__,
        "n_episodes": n,
        "n_visits": n_visits,
        "seed": args.seed,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "seconds": {
            "calibration_first_call": t_cal,
            "baseline_numpy_normals_n_x_17": t_normals,
            "episodes_in_memory": t_episodes,
            "baseline_pandas_visits_to_parquet": t_pandas,
            "episodes_and_visits_written_parquet": t_full,
        },
        "ratios": {
            "episodes_in_memory_vs_numpy_normals": t_episodes / t_normals,
            "episodes_and_visits_written_vs_pandas_to_parquet": t_full / t_pandas,
        },
        "goals_seconds": {"episodes_in_memory": 5.0, "episodes_and_visits_written_parquet": 60.0},
        "met": {"episodes_in_memory": t_episodes <= 5.0,
                "episodes_and_visits_written_parquet": t_full <= 60.0},
        "file_bytes": sizes,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_simulate.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
