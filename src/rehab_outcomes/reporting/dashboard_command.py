"""The ``rehab-outcomes dashboard`` subcommand: validated episodes and the analysis -> the
dashboard folder (index.html, one page per site, data/*.csv)."""

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
    analysis: Annotated[
        Path | None,
        typer.Option("--analysis", help="Folder written by `rehab-outcomes analyse` on the same "
                                        "episodes (claims.csv, summary.json, ...): the bottom "
                                        "line is read from it, never recomputed."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Dashboard folder (or its index page, a path ending in "
                                         ".html): index.html, site-<slug>.html, data/*.csv."),
    ] = None,
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
    """Write the clinic outcome dashboard: self-contained HTML pages, no network requests.

    The network page (index.html) opens with the bottom line of the analysis (--analysis), then
    cards with 95 % intervals, curves, the case-mix site comparison, the claims and data quality;
    each site has its own page beside the network's; every table and curve is also written as
    CSV (data/). Counts from 1 to THRESHOLD-1 show as "<THRESHOLD", further counts are withheld
    ("*") until a linear-programming audit shows that no hidden count can be worked out; a page
    that fails the audit is not written. Written atomically; a file that is not a validated
    episodes Parquet is refused with exit status 2.
    """
    import fnmatch

    import yaml

    from rehab_outcomes import __version__
    from rehab_outcomes.contract.io import sha256_of
    from rehab_outcomes.exceptions import ConfigError
    from rehab_outcomes.outputs import guard_inputs
    from rehab_outcomes.provenance import load_run_config, masked_name
    from rehab_outcomes.reporting.dashboard import MANAGED, build_dashboard, run_date_text
    from rehab_outcomes.validated import read_validated, read_validation

    if out is None:
        raise ConfigError("give --out, the dashboard folder to write")
    folder = out.parent if out.suffix == ".html" else out
    index = out.name if out.suffix == ".html" else "index.html"
    inputs = [episodes, validation, config, run_config, analysis]
    if out.suffix == ".html":  # the index page named: guard it and the pages and data beside it
        guard_inputs(inputs, folder, [index], out_file=out)
        for item in inputs:
            if item is None:
                continue
            p = item.resolve()
            inside = p.parent == folder.resolve() or folder.resolve() / "data" in p.parents
            if inside and (fnmatch.fnmatchcase(p.name, "site-*.html") or p.name == "data"
                           or p.parent.name == "data"):
                raise ConfigError(f"--out would overwrite or remove the input {masked_name(p)}: "
                                  "choose another output folder")
    else:
        guard_inputs(inputs, folder, [index, *MANAGED[1:]])
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
    path = build_dashboard(frame, report, out, analysis=analysis, threshold=threshold,
                           provenance=provenance)
    typer.echo(f"dashboard -> {path}")
