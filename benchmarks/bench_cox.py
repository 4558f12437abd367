"""Benchmark: Cox (Efron) fit time of rehab_outcomes vs lifelines, statsmodels and R coxph.

Same data for every engine: ``n`` rows, 8 normal covariates, times in whole days / 7 (many
ties), about 30 % censored. R is timed inside R with ``system.time`` (CSV reading excluded).
Also reports the largest coefficient difference to R. Prints a table and writes JSON to --out.

Usage: python benchmarks/bench_cox.py --out results/bench/cox.json [--full] [--sizes 10000 ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from rehab_outcomes.survival import CoxPH

P = 8
COVS = [f"x{i}" for i in range(P)]
R_CODE = """
suppressPackageStartupMessages(library(survival))
a <- commandArgs(trailingOnly = TRUE)
d <- read.csv(a[1])
f <- as.formula(paste("Surv(t, e) ~", paste(sprintf("x%d", 0:7), collapse = " + ")))
st <- system.time(fit <- coxph(f, data = d, ties = "efron"))
write.csv(data.frame(elapsed = st[["elapsed"]], term = names(coef(fit)), coef = coef(fit)),
          a[2], row.names = FALSE)
"""


def make_data(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows, 8 covariates, tied times in weeks (days / 7), about 30 % censored."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, P))
    beta = np.linspace(-0.3, 0.3, P)
    t_ev = np.ceil(rng.exponential(70 / np.exp(X @ beta)))
    t_ce = np.ceil(rng.exponential(170, n))
    df = pd.DataFrame(X, columns=COVS)
    df["t"] = np.minimum(t_ev, t_ce) / 7
    df["e"] = (t_ev <= t_ce).astype(int)
    return df


def _timed(fn) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    coef = fn()
    return time.perf_counter() - start, np.asarray(coef, dtype=float)


def run_engines(df: pd.DataFrame, skip_slow: bool) -> dict[str, tuple[float, np.ndarray]]:
    """Fit time (s) and coefficients of every engine available."""
    out: dict[str, tuple[float, np.ndarray]] = {}
    out["rehab_outcomes"] = _timed(
        lambda: CoxPH().fit(df, "t", "e", covariates=COVS, group_col=None).params_.to_numpy()
    )
    if not skip_slow:
        from lifelines import CoxPHFitter

        out["lifelines"] = _timed(lambda: CoxPHFitter().fit(df[[*COVS, "t", "e"]], "t", "e")
                                  .params_[COVS].to_numpy())
        import statsmodels.api as sm

        out["statsmodels"] = _timed(
            lambda: sm.PHReg(df["t"], df[COVS], status=df["e"], ties="efron").fit().params
        )
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            data, res, script = Path(tmp, "d.csv"), Path(tmp, "r.csv"), Path(tmp, "b.R")
            df.to_csv(data, index=False, float_format="%.17g")
            script.write_text(R_CODE)
            subprocess.run(["Rscript", str(script), str(data), str(res)], check=True,
                           capture_output=True, timeout=1800)
            r = pd.read_csv(res)
            out["R coxph"] = (float(r["elapsed"].iloc[0]), r["coef"].to_numpy())
    return out


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--full", action="store_true", help="also 1,000,000 rows")
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--skip-slow", action="store_true",
                    help="skip lifelines and statsmodels (slow at 1M rows)")
    args = ap.parse_args()
    sizes = args.sizes + ([1_000_000] if args.full else [])
    records = []
    for n in sizes:
        df = make_data(n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = run_engines(df, args.skip_slow and n >= 1_000_000)
        r_time, r_coef = res.get("R coxph", (np.nan, None))
        for engine, (secs, coef) in res.items():
            diff = float(np.max(np.abs(coef - r_coef))) if r_coef is not None else None
            records.append({"n": n, "engine": engine, "seconds": round(secs, 4),
                            "ratio_to_R": round(secs / r_time, 3) if r_time > 0 else None,
                            "max_abs_coef_diff_vs_R": diff})
    table = pd.DataFrame(records)
    print(table.to_string(index=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    main()
