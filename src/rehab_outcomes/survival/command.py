"""``rehab-outcomes analyse``: the survival analysis of a validated cohort."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd

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
    run_config: Annotated[
        Path | None,
        typer.Option("--run-config",
                     help="JSON/YAML of the workflow run's merged config, recorded in summary.json."),
    ] = None,
    sessions: Annotated[
        Path | None,
        typer.Option(help="Validated training log (sessions.valid.parquet): time-varying "
                          "exposures, tv_reinjury.parquet, tv_cox_reinjury, msm_rule, claims 4–6."),
    ] = None,
    policy_truth: Annotated[
        Path | None,
        typer.Option("--policy-truth",
                     help="Simulator's policy_truth.csv, shown beside claim 4 as model-based."),
    ] = None,
) -> None:
    """Kaplan–Meier, log-rank, Cox (Efron, stratified by site, site-clustered robust SE), PH
    check, RMST, cumulative incidence of re-injury, state occupation (multi-state), claims table
    (one rule per claim, Holm over the claim tests; docs/claims.md); IPTW with --adjust iptw (the
    claims then use the weighted tables); pain trajectories with --visits.

    Writes one CSV per table and OUT/summary.json, all at once (a failed run changes nothing;
    tables of an earlier run that this run does not write are removed). A piece that cannot be
    computed on the data is listed under "problems" in summary.json and its table has a header
    only. A file that is not a validated episodes Parquet is refused with exit status 2.
    """
    from rehab_outcomes.contract.io import sha256_of
    from rehab_outcomes.outputs import guard_inputs
    from rehab_outcomes.provenance import load_run_config, masked_name
    from rehab_outcomes.survival.pipeline import MANAGED_OUTPUTS, AnalysisConfig, run_analysis
    from rehab_outcomes.validated import read_validated, read_validation

    cfg = AnalysisConfig.from_file(
        config,
        adjust=adjust.value if adjust else None,
        covariates=[c.strip() for c in covariates.split(",") if c.strip()] if covariates else None,
        tau=tau,
        conf_type=conf_type.value if conf_type else None,
    )
    inputs = [episodes, visits, config, validation, run_config, sessions, policy_truth]
    guard_inputs(inputs, out, MANAGED_OUTPUTS)
    ep = read_validated(episodes, "episodes")
    vis = read_validated(visits, "visits") if visits is not None else None
    run_cfg = load_run_config(run_config)
    ses = _read_sessions(sessions) if sessions is not None else None
    truth = None
    if policy_truth is not None:
        import pandas as pd

        truth = pd.read_csv(policy_truth)
    provenance: dict[str, object] = {"episodes_file": masked_name(episodes),
                                     "episodes_sha256": sha256_of(episodes)}
    if vis is not None and visits is not None:
        provenance["visits_file"] = masked_name(visits)
        provenance["visits_sha256"] = sha256_of(visits)
    if validation is not None:
        v = read_validation(validation)
        source = v.get("input")
        if isinstance(source, dict):  # the export validated: its SHA-256 and masked name only
            source = {**source, "file": masked_name(str(source["file"]))} if source.get("file") else source
        provenance["input"] = source
        provenance["contract_version"] = v.get("contract_version")
    log.info("analysing %s episodes (%s)", f"{len(ep):,}", "with visits" if vis is not None else "no visits")
    if ses is not None and sessions is not None:
        provenance["sessions_file"] = masked_name(sessions)
        provenance["sessions_sha256"] = sha256_of(sessions)
        result = run_analysis(ep, cfg, vis, provenance, run_config=run_cfg, sessions=ses,
                              policy_truth=truth)
    else:
        result = run_analysis(ep, cfg, vis, provenance, run_config=run_cfg)
    result.write(out)
    n_claims = len(result.summary["claims"])
    typer.echo(f"analysed {len(ep):,} episodes: {len(result.tables)} tables, {n_claims} claims, "
               f"{len(result.problems)} problem(s) -> {out}")


def _read_sessions(path: Path) -> pd.DataFrame:
    """Read a validated sessions Parquet file, refusing one without the contract's columns."""
    import pandas as pd
    import pyarrow.parquet as pq

    from rehab_outcomes.contract.schema import Sessions, required_columns
    from rehab_outcomes.exceptions import InputRefusedError
    from rehab_outcomes.provenance import masked_name

    if not path.is_file():
        raise InputRefusedError(f"{masked_name(path)} is not a file: give sessions.valid.parquet")
    try:
        names = pq.read_schema(path).names
    except Exception:
        raise InputRefusedError(f"{masked_name(path)} is not a Parquet file") from None
    missing = [c for c in required_columns(Sessions) if c not in names]
    if missing:
        raise InputRefusedError(f"{masked_name(path)} is not a validated sessions file: "
                                f"missing column(s) {', '.join(missing[:5])}")
    return pd.read_parquet(path)
