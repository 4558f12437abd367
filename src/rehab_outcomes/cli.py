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
    sessions: Annotated[
        Path | None, typer.Option(help="Optional training log, one row per session (.csv/.parquet/.xlsx).")
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet name or 0-based index (default: first).")] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(help="YAML mapping of this clinic's columns, codes, date format and units to "
                          "the contract (see `rehab-outcomes mapping draft`)."),
    ] = None,
    recode: Annotated[
        Path | None, typer.Option(help="Older name of --mapping (a file of codes only).")
    ] = None,
    max_quarantined_share: Annotated[
        float,
        typer.Option(min=0.0, max=1.0,
                     help="Exit with status 1 (after writing the outputs) when no episode is valid "
                          "or more than this share is quarantined."),
    ] = 0.5,
    strict: Annotated[bool, typer.Option(help="Exit with status 1 if any row is quarantined.")] = False,
    run_config: Annotated[
        Path | None,
        typer.Option(help="JSON/YAML of the workflow's merged config, recorded in validation.json."),
    ] = None,
) -> None:
    """Validate an export against the data contract.

    Writes OUT/episodes.valid.parquet (typed valid rows), OUT/quarantine.csv (one line per failure:
    row, episode_id, rule, column, masked value) and OUT/validation.json (counts and provenance).
    A file that cannot be trusted (unreadable, missing columns, identifying data) is refused with
    exit status 2 and nothing is written.
    """
    from rehab_outcomes.contract.validate import run_validation

    sheet_arg: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    run = run_validation(episodes, out, visits_path=visits, sheet=sheet_arg, mapping_path=mapping,
                         recode_path=recode, strict=strict,
                         max_quarantined_share=max_quarantined_share, run_config=run_config,
                         sessions_path=sessions)
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


mapping_app = typer.Typer(
    help="Mapping files: how a clinic's own export translates to the data contract.",
    no_args_is_help=True,
)
app.add_typer(mapping_app, name="mapping")


@mapping_app.command("draft")
def mapping_draft(
    export: Annotated[Path, typer.Argument(help="The clinic's export: .csv, .parquet or .xlsx.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Mapping file to write (YAML).")],
    sheet: Annotated[str | None, typer.Option(help="Excel sheet name or 0-based index.")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing mapping file.")] = False,
) -> None:
    """Write a draft mapping file from an export: columns matched to the contract by name and by
    their values, each code with a proposed contract value or TODO, the date format guessed.
    Check it, replace every TODO, then validate with --mapping."""
    from rehab_outcomes.contract.draft import draft_file, summary_line

    sheet_arg: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    d, path = draft_file(export, out, sheet=sheet_arg, force=force)
    s = summary_line(d)
    todo = f"{s['todo']} TODO(s) to complete" if s["todo"] else "no TODO left: check it anyway"
    typer.echo(f"{s['columns']} column(s) matched, {s['codes']} code(s) listed, {todo} -> {path}")


# Subcommands of the other domains: each module defines one typer command function and
# imports its heavy dependencies inside it, so that `--help` stays fast.
def _register() -> None:
    from rehab_outcomes.planning.command import power, power_gather
    from rehab_outcomes.reporting.dashboard_command import dashboard
    from rehab_outcomes.reporting.figures_command import figures
    from rehab_outcomes.reporting.report_landing import report_landing
    from rehab_outcomes.settings_command import app as settings_app
    from rehab_outcomes.simulation.command import simulate
    from rehab_outcomes.survival.command import analyse

    app.command("simulate")(simulate)
    app.command("analyse")(analyse)
    app.command("figures")(figures)
    app.command("dashboard")(dashboard)
    app.command("power")(power)
    app.command("power-gather")(power_gather)
    app.command("report-landing")(report_landing)
    app.add_typer(settings_app, name="config")


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning toolkit errors into one line on stderr.

    Exit status: 0 ran; 1 usage or configuration error (click's own usage errors included, which
    click would report with 2); 2 input refused.
    """
    try:  # typer >= 0.20 vendors click
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    except ImportError:  # pragma: no cover - older typer on click
        from click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    from typer import Abort

    try:
        code = app(args=argv, prog_name="rehab-outcomes", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(1)
    except UsageError as exc:
        exc.show()
        sys.exit(1)
    except Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except ClickException as exc:
        exc.show()
        sys.exit(1)
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
