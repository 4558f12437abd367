"""Provenance recorded by ``analyse`` and ``dashboard``: the run's config and masked input names.

- :func:`load_run_config` reads ``--run-config FILE`` (JSON or YAML: the merged config of the
  workflow run) into a dict.
- :func:`masked_name` is how an input file is named in any output: its name with anything
  identifying masked, never its folder. Inputs are identified by their SHA-256, recorded next
  to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rehab_outcomes.exceptions import ConfigError


def masked_name(path: str | Path) -> str:
    """The file name of ``path`` fit to record in an output (no folder; identifiers masked).

    The one call site of :func:`rehab_outcomes.contract.pii.masked_file_name` in the analysis
    and reporting commands: e-mail addresses and long digit runs in the name are masked.
    """
    from rehab_outcomes.contract.pii import masked_file_name

    return str(masked_file_name(path))


def load_run_config(path: str | Path | None) -> dict[str, Any] | None:
    """The mapping held by a JSON or YAML run-config file (``None`` when no file is given).

    Refused with :class:`ConfigError` (exit status 1) when the file is missing, unreadable or
    does not hold a mapping; the message names the file only by its masked name.
    """
    if path is None:
        return None
    import yaml  # JSON is a subset of YAML: one reader for both

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--run-config {masked_name(path)} not found") from None
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--run-config {masked_name(path)} cannot be read "
                          f"({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--run-config {masked_name(path)} must hold a mapping of settings")
    return {str(k): v for k, v in data.items()}
