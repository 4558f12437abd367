# Shared helpers of the workflow: config validation and input functions.
import sys
from pathlib import Path

from snakemake.utils import validate

from rehab_outcomes.reporting.figures_command import expected_figures
from rehab_outcomes.survival.pipeline import IPTW_TABLES, TABLES, VISIT_TABLES

validate(config, schema="../schemas/config.schema.yaml")

# Analysis tables shown in the Snakemake report, each with workflow/report/<table>.rst as caption.
REPORTED_TABLES = [
    "km_summary",
    "logrank",
    "cox_pain_free",
    "cox_reinjury",
    "ph_check",
    "rmst",
]

# The package is installed in the same environment as Snakemake: call its CLI through it.
CLI = f"{sys.executable} -m rehab_outcomes"


def is_simulated():
    return config["source"] == "simulate"


def episodes_input():
    """The export that the validate rule reads."""
    if is_simulated():
        return "results/simulate/episodes.csv"
    return config["records"]["episodes"]


def visits_input():
    """The visits table (or nothing) that the validate rule reads."""
    if is_simulated():
        return "results/simulate/visits.csv"
    return config["records"].get("visits") or []


def has_visits():
    return bool(visits_input())


def validate_outputs():
    out = [
        "results/validate/episodes.valid.parquet",
        "results/validate/quarantine.csv",
        "results/validate/validation.json",
    ]
    if has_visits():
        out += [
            "results/validate/visits.valid.parquet",
            "results/validate/visits_quarantine.csv",
        ]
    return out


def validate_options():
    opts = []
    if has_visits():
        opts.append(f"--visits {visits_input()}")
    rec = config.get("records", {})
    if not is_simulated() and rec.get("sheet") is not None:
        opts.append(f"--sheet {rec['sheet']}")
    if not is_simulated() and rec.get("recode"):
        opts.append(f"--recode {rec['recode']}")
    if config.get("validate", {}).get("strict"):
        opts.append("--strict")
    return " ".join(opts)


def simulate_options():
    sim = config.get("simulate", {})
    opts = [
        f"--n {sim.get('n', 3000)}",
        f"--seed {sim.get('seed', 20261129)}",
        f"--design {sim.get('design', 'randomised')}",
        f"--scenario {sim.get('scenario', 'default')}",
    ]
    if sim.get("params"):
        opts.append(f"--config {sim['params']}")
    return " ".join(opts)


def analysis_setting(key, default):
    return config.get("analysis", {}).get(key, default)


def analyse_tables():
    tables = list(TABLES)
    if analysis_setting("adjust", "none") == "iptw":
        tables += list(IPTW_TABLES)
    if has_visits():
        tables += list(VISIT_TABLES)
    return tables


def analyse_options():
    covariates = analysis_setting("covariates", None)
    opts = [
        f"--tau {analysis_setting('tau', 26)}",
        f"--conf-type {analysis_setting('conf_type', 'log')}",
        f"--adjust {analysis_setting('adjust', 'none')}",
    ]
    if covariates:
        opts.append(f"--covariates {','.join(covariates)}")
    if has_visits():
        opts.append("--visits results/validate/visits.valid.parquet")
    return " ".join(opts)


def figure_stems():
    return expected_figures(analysis_setting("adjust", "none"), has_visits())


def config_file():
    """The config file the run was started with (shown in the dashboard's provenance)."""
    files = list(getattr(workflow, "configfiles", []) or [])
    return files[-1] if files else "config/config.yaml"


def final_outputs():
    return [
        *validate_outputs(),
        "results/analyse/summary.json",
        *expand("results/figures/{stem}.png", stem=figure_stems()),
        "results/dashboard/index.html",
    ]
