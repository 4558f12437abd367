"""The ``rehab-outcomes simulate`` subcommand (registered by :mod:`rehab_outcomes.cli`).

The simulator is imported inside the command, so that ``--help`` stays fast.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rehab_outcomes.exceptions import ConfigError

log = logging.getLogger(__name__)

#: Names of the scenarios (``rehab_outcomes.simulation.scenarios.SCENARIOS``), for the help text.
SCENARIO_NAMES = ("default", "seed_claims", "null")


class DesignChoice(StrEnum):
    """Study design of the simulated cohort."""

    randomised = "randomised"
    observational = "observational"


class ModelChoice(StrEnum):
    """Which simulator generates the cohort."""

    weibull = "weibull"
    load_capacity = "load-capacity"


class VisitsFormat(StrEnum):
    """File format of the visits table."""

    csv = "csv"
    parquet = "parquet"


def simulate(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of episodes to simulate.")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed (same seed, same files).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    design: Annotated[
        DesignChoice,
        typer.Option(help="randomised: fixed allocation; observational: arm depends on weekly km, "
                          "symptom weeks and baseline pain (confounding by indication)."),
    ] = DesignChoice.randomised,
    scenario: Annotated[
        str, typer.Option(help=f"Parameter preset: {', '.join(SCENARIO_NAMES)}.")
    ] = "default",
    config: Annotated[
        Path | None,
        typer.Option(help="YAML file of parameter overrides on top of the scenario (unknown keys "
                          "are refused); --model load-capacity also reads its sections "
                          "load_capacity and logging (docs/load-capacity.md)."),
    ] = None,
    visits_format: Annotated[
        VisitsFormat, typer.Option("--visits-format", help="Format of the visits table.")
    ] = VisitsFormat.csv,
    model: Annotated[
        ModelChoice,
        typer.Option(help="weibull: proportional hazards with known log HRs (default); "
                          "load-capacity: daily load-capacity model with sessions.csv and "
                          "policy_truth.csv (docs/load-capacity.md; visits always CSV)."),
    ] = ModelChoice.weibull,
    policy_truth_n: Annotated[
        int | None,
        typer.Option("--policy-truth-n", min=1,
                     help="load-capacity: runners of policy_truth.csv (default: n, at most 5,000; "
                          "each of its 12 policies simulates them all)."),
    ] = None,
) -> None:
    """Simulate a cohort with known truth.

    Writes OUT/episodes.csv (the data contract), OUT/visits.csv or .parquet (weekly to
    fortnightly visits while in care) and OUT/truth.json (parameters, seed, package version and
    the true log hazard ratios of both outcomes, named as the analysis names its Cox terms).
    All files are moved into OUT together once written; a failed run changes nothing.
    """
    from rehab_outcomes.outputs import guard_inputs
    from rehab_outcomes.simulation.cohort import MANAGED_OUTPUTS, simulate_cohort
    from rehab_outcomes.simulation.scenarios import load_loadcap_params, load_params

    params = load_params(scenario, config, model=model.value)
    if policy_truth_n is not None and model is not ModelChoice.load_capacity:
        raise ConfigError("--policy-truth-n applies to --model load-capacity only")
    if model is ModelChoice.load_capacity and scenario != "default":
        raise ConfigError(f"--scenario {scenario}: the scenarios set the Weibull model's hazard "
                          "ratios; --model load-capacity takes only the default scenario")
    if model is ModelChoice.load_capacity:
        from rehab_outcomes.simulation import loadcap_outputs as lco

        lc_config = load_loadcap_params(config)
        guard_inputs([config], out, lco.MANAGED_OUTPUTS)
        lc = lco.simulate_loadcap_cohort(n, seed, params, design=design.value, scenario=scenario,
                                         lc=lc_config.load_capacity, logging=lc_config.logging,
                                         policy_truth_n=policy_truth_n or min(n, lco.POLICY_TRUTH_N))
        lc.write(out)
        typer.echo(f"{len(lc.episodes):,} episodes, {len(lc.visits):,} visits and "
                   f"{len(lc.sessions):,} sessions (load-capacity, {design.value}) -> {out}")
        return
    guard_inputs([config], out, MANAGED_OUTPUTS)
    cohort = simulate_cohort(n, seed, params, design=design.value, scenario=scenario)
    paths = cohort.write(out, visits_format=visits_format.value)
    log.info("wrote %s", ", ".join(sorted(p.name for p in paths.values())))
    n_visits = 0 if cohort.visits is None else len(cohort.visits)
    typer.echo(f"{len(cohort.episodes):,} episodes and {n_visits:,} visits ({design.value}, "
               f"scenario {scenario}) -> {out}")
