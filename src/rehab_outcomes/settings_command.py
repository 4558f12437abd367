"""``rehab-outcomes config``: the workflow's settings (registered by :mod:`rehab_outcomes.cli`).

``schema`` and ``defaults`` print (or write) the files generated from
:mod:`rehab_outcomes.settings` (``make config``); ``snapshot`` records the merged config of a run;
``get`` prints one setting of a run's config files (the Makefile reads ``outdir`` with it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="The workflow's settings: JSON Schema, documented defaults, snapshot of a run.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    from rehab_outcomes.outputs import AtomicOutputs

    with AtomicOutputs(out.parent) as tmp:
        (tmp / out.name).write_text(text, encoding="utf-8")


@app.command("schema")
def schema(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
) -> None:
    """The JSON Schema of the config (workflow/schemas/config.schema.yaml)."""
    from rehab_outcomes.settings import json_schema_yaml

    _emit(json_schema_yaml(), out)


@app.command("defaults")
def defaults(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
) -> None:
    """The documented default config, every key after its description (config/config.yaml)."""
    from rehab_outcomes.settings import default_config_yaml

    _emit(default_config_yaml(), out)


@app.command("snapshot")
def snapshot(
    config_json: Annotated[str, typer.Option("--json", help="The config of the run, as JSON text.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON file to write.")],
) -> None:
    """Validate a run's config and write it whole (every key, defaults filled in) as JSON."""
    from rehab_outcomes.exceptions import ConfigError
    from rehab_outcomes.settings import load_settings, snapshot_json

    try:
        data = json.loads(config_json)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--json is not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError("--json must be a JSON object")
    _emit(snapshot_json(load_settings(data)), out)
    typer.echo(f"config -> {out}", err=True)


@app.command("get")
def get(
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. outdir or simulate.n.")],
    config: Annotated[
        list[Path] | None,
        typer.Option("--config", help="Config file(s) laid over the defaults, in order (as "
                                       "snakemake --configfile)."),
    ] = None,
) -> None:
    """Print one setting of the config that a run with these files would use."""
    import yaml

    from rehab_outcomes.exceptions import ConfigError
    from rehab_outcomes.settings import load_settings, merged

    layers: list[dict[str, Any]] = []
    for path in config or []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path.name} is not valid YAML: {exc}") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"config {path.name} must be a mapping of settings")
        layers.append(data or {})
    value: Any = load_settings(merged(*layers)).model_dump(mode="json", by_alias=True)
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ConfigError(f"unknown setting: {key}")
        value = value[part]
    typer.echo(value if isinstance(value, str) else json.dumps(value))
