"""``rehab-outcomes power`` and ``rehab-outcomes power-gather`` (registered by the CLI).

Heavy modules are imported inside the commands, so that ``--help`` stays fast.
"""

from __future__ import annotations

import logging
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rehab_outcomes.simulation.command import DesignChoice

log = logging.getLogger(__name__)


class TestChoice(StrEnum):
    """Test whose power is estimated."""

    logrank = "logrank"
    pairwise = "pairwise"
    cox = "cox"


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"50,100,200"`` → ``(50, 100, 200)``."""
    from rehab_outcomes.exceptions import ConfigError

    try:
        sizes = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--n-per-arm must be whole numbers separated by commas, got {text!r}") from None
    if not sizes:
        raise ConfigError("--n-per-arm is empty")
    return sizes


class Progress:
    """Progress on stderr: one rewritten line on a terminal (at most ten times a second); in a
    log file (a Snakemake or cluster job), one line at every further tenth of the work.
    ``quiet`` silences it."""

    def __init__(self, what: str, stream: object = None, quiet: bool = False) -> None:
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.quiet = quiet
        self.start = time.perf_counter()
        self.shown = 0.0
        self.tenths = 0

    def __call__(self, done: int, total: int) -> None:
        """Report ``done`` of ``total``."""
        if self.quiet:
            return
        now = time.perf_counter()
        share = done / total if total else 1.0
        text = (f"{self.what}: {done:,}/{total:,} trials ({share:4.0%}, "
                f"{now - self.start:.1f} s)")
        if self.tty:
            if done < total and now - self.shown < 0.1:
                return
            self.shown = now
            self.stream.write("\r" + text + ("\n" if done >= total else ""))  # type: ignore[attr-defined]
        else:
            tenths = int(share * 10 + 1e-9)
            if tenths <= self.tenths and done < total:
                return
            if done >= total and self.tenths >= 10:
                return
            self.tenths = 10 if done >= total else tenths
            self.stream.write(text + "\n")  # type: ignore[attr-defined]
        self.stream.flush()  # type: ignore[attr-defined]


def power(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    n_per_arm: Annotated[
        str, typer.Option("--n-per-arm", help="Runners per arm, comma-separated (e.g. 50,100,200).")
    ] = "50,100,200",
    scenario: Annotated[
        str, typer.Option(help="Simulator preset: default, seed_claims or null.")
    ] = "default",
    config: Annotated[
        Path | None,
        typer.Option(help="YAML of simulator parameter overrides on top of the scenario (as "
                          "`simulate --config`); the scenario is then labelled SCENARIO+STEM."),
    ] = None,
    design: Annotated[
        DesignChoice,
        typer.Option(help="randomised: exactly n per arm; observational: 3n runners allocated by "
                          "the simulator's allocation model."),
    ] = DesignChoice.randomised,
    trials: Annotated[int, typer.Option("--trials", min=1, help="Simulated trials per size.")] = 1000,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 1,
    test: Annotated[
        TestChoice,
        typer.Option(help="logrank: 3-arm log-rank; pairwise: each arm vs rest_only (log-rank, "
                          "Holm); cox: arm-only Cox model (Efron), Wald test per arm term."),
    ] = TestChoice.cox,
    chunk: Annotated[int, typer.Option("--chunk", min=1, help="Compute only this chunk (1-based).")] = 1,
    n_chunks: Annotated[
        int, typer.Option("--n-chunks", min=1, help="Number of chunks the trials are split into.")
    ] = 1,
) -> None:
    """Power of the arm comparisons for time to pain-free running, by simulation.

    Writes OUT/power.csv (power with a 95 % Clopper–Pearson interval per size and comparison;
    true and marginal hazard ratios and Schoenfeld's estimate for the Cox test), OUT/power.json
    (settings, seed, version) and OUT/power.png / .svg. A chunk (--n-chunks > 1) writes only the
    CSV and JSON; `rehab-outcomes power-gather` sums the chunks.
    """
    from rehab_outcomes.outputs import guard_inputs
    from rehab_outcomes.planning.power import (
        MANAGED_OUTPUTS,
        PowerSettings,
        run_metadata,
        run_power,
        write_outputs,
    )
    from rehab_outcomes.simulation.scenarios import load_params, read_config

    label = scenario if config is None else f"{scenario}+{config.stem}"
    settings = PowerSettings(
        n_per_arm=parse_sizes(n_per_arm), trials=trials, scenario=label, design=design.value,
        test=test.value, alpha=alpha, seed=seed, config=None if config is None else config.name,
    )
    guard_inputs([config], out, MANAGED_OUTPUTS)
    params = load_params(scenario, config)
    overrides = None if config is None else read_config(config)
    counts = run_power(settings, params, chunk, n_chunks, progress=Progress(
        "power", quiet=not logging.getLogger().isEnabledFor(logging.INFO)))

    from rehab_outcomes.planning.power import power_table

    table = power_table(counts)
    meta = run_metadata(settings, chunk, n_chunks, overrides)
    paths = write_outputs(table, meta, out, figure=n_chunks == 1)
    log.info("wrote %s", ", ".join(p.name for p in paths))
    what = f"chunk {chunk} of {n_chunks}" if n_chunks > 1 else "power"
    per_size = int(table["trials"].iloc[0]) if len(table) else 0
    typer.echo(f"{what}: {per_size:,} trials for each of {len(settings.n_per_arm)} sizes "
               f"({settings.test} test, {label}, {settings.design}) -> {out}")


def power_gather(
    chunk_dirs: Annotated[list[Path], typer.Argument(help="Output folders of the chunks.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
) -> None:
    """Sum the chunks of `rehab-outcomes power` runs into one power table and figure.

    Every chunk 1..K of each run must be given exactly once. Writes OUT/power.csv, OUT/power.json
    and OUT/power.png / .svg, as a single run would.
    """
    from rehab_outcomes.outputs import guard_inputs
    from rehab_outcomes.planning.power import MANAGED_OUTPUTS, gather, write_outputs

    guard_inputs(chunk_dirs, out, MANAGED_OUTPUTS)
    table, meta = gather(chunk_dirs)
    write_outputs(table, meta, out)
    typer.echo(f"gathered {len(chunk_dirs)} chunks into {len(table)} rows -> {out}")
