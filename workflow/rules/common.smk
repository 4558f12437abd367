# Shared helpers of the workflow: config validation and input functions.
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

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


def final_outputs():
    return validate_outputs()
