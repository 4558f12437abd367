"""The settings of the Snakemake workflow, stated once as typed pydantic models.

:class:`Settings` holds every setting of the workflow with its type, default and description.
Everything else is generated from it:

- the JSON Schema ``workflow/schemas/config.schema.yaml`` (:func:`json_schema`);
- the documented default config ``config/config.yaml``, every key preceded by its description
  (:func:`default_config_yaml`);
- the merged config of a run, ``<outdir>/config/config.json`` (:func:`snapshot_json`).

``rehab-outcomes config schema`` and ``rehab-outcomes config defaults`` (``make config``) write
the two committed files; a test keeps them equal to what the models generate. The workflow reads
its config through :func:`load_settings` and uses the attributes of the result.

Names that end up in file paths or on command lines are checked here: covariates are columns of
the data contract, scenarios are the simulator's presets, a sheet is a name without ``/``, ``..``
or control characters (or a 0-based index), and no path holds a control character or a brace.

>>> s = load_settings({"simulate": {"n": 500}})
>>> s.simulate.n, s.simulate.seed, s.outdir
(500, 20261129, 'results')
>>> load_settings({"analysis": {"covariates": ["arm", "age_years; id"]}})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rehab_outcomes.exceptions.ConfigError: invalid config: analysis.covariates[1]: Input should be ...
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rehab_outcomes.contract.schema import Episodes, column_kinds
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.planning import command as _planning
from rehab_outcomes.simulation.command import DesignChoice, ModelChoice
from rehab_outcomes.simulation.scenarios import SCENARIOS
from rehab_outcomes.survival.command import Adjust, ConfType

#: Contract columns that can be Cox covariates: every column but identifiers, dates and the
#: exit reason (site, arm, diagnosis, age_years, sex, bmi, weekly_km_before_injury, ...).
COVARIATES: tuple[str, ...] = tuple(
    name for name, kind in column_kinds(Episodes).items()
    if kind != "date" and name not in ("episode_id", "patient_key", "exit_reason")
)
#: Simulator presets (``rehab_outcomes.simulation.scenarios.SCENARIOS``).
SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)
#: The default Cox terms of the workflow's analysis.
DEFAULT_COVARIATES = ["arm", "age_years", "sex", "bmi", "weekly_km_before_injury", "symptom_weeks",
                      "baseline_pain_nrs"]

Covariate = Literal[COVARIATES]  # type: ignore[valid-type]
Scenario = Literal[SCENARIO_NAMES]  # type: ignore[valid-type]
Design = Literal[tuple(d.value for d in DesignChoice)]  # type: ignore[valid-type]
SimModel = Literal[tuple(m.value for m in ModelChoice)]  # type: ignore[valid-type]
ConfTypeName = Literal[tuple(c.value for c in ConfType)]  # type: ignore[valid-type]
AdjustName = Literal[tuple(a.value for a in Adjust)]  # type: ignore[valid-type]
TestName = Literal[tuple(t.value for t in _planning.TestChoice)]  # type: ignore[valid-type]

#: A file or folder path: any characters (quoted on command lines) but control characters and
#: braces, which Snakemake would read as wildcards.
FilePath = Annotated[str, Field(min_length=1, pattern=r"^[^\x00-\x1f\x7f{}]+$")]
#: An Excel sheet name: 1-31 characters, none of / \ : ? * [ ] or control characters, no "..".
SheetName = Annotated[str, Field(pattern=r"^(?!.*\.\.)[^/\\:?*\[\]\x00-\x1f\x7f]{1,31}$")]
SheetIndex = Annotated[int, Field(ge=0)]


class _Section(BaseModel):
    """A section of the config: unknown keys refused, no type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, regex_engine="python-re")


def _unique(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError("lists a value twice")
    return values


#: The load-capacity simulator's arm effects come from its model, not from a scenario preset
#: (the presets set the Weibull model's hazard ratios only).
LOADCAP_SCENARIOS: tuple[str, ...] = ("default",)


class SimulateSection(_Section):
    """The simulated cohort (used when source: simulate); see docs/simulation.md."""

    model_config = ConfigDict(json_schema_extra={
        # the load-capacity model has no scenario presets
        "if": {"properties": {"model": {"const": ModelChoice.load_capacity.value}},
               "required": ["model"]},
        "then": {"properties": {"scenario": {"enum": list(LOADCAP_SCENARIOS)}}},
    })

    n: int = Field(3000, ge=1, description="Number of episodes.")
    seed: int = Field(20261129, ge=0,
                      description="Random seed: the same seed gives byte-identical files.")
    model: SimModel = Field(
        ModelChoice.weibull.value,
        description='Simulator: "weibull" (proportional hazards with known hazard ratios, '
        'docs/simulation.md) or "load-capacity" (a daily load-capacity model of each runner, '
        "docs/load-capacity.md), which also writes a training log (sessions.csv, validated and "
        "analysed for claims 4-6) and its policy truth (policy_truth.csv); it takes scenario: "
        "default only, and ignores the Weibull hazards (pain_free, reinjury) of params.")
    design: Design = Field(
        "randomised",
        description="Allocation: randomised, or observational (arm depends on baseline covariates).")
    scenario: Scenario = Field("default",
                               description=f"Parameter preset: {', '.join(SCENARIO_NAMES)}.")
    params: FilePath | None = Field(
        None, description="Optional YAML file of simulator parameter overrides (null for none; "
        "docs/simulation.md). With model: load-capacity it may also hold the sections "
        "load_capacity and logging (docs/load-capacity.md), which the Weibull model refuses.")

    @field_validator("scenario")
    @classmethod
    def _scenario_of_the_model(cls, v: str, info: pydantic.ValidationInfo) -> str:
        if info.data.get("model") == ModelChoice.load_capacity.value and v not in LOADCAP_SCENARIOS:
            raise ValueError(f"the load-capacity model takes scenario {' or '.join(LOADCAP_SCENARIOS)} "
                             "only: its arm effects come from the model (docs/load-capacity.md), "
                             "the presets set the Weibull model's hazard ratios")
        return v

    @field_validator("params")
    @classmethod
    def _params_file_is_valid(cls, v: Any, info: pydantic.ValidationInfo) -> Any:
        """Check the overrides file now, as the simulator will read it, so that a bad key fails
        before the workflow starts rather than at its simulate step (a file that is not there
        yet is left to that step)."""
        if v is None or not Path(v).is_file():
            return v
        from rehab_outcomes.simulation.scenarios import load_loadcap_params, load_params

        model = info.data.get("model", ModelChoice.weibull.value)
        try:
            load_params(info.data.get("scenario", "default"), v, model=model)
            if model == ModelChoice.load_capacity.value:
                load_loadcap_params(v)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        return v


class RecordsSection(_Section):
    """A clinic's own anonymised export (used when source: records)."""

    episodes: FilePath | None = Field(
        None, description="Episodes file: CSV (UTF-8), Parquet or Excel .xlsx, following "
        "docs/data-contract.md. Required when source: records.")
    visits: FilePath | None = Field(None, description="Optional visits table (null for none).")
    sessions: FilePath | None = Field(
        None, description="Optional training log, one row per session (null for none); see "
        "docs/data-contract.md.")
    sheet: SheetName | SheetIndex | None = Field(
        None, description="Excel sheet name or 0-based index (null: the first sheet).")
    mapping: FilePath | None = Field(
        None, description="Optional YAML mapping file: the clinic's own column names, codes, date "
        "format and units translated explicitly to the contract (null for none).")
    recode: FilePath | None = Field(
        None, exclude=True, deprecated="records.recode is the former name of records.mapping",
        description="Deprecated: the former name of mapping (a flat file of codes).")

    @model_validator(mode="before")
    @classmethod
    def _recode_is_mapping(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("recode") is not None:
            if data.get("mapping") is not None and data["mapping"] != data["recode"]:
                raise ValueError("records.recode is the former name of records.mapping: give "
                                 "only records.mapping")
            data = {**data, "mapping": data["recode"], "recode": None}
        return data


class ValidateSection(_Section):
    """Validation step."""

    strict: bool = Field(
        False,
        description="Fail the workflow if any row is quarantined (default: quarantine and carry on).")
    max_quarantined_share: float = Field(
        0.5, ge=0, le=1,
        description="Fail the workflow if more than this share of the episodes is quarantined "
        "(0-1): a file that mostly fails the contract is more likely a wrong export.")


class AnalysisSection(_Section):
    """Survival analysis (rehab-outcomes analyse); see docs/analysis.md."""

    covariates: list[Covariate] = Field(
        list(DEFAULT_COVARIATES), min_length=1,
        json_schema_extra={"contains": {"const": "arm"}, "uniqueItems": True},
        description="Cox model terms: arm (reference rest_only) plus baseline covariates, "
        f"columns of the data contract ({', '.join(COVARIATES)}).")
    tau: float = Field(26.0, gt=0, description="Restricted mean survival time horizon, weeks.")
    conf_type: ConfTypeName = Field(
        "log", description="Kaplan-Meier confidence intervals: log (as R survfit), log-log or plain.")
    adjust: AdjustName = Field(
        "none", description='Observational data: "iptw" adds inverse probability weighted '
        'analyses and every claim then uses the weighted estimates; "none" does not.')
    strata: Literal["site"] | None = Field(
        "site", description="Stratify the primary Cox models by site (when there are at least 2 "
        "sites), as multicentre trials are analysed; null for no strata.")
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Two-sided significance level of every interval, test and "
        "claim verdict (Holm-adjusted over the family of claims).")
    milestones: list[Annotated[float, Field(gt=0)]] = Field(
        [12.0, 26.0, 52.0], min_length=1, description="Weeks from the first visit at which state "
        "occupation (in care, running pain-free, re-injured) is always reported.")
    margin_no_benefit_hr: float = Field(
        1.25, gt=1, description="Smallest worthwhile hazard ratio of pain-free running (its "
        "inverse for re-injury); an assumption, see docs/claims.md.")
    margin_rmst_weeks: float = Field(
        1.5, gt=0, description="Smallest worthwhile difference in restricted mean weeks to "
        "pain-free running (see docs/claims.md).")
    margin_state_probability: float = Field(
        0.04, gt=0, lt=1, description="Smallest worthwhile difference in the probability of "
        "running pain-free and not re-injured at 52 weeks (see docs/claims.md).")
    claim7_hr: float = Field(
        0.5, gt=0, lt=1, description='Re-injury hazard ratio meant by claim 7 ("up to 50 % fewer '
        'injuries").')

    @field_validator("covariates")
    @classmethod
    def _with_arm_once(cls, v: list[str]) -> list[str]:
        if "arm" not in v:
            raise ValueError("must include arm")
        return _unique(v)


class DashboardSection(_Section):
    """Clinic outcome dashboard (<outdir>/dashboard/index.html)."""

    threshold: int = Field(
        11, ge=1, description='Counts below this are shown as "<threshold"; no rate or curve from '
        "fewer people at risk.")


class PowerSection(_Section):
    """Study planning by simulation (`snakemake power`, not part of the default pipeline)."""

    n_per_arm: list[Annotated[int, Field(ge=2)]] = Field(
        [50, 100, 200], min_length=1, json_schema_extra={"uniqueItems": True},
        description="Runners per arm to evaluate.")
    trials: int = Field(1000, ge=1, description="Simulated trials per sample size and scenario.")
    chunks: int = Field(
        4, ge=1, description="Chunks per scenario: the grid is split into this many jobs, then "
        "gathered.")
    scenarios: list[Scenario] = Field(
        ["default", "seed_claims"], min_length=1,
        json_schema_extra={"uniqueItems": True},
        description=f"Scenarios (simulator presets) to evaluate: {', '.join(SCENARIO_NAMES)}.")
    design: Design = Field(
        "randomised", description="Allocation design of the simulated trials: randomised or "
        "observational.")
    test: TestName = Field(
        "cox", description="Test: logrank (3-arm), pairwise (each arm vs rest only, Holm), or cox "
        "(arm terms).")
    alpha: float = Field(0.05, gt=0, lt=1, description="Two-sided significance level.")
    seed: int = Field(
        1, ge=0, description="Seed of the whole grid (results do not depend on the number of chunks).")

    _unique_lists = field_validator("n_per_arm", "scenarios")(_unique)


class Settings(_Section):
    """Configuration of the rehab-outcomes Snakemake workflow."""

    model_config = ConfigDict(json_schema_extra={
        # source: records needs the clinic's episodes file
        "if": {"properties": {"source": {"const": "records"}}, "required": ["source"]},
        "then": {"required": ["records"], "properties": {"records": {
            "required": ["episodes"], "properties": {"episodes": {"type": "string"}}}}},
    })

    source: Literal["simulate", "records"] = Field(
        "simulate", description='Where the episodes come from: "simulate" (a simulated cohort with '
        'known truth) or "records" (a clinic\'s own anonymised export, see `records:` below).')
    outdir: FilePath = Field(
        "results", description="Folder of every output of the run (data, tables, figures, "
        "dashboard, logs, benchmarks, the config that ran): give each run its own, e.g. "
        "results/clinic-2025, so that a clinic's run and the simulated run never mix.")
    simulate: SimulateSection = Field(default_factory=SimulateSection,
                                      description=SimulateSection.__doc__)
    records: RecordsSection = Field(default_factory=RecordsSection,
                                    description=RecordsSection.__doc__)
    validate_: ValidateSection = Field(default_factory=ValidateSection, alias="validate",
                                       description=ValidateSection.__doc__)
    analysis: AnalysisSection = Field(default_factory=AnalysisSection,
                                      description=AnalysisSection.__doc__)
    dashboard: DashboardSection = Field(default_factory=DashboardSection,
                                        description=DashboardSection.__doc__)
    power: PowerSection = Field(default_factory=PowerSection, description=PowerSection.__doc__)

    @model_validator(mode="after")
    def _records_need_episodes(self) -> Settings:
        if self.source == "records" and self.records.episodes is None:
            raise ValueError("records.episodes is required when source is records: the path of "
                             "the clinic's episodes file")
        return self


# ----------------------------------------------------------------------------------------------
# reading


def _where(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in loc).lstrip(".")


def load_settings(config: Mapping[str, Any]) -> Settings:
    """Validate a workflow config (a mapping, e.g. Snakemake's ``config``) into :class:`Settings`.

    Raises
    ------
    ConfigError
        Naming each key at fault (``analysis.covariates[1]: Input should be ...``).
    """
    try:
        return Settings.model_validate(dict(config))
    except pydantic.ValidationError as exc:
        problems = []
        for err in exc.errors():
            # the last element of a union's location names the branch tried, not a key
            loc = tuple(k for k in err["loc"] if not (isinstance(k, str) and k.startswith(
                ("function-", "str", "int", "constrained-"))))
            msg = err["msg"].removeprefix("Value error, ")
            where = _where(loc)
            shown = "" if isinstance(err["input"], dict) else f" (got {err['input']!r})"
            problems.append(f"{where}: {msg}{shown}" if where else msg)
        raise ConfigError("invalid config: " + "; ".join(dict.fromkeys(problems))) from None


def snapshot_json(settings: Settings) -> str:
    """The whole config that runs (every key, defaults filled in) as sorted, indented JSON."""
    return json.dumps(settings.model_dump(mode="json", by_alias=True), indent=2,
                      sort_keys=True) + "\n"


def merged(*configs: Mapping[str, Any]) -> dict[str, Any]:
    """Configs laid over each other section by section, as Snakemake merges ``--configfile``."""
    out: dict[str, Any] = {}
    for cfg in configs:
        for key, value in cfg.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = dict(value) if isinstance(value, Mapping) else value
    return out


# ----------------------------------------------------------------------------------------------
# generated files

SCHEMA_HEADER = ("# JSON Schema of the workflow's config, generated from src/rehab_outcomes/settings.py\n"
                 "# by `make config` (rehab-outcomes config schema): do not edit.\n")
DEFAULTS_HEADER = """\
# Settings of the rehab-outcomes workflow: every key with its default and what it means.
# Generated from src/rehab_outcomes/settings.py by `make config` (rehab-outcomes config defaults)
# and checked against workflow/schemas/config.schema.yaml. Do not edit: to run with other values,
# write the keys you change in a file of your own (e.g. my.yaml, see config/example-records.yaml)
# and run `make run CONFIG=my.yaml`.
"""


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace ``$ref`` by the definition it names, and drop pydantic's generated titles."""
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    if "$ref" in node:
        out.update(_inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs))
    for key, value in node.items():
        if key == "$ref" or key == "title":
            continue
        if key == "properties":
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _inline(value, defs)
    if out.get("type") == "object" and "properties" in out and "default" not in out:
        out["default"] = {}  # a missing section is an empty one: every key takes its default
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config (no ``$ref``: every section written out)."""
    schema = Settings.model_json_schema(mode="validation", by_alias=True)
    defs = schema.pop("$defs", {})
    body = _inline(schema, defs)
    body.pop("default", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **body}


def json_schema_yaml() -> str:
    """:func:`json_schema` as the YAML text of ``workflow/schemas/config.schema.yaml``."""
    return SCHEMA_HEADER + yaml.safe_dump(json_schema(), sort_keys=False, width=100,
                                          allow_unicode=True)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    text = str(value)
    plain = yaml.safe_load(text) == text and not any(c in text for c in ":#,[]{}&*!|>'\"%@`")
    return text if plain else json.dumps(text)


def _comment(text: str, indent: str) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), width=99 - len(indent), initial_indent=f"{indent}# ",
                         subsequent_indent=f"{indent}# ", break_on_hyphens=False)


def _yaml_lines(model: type[BaseModel], values: dict[str, Any], indent: str) -> list[str]:
    lines: list[str] = []
    for name, info in model.model_fields.items():
        if info.deprecated:
            continue
        key = info.alias or name
        if lines and not indent:
            lines.append("")
        lines += _comment(info.description or "", indent)
        section = info.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            lines.append(f"{indent}{key}:")
            lines += _yaml_lines(section, values[key], indent + "  ")
        else:
            lines.append(f"{indent}{key}: {_scalar(values[key])}")
    return lines


def default_config_yaml() -> str:
    """The documented default config (``config/config.yaml``): every key after its description."""
    values = Settings().model_dump(mode="json", by_alias=True)
    return DEFAULTS_HEADER + "\n" + "\n".join(_yaml_lines(Settings, values, "")) + "\n"
