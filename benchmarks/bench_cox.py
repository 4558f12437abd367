"""Benchmark: Cox (Efron) fit time of rehab_outcomes vs lifelines, statsmodels and R coxph.

Same data and model for every engine: ``n`` rows, 8 normal covariates, times in whole days / 7
(many ties), about 30 % censored, 40 sites. Two variants: ``se = model`` (model-based standard
errors, every engine and size) and ``se = robust`` (sandwich SEs clustered by site, up to
``--robust-max`` rows (default 10,000) for the other engines: lifelines' ``cluster_col`` took
minutes at 100,000 rows and R's clustered ``coxph`` more than 10 minutes at 1,000,000; this
package always runs both). R is timed
inside R with ``system.time`` (CSV reading excluded). Each engine is repeated and the best time
kept (the machine may be shared). Reports the ratio to R's time for the same variant and the
largest coefficient and SE differences to R. Writes ``cox.json`` and ``cox.md`` to ``--out``.

Usage: python benchmarks/bench_cox.py --out results/bench [--full] [--sizes 10000 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rehab_outcomes.survival import CoxPH

P = 8
N_SITES = 40
COVS = [f"x{i}" for i in range(P)]
R_CODE = """
suppressPackageStartupMessages(library(survival))
a <- commandArgs(trailingOnly = TRUE)
d <- read.csv(a[1])
reps <- as.integer(a[3])
f <- as.formula(paste("Surv(t, e) ~", paste(sprintf("x%d", 0:7), collapse = " + ")))
robust <- a[4] == "robust"
best <- Inf
for (i in seq_len(reps)) {
  st <- system.time(fit <- if (robust) coxph(f, data = d, ties = "efron", cluster = site)
                           else coxph(f, data = d, ties = "efron"))
  best <- min(best, st[["elapsed"]])
}
write.csv(data.frame(elapsed = best, term = names(coef(fit)), coef = unname(coef(fit)),
                     se = sqrt(diag(fit$var))), a[2], row.names = FALSE)
"""

Result = tuple[float, np.ndarray, np.ndarray]


def make_data(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows, 8 covariates, tied times in weeks (days / 7), ~30 % censored, 40 sites."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, P))
    beta = np.linspace(-0.3, 0.3, P)
    t_ev = np.ceil(rng.exponential(70 / np.exp(X @ beta)))
    t_ce = np.ceil(rng.exponential(170, n))
    df = pd.DataFrame(X, columns=COVS)
    df["t"] = np.minimum(t_ev, t_ce) / 7
    df["e"] = (t_ev <= t_ce).astype(int)
    df["site"] = rng.integers(0, N_SITES, n)
    return df


def _best(fn: Callable[[], tuple[np.ndarray, np.ndarray]], repeat: int) -> Result:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    assert out is not None
    return best, np.asarray(out[0], dtype=float), np.asarray(out[1], dtype=float)


def fit_ours(df: pd.DataFrame, robust: bool) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and (robust or model-based) SEs of this package's engine."""
    fit = CoxPH().fit(df, "t", "e", covariates=COVS, group_col=None,
                      cluster_col="site" if robust else None)
    se = fit.robust_se_ if robust else fit.se_
    return fit.params_.to_numpy(), se.to_numpy()


def fit_lifelines(df: pd.DataFrame, robust: bool) -> tuple[np.ndarray, np.ndarray]:
    """lifelines ``CoxPHFitter`` (Efron), with ``cluster_col`` when robust."""
    from lifelines import CoxPHFitter

    cols = [*COVS, "t", "e", *(["site"] if robust else [])]
    fit = CoxPHFitter().fit(df[cols], "t", "e", cluster_col="site" if robust else None)
    return fit.params_[COVS].to_numpy(), fit.standard_errors_[COVS].to_numpy()


def fit_statsmodels(df: pd.DataFrame, robust: bool) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels ``PHReg`` (Efron), with ``groups`` for the robust covariance."""
    import statsmodels.api as sm

    model = sm.PHReg(df["t"], df[COVS], status=df["e"], ties="efron")
    res = model.fit(groups=df["site"]) if robust else model.fit()
    return np.asarray(res.params), np.asarray(res.bse)


def fit_r(df: pd.DataFrame, repeat: int, robust: bool) -> Result | None:
    """R ``coxph`` timed inside R; ``None`` without Rscript."""
    if not shutil.which("Rscript"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data, res, script = Path(tmp, "d.csv"), Path(tmp, "r.csv"), Path(tmp, "b.R")
        df.to_csv(data, index=False, float_format="%.17g", lineterminator="\n")
        script.write_text(R_CODE)
        subprocess.run(["Rscript", str(script), str(data), str(res), str(repeat),
                        "robust" if robust else "model"],
                       check=True, capture_output=True, timeout=3600)
        r = pd.read_csv(res)
    return float(r["elapsed"].iloc[0]), r["coef"].to_numpy(), r["se"].to_numpy()


def run_engines(df: pd.DataFrame, robust: bool, others: bool, skip_slow: bool,
                repeat: int) -> dict[str, Result]:
    """Best fit time (s), coefficients and SEs of every engine available.

    ``others``: also run lifelines, statsmodels and R (else this package only); ``skip_slow``:
    leave out lifelines and statsmodels.
    """
    out: dict[str, Result] = {"rehab_outcomes": _best(lambda: fit_ours(df, robust), repeat)}
    if not others:
        return out
    if not skip_slow:
        slow_repeat = 1 if len(df) >= 1_000_000 else repeat
        out["lifelines"] = _best(lambda: fit_lifelines(df, robust), slow_repeat)
        out["statsmodels"] = _best(lambda: fit_statsmodels(df, robust), slow_repeat)
    r = fit_r(df, repeat, robust)
    if r is not None:
        out["R coxph"] = r
    return out


def load() -> str:
    """The 1-minute load average (the machine may be shared), for the report."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def bench(sizes: list[int], skip_slow_from: int, robust_max: int, repeat: int) -> pd.DataFrame:
    """Table of ``n, se, engine, seconds, ratio_to_R, max coefficient / SE difference to R``."""
    records = []
    for n in sizes:
        df = make_data(n)
        for robust in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = run_engines(df, robust, others=not robust or n <= robust_max,
                                  skip_slow=n >= skip_slow_from, repeat=repeat)
            r_time, r_coef, r_se = res.get("R coxph", (np.nan, None, None))
            for engine, (secs, coef, se) in res.items():
                records.append({
                    "n": n, "se": "robust" if robust else "model", "engine": engine,
                    "seconds": round(secs, 3),
                    "ratio_to_R": round(secs / r_time, 3) if np.isfinite(r_time) else None,
                    "max_abs_coef_diff_vs_R": (float(np.max(np.abs(coef - r_coef)))
                                               if r_coef is not None else None),
                    "max_rel_se_diff_vs_R": (float(np.max(np.abs(se / r_se - 1)))
                                             if r_se is not None else None),
                    "load_1min": load(),
                })
            print(pd.DataFrame(records[-len(res):]).to_string(index=False), flush=True)
    return pd.DataFrame(records)


def to_markdown(table: pd.DataFrame) -> str:
    """A Markdown table (no extra dependency)."""
    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return ""
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:,.3f}"
        if isinstance(v, int | np.integer):
            return f"{v:,}"
        return str(v)

    head = "| " + " | ".join(table.columns) + " |"
    sep = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |"
            for row in table.astype(object).itertuples(index=False)]
    return "\n".join([head, sep, *rows]) + "\n"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark; write ``cox.json`` and ``cox.md`` to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--full", action="store_true", help="also 1,000,000 rows")
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3, help="repeats per engine; best time kept")
    ap.add_argument("--skip-slow", action="store_true",
                    help="skip lifelines and statsmodels at 1,000,000 rows")
    ap.add_argument("--robust-max", type=int, default=10_000,
                    help="largest n at which the other engines run the clustered variant")
    args = ap.parse_args(argv)
    sizes = args.sizes + ([1_000_000] if args.full and 1_000_000 not in args.sizes else [])
    table = bench(sizes, 1_000_000 if args.skip_slow else 10**12, args.robust_max, args.repeat)
    args.out.mkdir(parents=True, exist_ok=True)
    records = json.loads(table.to_json(orient="records"))
    (args.out / "cox.json").write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    md = ("## Cox fit (Efron ties): this package vs lifelines, statsmodels, R coxph\n\n"
          f"8 covariates, tied weekly times, best of {args.repeat} (one run for lifelines and "
          "statsmodels at 1M); R timed with system.time; `se = robust`: clustered by 40 sites "
          f"(other engines up to n = {args.robust_max:,}).\n\n"
          + to_markdown(table))
    (args.out / "cox.md").write_text(md, encoding="utf-8")
    return table


if __name__ == "__main__":
    main()
