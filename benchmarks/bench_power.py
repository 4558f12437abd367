"""Benchmark of study planning by simulation: `rehab-outcomes power` against an R loop.

Times, as subprocess wall time with start-up included, (1) the whole command
``rehab-outcomes power --n-per-arm N --trials T --test cox --seed 1 --out DIR`` and (2)
``benchmarks/power_r.R``, which simulates the same trials (same parameters, Weibull pain-free
times, same censoring) and fits each with ``survival::coxph`` in a loop. Goal: (1) at most one
third of (2). Also compares the two power estimates (they must agree within Monte Carlo error)
and records the machine load (``os.getloadavg``), since the machine may be shared.

If the ``power`` command is not registered in the CLI yet, it is run through ``cli.main`` with
the command added, which costs the same start-up.

Usage::

    .venv/bin/python benchmarks/bench_power.py --out benchmarks/results [--trials 10000] [--n 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rehab_outcomes import __version__

HERE = Path(__file__).resolve().parent
SHIM = """
import sys
from rehab_outcomes import cli
from rehab_outcomes.planning.command import power, power_gather
if "power" not in {c.name for c in cli.app.registered_commands}:
    cli.app.command("power")(power)
    cli.app.command("power-gather")(power_gather)
cli.main(sys.argv[1:])
"""


def write_r_params(path: Path, alpha: float) -> None:
    """The simulator's parameters (default scenario, calibrated) as ``name value...`` lines."""
    from rehab_outcomes.planning.trials import trial_model
    from rehab_outcomes.simulation import load_params
    from rehab_outcomes.simulation.calibration import balanced_site_frailties, centers

    params = load_params("default")
    model = trial_model(params)
    c = params.cohort
    ctr = centers(c)
    beta = params.pain_free.effects.as_terms()
    values = {
        "age_mean": c.age_mean, "age_sd": c.age_sd, "age_min": c.age_min, "age_max": c.age_max,
        "sex_shares": c.sex_shares,
        "bmi_mean": c.bmi_mean, "bmi_sd": c.bmi_sd, "bmi_min": c.bmi_min, "bmi_max": c.bmi_max,
        "km_median": c.weekly_km_median, "km_sigma": c.weekly_km_sigma,
        "km_min": c.weekly_km_min, "km_max": c.weekly_km_max,
        "sym_median": c.symptom_weeks_median, "sym_sigma": c.symptom_weeks_sigma,
        "sym_min": c.symptom_weeks_min, "sym_max": c.symptom_weeks_max,
        "pain_mean": c.pain_mean, "pain_sd": c.pain_sd, "pain_min": c.pain_min, "pain_max": c.pain_max,
        "site_shares": params.sites.shares,
        "frailty": tuple(balanced_site_frailties(params.sites)[0]),
        "beta": tuple(beta.values()),
        "centre_age": ctr["age_years"], "centre_bmi": ctr["bmi"],
        "centre_km": ctr["weekly_km_before_injury"], "centre_sym": ctr["symptom_weeks"],
        "centre_pain": ctr["baseline_pain_nrs"],
        "rate": model.rate, "shape": model.shape, "lost_rate": model.lost_rate,
        "admin_days": model.admin_days, "cut_day": model.cut_day,
        "recruitment_days": model.recruitment_days, "alpha": alpha,
    }
    lines = []
    for name, v in values.items():
        seq = v if isinstance(v, tuple) else (v,)
        lines.append(" ".join([name, *(repr(float(x)) for x in seq)]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _wall(cmd: list[str], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` runs of a command (start-up included)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=3600)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print a summary and write ``bench_power.json`` to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="runners per arm (default 100)")
    ap.add_argument("--trials", type=int, default=10_000, help="trials (default 10,000)")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each command; best kept")
    ap.add_argument("--skip-r", action="store_true", help="time only the Python command")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for the JSON")
    args = ap.parse_args(argv)

    result: dict = {"package_version": __version__, "python": platform.python_version(),
                    "n_per_arm": args.n, "trials": args.trials, "cpus": os.cpu_count(),
                    "repeat": args.repeat,
                    "load_before": list(os.getloadavg())}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cmd = [sys.executable, "-c", SHIM, "power", "--n-per-arm", str(args.n), "--trials",
               str(args.trials), "--test", "cox", "--seed", "1", "--alpha", str(args.alpha),
               "--out", str(tmp_path / "py")]
        result["python_seconds"] = _wall(cmd, args.repeat)
        table = pd.read_csv(tmp_path / "py" / "power.csv")
        result["python_power"] = dict(zip(table["comparison"], table["power"], strict=True))
        if not args.skip_r and shutil.which("Rscript"):
            params = tmp_path / "params.txt"
            write_r_params(params, args.alpha)
            r_out = tmp_path / "r.csv"
            result["r_seconds"] = _wall(["Rscript", str(HERE / "power_r.R"), str(params),
                                         str(args.n), str(args.trials), "1", str(r_out)],
                                        args.repeat)
            r = pd.read_csv(r_out)
            result["r_loop_seconds"] = float(r["loop_seconds"].iloc[0])
            result["r_power"] = dict(zip(r["comparison"], r["power"], strict=True))
            result["ratio_python_to_r"] = result["python_seconds"] / result["r_seconds"]
            result["goal_met"] = bool(result["ratio_python_to_r"] <= 1 / 3)
            # two independent Monte Carlo estimates: difference in units of its standard error
            z = {}
            for comp, p_py in result["python_power"].items():
                p_r = result["r_power"][comp]
                se = np.sqrt(p_py * (1 - p_py) / args.trials + p_r * (1 - p_r) / args.trials)
                z[comp] = float((p_py - p_r) / se) if se > 0 else 0.0
            result["power_difference_z"] = z
    result["load_after"] = list(os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_power.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"python (whole command): {result['python_seconds']:.2f} s")
    if "r_seconds" in result:
        print(f"R coxph loop (whole script): {result['r_seconds']:.2f} s "
              f"(loop {result['r_loop_seconds']:.2f} s)")
        print(f"ratio python / R: {result['ratio_python_to_r']:.3f} (goal <= 0.333: "
              f"{'met' if result['goal_met'] else 'NOT met'})")
        for comp, zval in result["power_difference_z"].items():
            print(f"  power {comp}: python {result['python_power'][comp]:.4f}, "
                  f"R {result['r_power'][comp]:.4f} (z = {zval:+.2f})")
    print(f"load average before {result['load_before']}, after {result['load_after']}")
    return result


if __name__ == "__main__":
    main()
