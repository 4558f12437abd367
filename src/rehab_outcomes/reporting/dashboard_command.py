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
    run_config: Annotated[
        Path | None,
        typer.Option("--run-config",
                     help="JSON/YAML of the workflow run's merged config, shown in provenance "
                          "(instead of --config when both are given)."),
    ] = None,
) -> None:
    """Write the clinic outcome dashboard: one self-contained HTML page, no network requests.

    Counts from 1 to THRESHOLD-1 are shown as "<THRESHOLD" (with complementary suppression), and
    no rate or curve rests on fewer than THRESHOLD people at risk. The page is written
    atomically; a file that is not a validated episodes Parquet is refused with exit status 2.
    """
    import yaml

    from rehab_outcomes import __version__
    from rehab_outcomes.contract.io import sha256_of
    from rehab_outcomes.exceptions import ConfigError
    from rehab_outcomes.outputs import guard_inputs
    from rehab_outcomes.provenance import load_run_config, masked_name
    from rehab_outcomes.reporting.dashboard import build_dashboard, run_date_text
    from rehab_outcomes.validated import read_validated, read_validation

    if out.is_dir():
        raise ConfigError(f"--out {out.name} is a folder: give the HTML file to write")
    guard_inputs([episodes, validation, config, run_config], out.parent, [out.name], out_file=out)
    frame = read_validated(episodes, "episodes")
    report = read_validation(validation)
    cfg: dict[str, Any] | None = load_run_config(run_config)
    if cfg is None and config is not None:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
        cfg = loaded if isinstance(loaded, dict) else {"config": loaded}
    source = report.get("input") or {}
    data_file = source.get("file") if isinstance(source, dict) else None
    provenance = {
        "run_date": run_date_text(run_date),
        "config": cfg,
        "package_version": __version__,
        "data_file": masked_name(str(data_file)) if data_file else None,
        "data_sha256": source.get("sha256") if isinstance(source, dict) else None,
        "episodes_sha256": sha256_of(episodes),
    }
    path = build_dashboard(frame, report, out, threshold=threshold, provenance=provenance)
    typer.echo(f"dashboard -> {path}")
