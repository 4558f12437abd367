"""Benchmark: building the dashboard for N episodes, and its time relative to ``analyse``.

For every size N (default 1,000,000 episodes): simulate (``simulate_cohort``, not timed),
validate to ``episodes.valid.parquet`` (not timed), then time as the CLI does:

- analyse: reading the Parquet, ``run_analysis`` and writing its tables;
- dashboard: reading the Parquet, ``build_dashboard`` (Kaplan–Meier by every group, the case-mix
  comparison, the disclosure audit by linear programs, every page and CSV) and writing the
  folder; with the time of its main parts from a profile-free split (groups, case mix, audit,
  rendering) measured on a second run.

Reports seconds, the ratio dashboard / analyse and whether the dashboard met its target of
10 s for 1,000,000 episodes. Writes ``dashboard.csv`` and ``dashboard.md`` to ``--out``.

Usage: python benchmarks/bench_dashboard.py --out results/bench [--sizes 1000000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from rehab_outcomes.contract.validate import run_validation
from rehab_outcomes.simulation import simulate_cohort
from rehab_outcomes.survival.pipeline import run_analysis

TARGET_S = 10.0


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _parts(episodes: pd.DataFrame, analysis: Path, validation: dict) -> dict[str, float]:
    """Seconds of the dashboard's main parts (one more run, part by part)."""
    from rehab_outcomes.contract import derive_outcomes
    from rehab_outcomes.reporting import dashboard as d
    from rehab_outcomes.reporting.groups import group_curves
    from rehab_outcomes.reporting.published import published_counts

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    df = derive_outcomes(episodes)
    df["arm"] = df["arm"].astype(str)
    df["site"] = df["site"].astype(str)
    sites = sorted(df["site"].unique().tolist())
    out["derive_s"] = time.perf_counter() - t0
    outputs = d.AnalysisOutputs.read(analysis)
    t0 = time.perf_counter()
    groups = group_curves(df, sites, "log", 0.05)
    out["kaplan_meier_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _comparison, cc = d._site_comparison(df, outputs.config)
    out["case_mix_s"] = time.perf_counter() - t0
    x_max = {"pf": d._x_max(groups, "pf", 11), "re": d._x_max(groups, "re", 11)}
    t0 = time.perf_counter()
    published_counts(groups, sites, validation, len(df), 11, outputs.tau, d._ticks(x_max["pf"]),
                    d._ticks(x_max["re"]), cc)
    out["disclosure_audit_s"] = time.perf_counter() - t0
    return out


def run_size(n: int, seed: int, work: Path, repeat: int) -> dict[str, float]:
    import json

    from rehab_outcomes.reporting.dashboard import build_dashboard

    simulate_cohort(n, seed, visits=False).write(work / "simulate")
    run_validation(work / "simulate" / "episodes.csv", work / "validate")
    valid = work / "validate" / "episodes.valid.parquet"
    validation = json.loads((work / "validate" / "validation.json").read_text(encoding="utf-8"))
    analyse_s, dash_s = [], []
    for _ in range(repeat):
        analyse_s.append(_time(lambda: run_analysis(pd.read_parquet(valid)).write(
            work / "analyse")))
        dash_s.append(_time(lambda: build_dashboard(
            pd.read_parquet(valid), validation, work / "dashboard", analysis=work / "analyse",
            provenance={"run_date": "2026-01-01"})))
    row = {"episodes": n, "analyse_s": min(analyse_s), "dashboard_s": min(dash_s)}
    row["ratio_dashboard_to_analyse"] = row["dashboard_s"] / row["analyse_s"]
    row.update(_parts(pd.read_parquet(valid), work / "analyse", validation))
    row["pages"] = len(list((work / "dashboard").glob("*.html")))
    row["csv_files"] = len(list((work / "dashboard" / "data").glob("*.csv")))
    return row


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark; write ``dashboard.csv`` and ``dashboard.md``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.out) as tmp:
            rows.append(run_size(n, args.seed, Path(tmp), args.repeat))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "dashboard.csv", index=False)
    md = ["# Dashboard build time", "",
          f"Target: at most {TARGET_S:g} s for 1,000,000 episodes.", "",
          "| episodes | analyse (s) | dashboard (s) | dashboard / analyse | Kaplan–Meier (s) | "
          "case mix (s) | disclosure audit (s) | pages | meets target |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        meets = "yes" if r["episodes"] < 1_000_000 or r["dashboard_s"] <= TARGET_S else "no"
        md.append(f"| {r['episodes']:,} | {r['analyse_s']:.2f} | {r['dashboard_s']:.2f} | "
                  f"{r['ratio_dashboard_to_analyse']:.2f} | {r['kaplan_meier_s']:.2f} | "
                  f"{r['case_mix_s']:.2f} | {r['disclosure_audit_s']:.2f} | {r['pages']} | "
                  f"{meets} |")
    (args.out / "dashboard.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return table


if __name__ == "__main__":
    main()
