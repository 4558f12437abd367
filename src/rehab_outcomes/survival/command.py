"""``rehab-outcomes analyse``: the survival analysis of a validated cohort."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


class Adjust(StrEnum):
    none = "none"
    iptw = "iptw"


class ConfType(StrEnum):
    log = "log"
    log_log = "log-log"
    plain = "plain"


def analyse(
    episodes: Annotated[Path, typer.Argument(help="Validated episodes (episodes.valid.parquet).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for tables and summary.json.")],
    visits: Annotated[Path | None, typer.Option(help="Validated visits (visits.valid.parquet).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML of analysis settings (see docs/analysis.md).")] = None,
    adjust: Annotated[Adjust | None, typer.Option(help="Observational data: add IPTW analyses.")] = None,
    covariates: Annotated[
        str | None, typer.Option(help="Comma-separated Cox covariates (default: arm and baseline terms).")
    ] = None,
    tau: Annotated[float | None, typer.Option(help="RMST horizon in weeks (default 26).")] = None,
    conf_type: Annotated[ConfType | None, typer.Option(help="Kaplan–Meier CI (default log, as R).")] = None,
    validation: Annotated[
        Path | None, typer.Option(help="validation.json of the input, recorded for provenance.")
    ] = None,
) -> None:
    """Kaplan–Meier, log-rank, Cox (Efron, site-clustered robust SE), PH check, RMST, cumulative
    incidence of re-injury, claims table; IPTW with --adjust iptw; pain trajectories with --visits.

    Writes one CSV per table and OUT/summary.json.
    """
    import json

    import pandas as pd

    from rehab_outcomes.contract.io import sha256_of
    from rehab_outcomes.exceptions import InputRefusedError
    from rehab_outcomes.survival.pipeline import AnalysisConfig, run_analysis

    cfg = AnalysisConfig.from_file(
        config,
        adjust=adjust.value if adjust else None,
        covariates=[c.strip() for c in covariates.split(",") if c.strip()] if covariates else None,
        tau=tau,
        conf_type=conf_type.value if conf_type else None,
    )
    if not episodes.is_file():
        raise InputRefusedError(f"input file not found: {episodes}")
    ep = pd.read_parquet(episodes)
    vis = pd.read_parquet(visits) if visits is not None else None
    provenance = {"episodes_file": episodes.name, "episodes_sha256": sha256_of(episodes)}
    if validation is not None:
        v = json.loads(validation.read_text(encoding="utf-8"))
        provenance["input"] = v.get("input")
        provenance["contract_version"] = v.get("contract_version")
    log.info("analysing %s episodes (%s)", f"{len(ep):,}", "with visits" if vis is not None else "no visits")
    result = run_analysis(ep, cfg, vis, provenance)
    result.write(out)
    n_claims = len(result.summary["claims"])
    typer.echo(f"analysed {len(ep):,} episodes: {len(result.tables)} tables, {n_claims} claims, "
               f"{len(result.problems)} problem(s) -> {out}")
