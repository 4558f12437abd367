"""The ``rehab-outcomes dashboard`` subcommand: validated episodes -> one HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def dashboard(
    episodes: Annotated[
        Path,
        typer.Argument(metavar="EPISODES_PARQUET",
                       help="Validated episodes (episodes.valid.parquet from `validate`)."),
    ],
    validation: Annotated[
        Path, typer.Option("--validation", help="validation.json written by `validate`.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output HTML file.")],
    config: Annotated[
        Path | None, typer.Option("--config", help="Optional YAML config to show in provenance.")
    ] = None,
    threshold: Annotated[
        int, typer.Option("--threshold", min=1, help="Counts below this are suppressed.")
    ] = 11,
    run_date: Annotated[
        str | None, typer.Option("--run-date", help="Date of the run, YYYY-MM-DD (default: today).")
    ] = None,
) -> None:
    """Write the clinic outcome dashboard: one self-contained HTML page, no network requests.

    Counts from 1 to THRESHOLD-1 are shown as "<THRESHOLD" (with complementary suppression), and
    no rate or curve rests on fewer than THRESHOLD people at risk.
    """
    import pandas as pd
    import yaml

    from rehab_outcomes import __version__
    from rehab_outcomes.contract.io import sha256_of
    from rehab_outcomes.reporting.dashboard import build_dashboard, load_validation, run_date_text

    frame = pd.read_parquet(episodes)
    report = load_validation(validation)
    cfg: dict[str, Any] | None = None
    if config is not None:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
        cfg = loaded if isinstance(loaded, dict) else {"config": loaded}
    provenance = {
        "run_date": run_date_text(run_date),
        "config": cfg,
        "package_version": __version__,
        "data_file": (report.get("input") or {}).get("file"),
        "data_sha256": (report.get("input") or {}).get("sha256"),
        "episodes_sha256": sha256_of(episodes),
    }
    path = build_dashboard(frame, report, out, threshold=threshold, provenance=provenance)
    typer.echo(f"dashboard -> {path}")
