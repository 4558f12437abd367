"""Named parameter presets (scenarios) and loading of a YAML ``--config`` on top of them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.simulation.params import SimulationParams, check_params, params_from_dict

if TYPE_CHECKING:
    from rehab_outcomes.simulation.loadcap_outputs import LoadCapConfig

#: Sections of a parameter file that only the load-capacity model reads (the fields of
#: ``rehab_outcomes.simulation.loadcap_outputs.LoadCapConfig``).
LOADCAP_SECTIONS: tuple[str, ...] = ("load_capacity", "logging")


def _with_arm_effects(pf_strength: float, pf_stretch: float, re_strength: float,
                      re_stretch: float) -> SimulationParams:
    base = SimulationParams()
    pf = dataclasses.replace(base.pain_free.effects, arm_strength_graded_running=math.log(pf_strength),
                             arm_stretching_only=math.log(pf_stretch))
    re = dataclasses.replace(base.reinjury.effects, arm_strength_graded_running=math.log(re_strength),
                             arm_stretching_only=math.log(re_stretch))
    return dataclasses.replace(
        base,
        pain_free=dataclasses.replace(base.pain_free, effects=pf),
        reinjury=dataclasses.replace(base.reinjury, effects=re),
    )


#: Scenario name -> (description, builder).
SCENARIOS: dict[str, tuple[str, Callable[[], SimulationParams]]] = {
    "default": (
        "Conservative effects from the literature: pain-free HR strength 1.5, stretching 1.05; "
        "re-injury HR strength 0.85, stretching 0.96.",
        SimulationParams,
    ),
    "seed_claims": (
        "What the clinics claim: strength + graded running works (pain-free HR 2.0) and halves "
        "re-injury (HR 0.5); stretching and rest bring no benefit (HR 1).",
        lambda: _with_arm_effects(2.0, 1.0, 0.5, 1.0),
    ),
    "null": (
        "No arm effect on either outcome (all arm hazard ratios 1).",
        lambda: _with_arm_effects(1.0, 1.0, 1.0, 1.0),
    ),
}


def scenario_params(name: str) -> SimulationParams:
    """The parameters of a named scenario.

    Raises
    ------
    ConfigError
        If the scenario is unknown.
    """
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario '{name}' (known: {', '.join(SCENARIOS)})")
    return SCENARIOS[name][1]()


def read_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML parameter file (an empty file means no overrides)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path.name}: {type(exc).__name__}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path.name} must be a mapping of parameter sections")
    return data


def load_params(scenario: str = "default", config_path: str | Path | None = None, *,
                model: str = "weibull") -> SimulationParams:
    """Parameters of ``scenario`` with the overrides of a YAML file applied.

    Parameters
    ----------
    scenario
        One of :data:`SCENARIOS` (``default``, ``seed_claims``, ``null``).
    config_path
        Optional YAML file of nested overrides, e.g. ``follow_up: {lost_by_12_months: 0.3}``.
        Unknown keys are refused.
    model
        The simulator that will use the parameters: ``weibull`` refuses the load-capacity
        sections (``load_capacity``, ``logging``); ``load-capacity`` leaves them to
        :func:`load_loadcap_params`.

    Raises
    ------
    ConfigError
        Unknown scenario, unreadable file, unknown key, wrong type or incoherent values, or a
        load-capacity section for the Weibull model.

    Examples
    --------
    >>> load_params("null").pain_free.effects.arm_strength_graded_running
    0.0
    """
    base = scenario_params(scenario)
    if config_path is None:
        check_params(base)
        return base
    data = read_config(config_path)
    found = [name for name in LOADCAP_SECTIONS if name in data]
    if found and model != "load-capacity":
        raise ConfigError(
            f"config {Path(config_path).name}: {' and '.join(repr(f) for f in found)} "
            "(parameters of the load-capacity model) apply to --model load-capacity only; "
            "the Weibull model does not read them")
    return params_from_dict({k: v for k, v in data.items() if k not in LOADCAP_SECTIONS}, base)


def load_loadcap_params(config_path: str | Path | None = None) -> LoadCapConfig:
    """The load-capacity model's and the sessions logging's parameters of a YAML file.

    The file's ``load_capacity`` section overrides fields of
    :class:`~rehab_outcomes.simulation.loadcap.LoadCapParams` and its ``logging`` section fields
    of :class:`~rehab_outcomes.simulation.loadcap_outputs.LoggingParams`; the other sections are
    left to :func:`load_params`.

    Raises
    ------
    ConfigError
        Unreadable file, unknown key, wrong type or a value out of range, naming the key
        (e.g. ``load_capacity.event_probability``).
    """
    from rehab_outcomes.simulation.loadcap_outputs import loadcap_params_from_dict

    if config_path is None:
        return loadcap_params_from_dict(None)
    data = read_config(config_path)
    return loadcap_params_from_dict({k: v for k, v in data.items() if k in LOADCAP_SECTIONS})
