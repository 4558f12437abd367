"""The ``rehab-outcomes`` command line (also ``python -m rehab_outcomes``).

Each subcommand only composes functions of the package. Errors are one line on stderr with a
non-zero exit status (2 when an input file is refused); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from rehab_outcomes import __version__
from rehab_outcomes.contract.pii import scrub_text
from rehab_outcomes.exceptions import RehabOutcomesError

app = typer.Typer(
    name="rehab-outcomes",
    help="Study toolkit for runner's knee rehabilitation outcomes: validate clinic records, "
    "simulate cohorts with known truth, analyse time to pain-free running and re-injury.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rehab-outcomes {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logging.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["debug"] = debug
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr,
                        force=True)
    for noisy in ("matplotlib", "fontTools", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def validate(
    episodes: Annotated[Path, typer.Argument(help="Episodes export: .csv, .parquet or .xlsx.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    visits: Annotated[Path | None, typer.Option(help="Optional visits table (.csv/.parquet/.xlsx).")] = None,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet name or 0-based index (default: first).")] = None,
    recode: Annotated[
        Path | None, typer.Option(help="YAML mapping of this clinic's codes to contract values.")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit with status 1 if any row is quarantined.")] = False,
) -> None:
    """Validate an export against the data contract.

    Writes OUT/episodes.valid.parquet (typed valid rows), OUT/quarantine.csv (one line per failure:
    row, episode_id, rule, column, masked value) and OUT/validation.json (counts and provenance).
    A file that cannot be trusted (unreadable, missing columns, identifying data) is refused with
    exit status 2 and nothing is written.
    """
    from rehab_outcomes.contract.validate import run_validation

    sheet_arg: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    run = run_validation(episodes, out, visits_path=visits, sheet=sheet_arg, recode_path=recode,
                         strict=strict)
    r = run.report
    typer.echo(
        f"{r['n_in']:,} episodes read: {r['n_valid']:,} valid, {r['n_quarantined']:,} quarantined "
        f"-> {out}"
    )


@app.command()
def contract(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the contract as Markdown.")] = True,
) -> None:
    """Print the data contract (the source of docs/data-contract.md)."""
    from rehab_outcomes.contract.docs import contract_markdown

    typer.echo(contract_markdown(), nl=False)


# Subcommands of the other domains: each module defines one typer command function and
# imports its heavy dependencies inside it, so that `--help` stays fast.
def _register() -> None:
    from rehab_outcomes.planning.command import power, power_gather
    from rehab_outcomes.reporting.dashboard_command import dashboard
    from rehab_outcomes.reporting.figures_command import figures
    from rehab_outcomes.simulation.command import simulate
    from rehab_outcomes.survival.command import analyse

    app.command("simulate")(simulate)
    app.command("analyse")(analyse)
    app.command("figures")(figures)
    app.command("dashboard")(dashboard)
    app.command("power")(power)
    app.command("power-gather")(power_gather)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning toolkit errors into one line on stderr."""
    try:
        app(args=argv, prog_name="rehab-outcomes")  # usage errors: click prints them, exit 2
    except RehabOutcomesError as exc:
        if _state["debug"]:
            raise
        typer.echo(f"error: {scrub_text(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # anything unexpected: one line, details with --debug
        if _state["debug"]:
            raise
        message = scrub_text(f"{type(exc).__name__}: {exc}")
        typer.echo(f"error: {message} (rerun with --debug for details)", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
