"""Benchmark of the load–capacity simulator.

Times the daily dynamics of N runners × 104 weeks under the three arms' policies (goal:
100,000 runners in at most 30 s) and gives the ratio to a numpy baseline of the same size:
drawing the same random numbers the model draws (8 per runner per day: 4 normals and 4
uniforms, for 728 days), so figures from different machines compare.

Usage::

    .venv/bin/python benchmarks/bench_loadcap.py --n 100000 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from rehab_outcomes import __version__
from rehab_outcomes.simulation.loadcap import (
    N_DAYS,
    LoadCapParams,
    arm_policies,
    draw_runners,
    simulate_days,
)

GOAL_SECONDS = 30.0


def _baseline(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(N_DAYS):
        rng.standard_normal((4, n))
        rng.random((4, n))


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print a table and write ``bench_loadcap.json`` to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="runners (default 100,000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for the JSON")
    args = ap.parse_args(argv)
    n, p = args.n, LoadCapParams()

    t0 = time.perf_counter()
    _baseline(n, args.seed)
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    runners = draw_runners(n, args.seed, p)
    arm = np.arange(n) % 3
    traj = simulate_days(runners, p, arm_policies(), arm)
    t_sim = time.perf_counter() - t0
    ratio = t_sim / t_base
    print(f"rehab-outcomes {__version__}: {n:,} runners x {N_DAYS // 7} weeks")
    print(f"{'baseline: numpy 8 draws/runner/day':40s} {t_base:9.2f} s")
    print(f"{'load-capacity dynamics (3 arms)':40s} {t_sim:9.2f} s  goal {GOAL_SECONDS:.0f} s  ratio {ratio:.1f}")
    report = {
        "package_version": __version__, "n_runners": n, "days": N_DAYS, "seed": args.seed,
        "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
        "seconds": {"baseline_numpy_draws": t_base, "load_capacity_dynamics": t_sim},
        "ratio_vs_numpy_draws": ratio, "goal_seconds": GOAL_SECONDS, "met": t_sim <= GOAL_SECONDS,
        "pain_free_share": float(np.mean(traj.pain_free_day >= 0)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_loadcap.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
