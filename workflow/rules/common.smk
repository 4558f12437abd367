# Shared helpers of the workflow: the validated settings, output paths and command-line options.
#
# Every setting is read from SETTINGS (rehab_outcomes.settings.Settings: types, defaults and
# descriptions stated once). Every value that reaches a shell command is passed as a list of
# arguments and quoted there with {params.x:q} (Snakemake quotes each element with shlex.quote);
# params taken from the config are functions, so that Snakemake never reads braces in them as
# wildcards (paths cannot hold braces: the settings refuse them).
import json
import sys
from pathlib import Path

from snakemake.utils import validate

from rehab_outcomes.reporting.figures_command import expected_figures
from rehab_outcomes.settings import load_settings
from rehab_outcomes.survival.pipeline import (
    IPTW_TABLES,
    SESSION_PARQUET,
    SESSION_TABLES,
    TABLES,
    VISIT_TABLES,
)

# Refuses a bad config with an error naming each key at fault; then the same check by the JSON
# Schema generated from the settings (which also fills in the defaults of `config`).
SETTINGS = load_settings(config)
validate(config, schema="../schemas/config.schema.yaml")

# Every output of the run lies under the config's outdir.
OUT = Path(SETTINGS.outdir).as_posix()
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
# The merged config that ran (every key, defaults filled in).
RUN_CONFIG = f"{OUT}/config/config.json"
# The Snakemake report's landing page (bottom line and claims table).
REPORT_LANDING = f"{OUT}/report/workflow.rst"

# Analysis tables shown in the Snakemake report, each with workflow/report/<table>.rst as caption.
REPORTED_TABLES = [
    "km_summary",
    "logrank",
    "cox_pain_free",
    "cox_reinjury",
    "ph_check",
    "rmst",
]

# The package's entry point, installed beside Snakemake (quoted where used).
CLI = str(Path(sys.executable).with_name("rehab-outcomes"))

# Each shell command sends its output to {log}; `|| { tail -n 20 {log:q} >&2; exit 1; }` then
# shows the end of the log in Snakemake's output when the command fails.


def is_simulated():
    return SETTINGS.source == "simulate"


def is_load_capacity():
    """A cohort simulated by the load-capacity model (with a training log and policy truth)."""
    return is_simulated() and SETTINGS.simulate.model == "load-capacity"


def episodes_input():
    """The export that the validate rule reads."""
    if is_simulated():
        return f"{OUT}/simulate/episodes.csv"
    return SETTINGS.records.episodes


def visits_input():
    """The visits table (or nothing) that the validate rule reads."""
    if is_simulated():
        return f"{OUT}/simulate/visits.csv"
    return SETTINGS.records.visits or []


def has_visits():
    return bool(visits_input())


def sessions_input():
    """The training log (or nothing) that the validate rule reads."""
    if is_simulated():
        return f"{OUT}/simulate/sessions.csv" if is_load_capacity() else []
    return SETTINGS.records.sessions or []


def has_sessions():
    return bool(sessions_input())


def sessions_valid():
    """The validated training log (or nothing) that the analyse rule reads."""
    return f"{OUT}/validate/sessions.valid.parquet" if has_sessions() else []


def policy_truth_input():
    """The load-capacity simulator's policy truth (or nothing), shown beside claim 4."""
    return f"{OUT}/simulate/policy_truth.csv" if is_load_capacity() else []


def mapping_input():
    """The clinic's mapping file (or nothing)."""
    if is_simulated():
        return []
    return SETTINGS.records.mapping or []


def validate_outputs():
    out = [
        f"{OUT}/validate/episodes.valid.parquet",
        f"{OUT}/validate/quarantine.csv",
        f"{OUT}/validate/validation.json",
    ]
    if has_visits():
        out += [
            f"{OUT}/validate/visits.valid.parquet",
            f"{OUT}/validate/visits_quarantine.csv",
        ]
    if has_sessions():
        out += [
            sessions_valid(),
            f"{OUT}/validate/sessions_quarantine.csv",
        ]
    return out


def validate_args():
    """Options of `rehab-outcomes validate`, one list element per argument."""
    args = []
    if has_visits():
        args += ["--visits", visits_input()]
    if has_sessions():
        args += ["--sessions", sessions_input()]
    records = SETTINGS.records
    if not is_simulated() and records.sheet is not None:
        args += ["--sheet", str(records.sheet)]
    if mapping_input():
        args += ["--mapping", mapping_input()]
    args += [
        "--max-quarantined-share",
        repr(SETTINGS.validate_.max_quarantined_share),
    ]
    if SETTINGS.validate_.strict:
        args.append("--strict")
    return args


def simulate_params_input():
    """The simulator's parameter overrides file (or nothing)."""
    return SETTINGS.simulate.params or []


def simulate_args():
    """Options of `rehab-outcomes simulate`."""
    sim = SETTINGS.simulate
    args = ["--model", sim.model, "--n", str(sim.n), "--seed", str(sim.seed)]
    args += ["--design", sim.design, "--scenario", sim.scenario]
    if sim.params:
        args += ["--config", sim.params]
    return args


def analyse_tables():
    tables = list(TABLES)
    if SETTINGS.analysis.adjust == "iptw":
        tables += list(IPTW_TABLES)
    if has_visits():
        tables += list(VISIT_TABLES)
    if has_sessions():
        tables += list(SESSION_TABLES)
    return tables


def analyse_parquet():
    """The Parquet tables of the analysis (the counting-process table with a training log)."""
    return [f"{OUT}/analyse/{SESSION_PARQUET}"] if has_sessions() else []


def analyse_args():
    """Options of `rehab-outcomes analyse`: every analysis setting comes from the `analysis`
    section of the merged config (RUN_CONFIG, an input of the rule)."""
    args = ["--config", RUN_CONFIG]
    if has_visits():
        args += ["--visits", f"{OUT}/validate/visits.valid.parquet"]
    if has_sessions():
        args += ["--sessions", sessions_valid()]
    if policy_truth_input():
        args += ["--policy-truth", policy_truth_input()]
    return args


def figure_stems():
    return expected_figures(SETTINGS.analysis.adjust, has_visits())


def run_config_json():
    """The merged config as JSON text (the run_config rule records it)."""
    return json.dumps(SETTINGS.model_dump(mode="json", by_alias=True), sort_keys=True)


def final_outputs():
    return [
        RUN_CONFIG,
        *validate_outputs(),
        f"{OUT}/analyse/summary.json",
        *expand(f"{OUT}/figures/{{stem}}.png", stem=figure_stems()),
        f"{OUT}/dashboard/index.html",
        REPORT_LANDING,
    ]
