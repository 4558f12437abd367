"""Power of the arm comparisons by simulation: many trials per sample size, one test each.

:func:`run_power` simulates the trials of a run (or of one chunk of it,
:func:`chunk_blocks`), tests each with the vectorised engine
(:mod:`rehab_outcomes.survival.batch`) and counts rejections; :func:`power_table` turns counts
into power with exact (Clopper–Pearson) 95 % Monte Carlo intervals; :func:`gather_counts` sums
the counts of chunks. Tests:

- ``logrank``: the 3-arm log-rank test (2 degrees of freedom), comparison ``overall``;
- ``pairwise``: log-rank of each arm against ``rest_only`` on the two arms' runners, Holm over
  the two comparisons, plus ``any`` (at least one rejected: the family-wise rate);
- ``cox``: arm-only Cox model (Efron ties), two-sided Wald test of each arm term.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from rehab_outcomes.contract.schema import ARMS, REFERENCE_ARM
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.planning.trials import TRIAL_BLOCK, simulate_blocks, trial_model
from rehab_outcomes.reporting.style import comparison_colour
from rehab_outcomes.simulation.params import SimulationParams
from rehab_outcomes.survival.batch import cox_groups_batch, logrank_batch, tie_structure

log = logging.getLogger(__name__)

TESTS = ("logrank", "pairwise", "cox")
DESIGNS = ("randomised", "observational")
#: Rows of the engine per batch (trials are fitted this many runners at a time).
BATCH_ROWS = 120_000
CONFIDENCE = 0.95

KEY_COLUMNS = ["scenario", "design", "test", "n_per_arm", "comparison"]
COUNT_COLUMNS = ["trials", "rejections", "nonconverged"]
TRUTH_COLUMNS = ["true_hr", "marginal_hr", "expected_events", "schoenfeld_power",
                 "schoenfeld_power_marginal", "marginal_hr_mc_se"]
COLUMNS = [*KEY_COLUMNS, "alpha", "trials", "rejections", "power", "power_lower", "power_upper",
           "nonconverged", *TRUTH_COLUMNS]

_ARMS_VS_REF = [f"{arm} vs {REFERENCE_ARM}" for arm in ARMS[1:]]


def comparisons(test: str) -> list[str]:
    """Comparison labels of a test, in table order."""
    if test == "logrank":
        return ["overall"]
    if test == "pairwise":
        return [*_ARMS_VS_REF, "any"]
    if test == "cox":
        return list(_ARMS_VS_REF)
    raise ConfigError(f"unknown test {test!r} (use {', '.join(TESTS)})")


@dataclass(frozen=True)
class PowerSettings:
    """Settings of one power run (one scenario, one design, one test, several sizes)."""

    n_per_arm: tuple[int, ...]
    trials: int = 1000
    scenario: str = "default"
    design: str = "randomised"
    test: str = "cox"
    alpha: float = 0.05
    seed: int = 1
    config: str | None = None

    def __post_init__(self) -> None:
        if not self.n_per_arm or min(self.n_per_arm) < 2:
            raise ConfigError("--n-per-arm needs one or more sizes of at least 2 runners")
        if len(set(self.n_per_arm)) != len(self.n_per_arm):
            raise ConfigError("--n-per-arm lists a size twice")
        if self.trials < 1:
            raise ConfigError("--trials must be at least 1")
        if not 0 < self.alpha < 1:
            raise ConfigError("--alpha must be between 0 and 1")
        if self.seed < 0:
            raise ConfigError("--seed must not be negative")
        if self.design not in DESIGNS:
            raise ConfigError(f"unknown design {self.design!r} (use {', '.join(DESIGNS)})")
        comparisons(self.test)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        out = asdict(self)
        out["n_per_arm"] = list(self.n_per_arm)
        return out


def chunk_blocks(n_trials: int, chunk: int, n_chunks: int) -> range:
    """Blocks of trials computed by chunk ``chunk`` (1-based) of ``n_chunks``.

    The run's ``ceil(n_trials / TRIAL_BLOCK)`` blocks are split into ``n_chunks`` contiguous,
    nearly equal parts; a chunk may be empty when there are more chunks than blocks.
    """
    if n_chunks < 1 or not 1 <= chunk <= n_chunks:
        raise ConfigError(f"chunk {chunk} of {n_chunks}: need 1 <= chunk <= n_chunks")
    n_blocks = -(-n_trials // TRIAL_BLOCK)
    return range((chunk - 1) * n_blocks // n_chunks, chunk * n_blocks // n_chunks)


def holm_reject(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm rejections of each row of p-values (``trials × m``), as ``p.adjust(p, "holm") < alpha``."""
    m = p.shape[1]
    order = np.argsort(p, axis=1, kind="stable")
    ps = np.take_along_axis(p, order, axis=1)
    adj = np.minimum(np.maximum.accumulate(ps * (m - np.arange(m)), axis=1), 1.0)
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=1)
    return out < alpha


def reject_trials(time: np.ndarray, event: np.ndarray, arm: np.ndarray, test: str,
                  alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Rejections (``trials × comparisons``) and non-converged fits (``trials``) of one test.

    ``time`` may be whole days or weeks (only order and ties matter), all ``trials × n``.
    """
    ties = tie_structure(time, event)
    k = len(ARMS)
    ok = np.ones(time.shape[0], dtype=bool)
    if test == "logrank":
        chisq, dof = logrank_batch(ties, arm, k)
        p = np.where(dof > 0, special.chdtrc(np.maximum(dof, 1), chisq), 1.0)
        return p < alpha, ~ok
    if test == "pairwise":
        chisq, dof = logrank_batch(ties, arm, k, [(0, j) for j in range(1, k)])
        p = np.where(dof > 0, special.chdtrc(1, chisq), 1.0)
        rej = holm_reject(p, alpha)
        return np.column_stack([rej, rej.any(axis=1)]), ~ok
    fit = cox_groups_batch(ties, arm, k)
    p = 2 * special.ndtr(-np.abs(fit.z))
    return np.where(np.isfinite(p), p, 1.0) < alpha, ~fit.converged


def _truth_columns(settings: PowerSettings, params: SimulationParams) -> dict[int, dict[str, list[float]]]:
    """Analytic columns per ``n_per_arm``: true and marginal HR (with the Monte Carlo SE of the
    marginal HR, by the delta method from that of its log), expected events, Schoenfeld."""
    from rehab_outcomes.planning.schoenfeld import (
        expected_events,
        marginal_log_hr,
        marginal_log_hr_mc_se,
        schoenfeld_power,
        true_log_hr,
    )

    model = trial_model(params, settings.design)
    n_comp = len(comparisons(settings.test))
    nan = [float("nan")] * n_comp
    out: dict[int, dict[str, list[float]]] = {}
    if settings.test == "logrank":
        return {n: dict.fromkeys(TRUTH_COLUMNS, nan) for n in settings.n_per_arm}
    beta = true_log_hr(model)
    hr = list(np.exp(beta)) + ([float("nan")] if settings.test == "pairwise" else [])
    if settings.test == "pairwise":
        return {n: {**dict.fromkeys(TRUTH_COLUMNS, nan), "true_hr": hr} for n in settings.n_per_arm}
    ee = expected_events(model)
    marginal = marginal_log_hr(model)
    marginal_se = np.exp(marginal) * marginal_log_hr_mc_se(model)
    for n in settings.n_per_arm:
        events = ee.events(n)
        d = events[0] + events[1:]
        share = ee.share[1:] / (ee.share[0] + ee.share[1:])
        out[n] = {
            "true_hr": list(np.exp(beta)),
            "marginal_hr": list(np.exp(marginal)),
            "expected_events": list(d),
            "schoenfeld_power": list(schoenfeld_power(beta, d, share, settings.alpha)),
            "schoenfeld_power_marginal": list(schoenfeld_power(marginal, d, share, settings.alpha)),
            "marginal_hr_mc_se": list(marginal_se),
        }
    return out


def run_power(
    settings: PowerSettings,
    params: SimulationParams,
    chunk: int = 1,
    n_chunks: int = 1,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Simulate and test the trials of one chunk; returns the counts table.

    Parameters
    ----------
    settings
        Sizes, trials, scenario label, design, test, alpha and seed.
    params
        Simulator parameters of the scenario (see :func:`~rehab_outcomes.simulation.load_params`).
    chunk, n_chunks
        Compute only chunk ``chunk`` (1-based) of ``n_chunks`` (:func:`chunk_blocks`).
    progress
        Called with (trials done, trials of the chunk) after each batch.
    workers
        Threads (default: up to 2); results do not depend on it.

    Returns
    -------
    pandas.DataFrame
        One row per (n_per_arm, comparison): the key columns, ``alpha``, counts
        (``trials``, ``rejections``, ``nonconverged``) and the analytic columns.
    """
    blocks = chunk_blocks(settings.trials, chunk, n_chunks)
    model = trial_model(params, settings.design)
    truth = _truth_columns(settings, params)
    labels = comparisons(settings.test)
    batches = []
    for n in settings.n_per_arm:
        step = max(1, BATCH_ROWS // (TRIAL_BLOCK * len(ARMS) * n))
        batches += [(n, range(b0, min(b0 + step, blocks.stop)))
                    for b0 in range(blocks.start, blocks.stop, step)]

    def work(batch: tuple[int, range]) -> tuple[int, np.ndarray, int]:
        n, part = batch
        tr = simulate_blocks(model, settings.seed, settings.scenario, n, part, settings.trials)
        rej, bad = reject_trials(tr.days, tr.event, tr.arm, settings.test, settings.alpha)
        return rej.shape[0], rej.sum(axis=0), int(bad.sum())

    per_block = [min(TRIAL_BLOCK, settings.trials - b * TRIAL_BLOCK) for b in blocks]
    total = sum(per_block) * len(settings.n_per_arm)
    counts = {n: [0, np.zeros(len(labels), dtype=np.int64), 0] for n in settings.n_per_arm}
    done = 0
    start = time.perf_counter()
    workers = workers or min(2, os.cpu_count() or 1)
    # numpy releases the GIL in the heavy loops: batches are simulated and tested in threads;
    # results are taken in batch order, so they do not depend on the number of workers.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (n, _), (n_trials, rej, bad) in zip(batches, pool.map(work, batches), strict=True):
            c = counts[n]
            c[0] += n_trials
            c[1] += rej
            c[2] += bad
            done += n_trials
            if progress is not None:
                progress(done, total)
    rows = []
    for n in settings.n_per_arm:
        n_trials, rejections, failed = counts[n]
        for j, label in enumerate(labels):
            row = {"scenario": settings.scenario, "design": settings.design,
                   "test": settings.test, "n_per_arm": n, "comparison": label,
                   "alpha": settings.alpha, "trials": n_trials,
                   "rejections": int(rejections[j]), "nonconverged": failed}
            row.update({c: truth[n][c][j] for c in TRUTH_COLUMNS})
            rows.append(row)
    log.info("%s trials (%s, %s, test %s, chunk %d of %d) in %.1f s", f"{total:,}",
             settings.scenario, settings.design, settings.test, chunk, n_chunks,
             time.perf_counter() - start)
    return pd.DataFrame(rows)


def clopper_pearson(k: np.ndarray, n: np.ndarray,
                    level: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper–Pearson) interval of a binomial proportion ``k / n``.

    Examples
    --------
    >>> lo, hi = clopper_pearson(np.array([5]), np.array([100]))
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.0164, 0.1128)
    """
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    a = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, stats.beta.ppf(1 - a, k + 1, n - k), 1.0)
    return lo, hi


def power_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Power and its 95 % Monte Carlo interval from a counts table, in the order of ``COLUMNS``."""
    out = counts.copy()
    out["n_per_arm"] = out["n_per_arm"].astype(np.int64)
    for c in COUNT_COLUMNS:
        out[c] = out[c].astype(np.int64)
    trials = out["trials"].to_numpy()
    rej = out["rejections"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["power"] = np.where(trials > 0, rej / np.maximum(trials, 1), np.nan)
    lo, hi = clopper_pearson(rej, trials)
    out["power_lower"], out["power_upper"] = np.where(trials > 0, lo, np.nan), np.where(trials > 0, hi, np.nan)
    order = {label: i for test in TESTS for i, label in enumerate(comparisons(test))}
    out["_c"] = out["comparison"].map(order)
    out = out.sort_values(["scenario", "design", "test", "n_per_arm", "_c"], kind="stable")
    return out[COLUMNS].reset_index(drop=True)


def table_csv(table: pd.DataFrame) -> str:
    """The power table as CSV text (fixed decimals, empty cells for missing values, ``\\n``)."""
    return table.to_csv(index=False, lineterminator="\n", float_format="%.6f", na_rep="")


def read_table(path: str) -> pd.DataFrame:
    """Read a ``power.csv`` written by :func:`table_csv`."""
    df = pd.read_csv(path, keep_default_na=False,  # a scenario may be called "null"
                     dtype={c: str for c in ("scenario", "design", "test", "comparison")})
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"{path}: not a power table (missing {', '.join(missing)})")
    for c in ("power", "power_lower", "power_upper", *TRUTH_COLUMNS):
        df[c] = pd.to_numeric(df[c], errors="coerce")  # empty cells: not applicable
    return df


def gather_counts(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Sum the counts of chunk tables over the key columns (analytic columns must agree)."""
    df = pd.concat(parts, ignore_index=True)
    keys = [*KEY_COLUMNS, "alpha"]
    truth = df.groupby(keys, sort=False)[TRUTH_COLUMNS]
    spread = truth.max() - truth.min()
    if (spread.fillna(0).to_numpy() > 1e-6).any():
        raise ConfigError("chunks disagree on the analytic columns: not chunks of one run")
    summed = df.groupby(keys, sort=False)[COUNT_COLUMNS].sum()
    return summed.join(truth.first()).reset_index()


# ----------------------------------------------------------------------------------------------
# output

_RC = {
    "svg.hashsalt": "rehab-outcomes",
    "svg.fonttype": "path",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "savefig.dpi": 150,
}


def plot_power(table: pd.DataFrame, stem: str | Path) -> tuple[Path, Path]:
    """Power (with its 95 % interval) against runners per arm, one line per comparison and one
    panel per scenario; Schoenfeld's estimate dashed. Writes ``stem.png`` and ``stem.svg``."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    stem = Path(stem)
    panels = list(dict.fromkeys(zip(table["scenario"], table["design"], table["test"], strict=True)))
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(6.4 * len(panels), 4.4), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (scenario, design, test) in zip(axes, panels, strict=True):
            sub = table[(table["scenario"] == scenario) & (table["design"] == design)
                        & (table["test"] == test)]
            for label in dict.fromkeys(sub["comparison"]):
                s = sub[sub["comparison"] == label].sort_values("n_per_arm")
                colour = comparison_colour(label)
                x = s["n_per_arm"].to_numpy()
                ax.fill_between(x, s["power_lower"], s["power_upper"], color=colour, alpha=0.18,
                                linewidth=0)
                ax.plot(x, s["power"], marker="o", color=colour, label=label)
                if s["schoenfeld_power"].notna().any():
                    ax.plot(x, s["schoenfeld_power"], linestyle="--", color=colour,
                            label=f"{label} (Schoenfeld, true HR)")
                    ax.plot(x, s["schoenfeld_power_marginal"], linestyle=":", color=colour,
                            label=f"{label} (Schoenfeld, marginal HR)")
            alpha = float(sub["alpha"].iloc[0])
            ax.axhline(alpha, color="#777777", linewidth=0.8, linestyle=":")
            ax.axhline(0.8, color="#777777", linewidth=0.8, linestyle=":")
            ax.set_ylim(0, 1)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_xlabel("Runners per arm")
            ax.set_ylabel("Power (95 % Monte Carlo interval)")
            ax.set_title(f"{scenario}: {test} test, {design}", fontsize=11)
            ax.grid(True, color="#dddddd", linewidth=0.6)
            ax.legend(fontsize=7, loc="best")
        stem.parent.mkdir(parents=True, exist_ok=True)
        png, svg = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")
        fig.savefig(png, format="png", metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return png, svg


#: Every file of a power run: a run removes those of an earlier run it did not write (a chunk
#: writes no figure, so an earlier figure in its folder goes).
MANAGED_OUTPUTS: tuple[str, ...] = ("power.csv", "power.json", "power.png", "power.svg")


def write_outputs(table: pd.DataFrame, meta: dict[str, Any], out_dir: str | Path,
                  figure: bool = True) -> list[Path]:
    """Write ``power.csv``, ``power.json`` and (with ``figure``) ``power.png`` / ``power.svg``.

    All are written into a temporary folder beside ``out_dir`` and moved into place together
    (:class:`~rehab_outcomes.outputs.AtomicOutputs`); text cells of the CSV are formula-safe.
    """
    from rehab_outcomes.outputs import AtomicOutputs, neutralise_frame

    out_dir = Path(out_dir)
    names = ["power.csv", "power.json"] + (["power.png", "power.svg"] if figure else [])
    with AtomicOutputs(out_dir, managed=MANAGED_OUTPUTS) as tmp:
        csv = tmp / "power.csv"
        csv.write_text(table_csv(neutralise_frame(table)), encoding="utf-8")
        (tmp / "power.json").write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n",
                                        encoding="utf-8")
        if figure:  # drawn from the CSV as written, so the same table gives the same figure
            plot_power(read_table(str(csv)), tmp / "power")
    return [out_dir / name for name in names]


def run_metadata(settings: PowerSettings, chunk: int, n_chunks: int,
                 overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The ``power.json`` record of a run or chunk."""
    from rehab_outcomes import __version__

    return {
        "package_version": __version__,
        "settings": settings.to_dict(),
        "config_overrides": overrides,
        "chunk": chunk,
        "n_chunks": n_chunks,
        "trial_block": TRIAL_BLOCK,
        "random_stream": "block b of trials: PCG64(SeedSequence([seed, crc32(scenario), "
                         "n_per_arm, b]))",
        "outcome": "pain_free_weeks / pain_free_event (days / 7)",
        "confidence_interval": "Clopper-Pearson 95 %",
    }


def gather(chunk_dirs: Sequence[str | Path]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read chunk folders (``power.csv`` + ``power.json``), check that each run's chunks are all
    there exactly once, and sum their counts. Returns the power table and the gathered record."""
    from rehab_outcomes import __version__

    if not chunk_dirs:
        raise ConfigError("no chunk folders given")
    runs: dict[str, dict[str, Any]] = {}
    parts = []
    for d in chunk_dirs:
        d = Path(d)
        meta_path, csv = d / "power.json", d / "power.csv"
        if not meta_path.is_file() or not csv.is_file():
            raise ConfigError(f"{d}: no power.csv / power.json")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        key = json.dumps([meta["settings"], meta["config_overrides"]], sort_keys=True)
        run = runs.setdefault(key, {"settings": meta["settings"],
                                    "config_overrides": meta["config_overrides"],
                                    "n_chunks": meta["n_chunks"], "chunks": []})
        if meta["n_chunks"] != run["n_chunks"]:
            raise ConfigError(f"{d}: chunk of a run split into {meta['n_chunks']}, others into "
                              f"{run['n_chunks']}")
        run["chunks"].append(meta["chunk"])
        parts.append(read_table(str(csv)))
    for run in runs.values():
        if sorted(run["chunks"]) != list(range(1, run["n_chunks"] + 1)):
            s = run["settings"]
            raise ConfigError(f"scenario {s['scenario']} ({s['design']}, {s['test']}): chunks "
                              f"{sorted(run['chunks'])} given, need 1..{run['n_chunks']} once each")
    table = power_table(gather_counts(parts))
    meta = {
        "package_version": __version__,
        "runs": [{"settings": r["settings"], "config_overrides": r["config_overrides"],
                  "n_chunks": r["n_chunks"]} for r in runs.values()],
        "trial_block": TRIAL_BLOCK,
        "confidence_interval": "Clopper-Pearson 95 %",
    }
    return table, meta
