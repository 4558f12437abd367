"""The workflow's settings, stated once (rehab_outcomes.settings): generated files, validation."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import ROOT, run_cli

from rehab_outcomes.contract.schema import Episodes
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.settings import (
    COVARIATES,
    SCENARIO_NAMES,
    Settings,
    default_config_yaml,
    json_schema,
    json_schema_yaml,
    load_settings,
    snapshot_json,
)
from rehab_outcomes.simulation.params import SimulationParams, params_from_dict
from rehab_outcomes.simulation.scenarios import SCENARIOS

SCHEMA_FILE = ROOT / "workflow/schemas/config.schema.yaml"
DEFAULTS_FILE = ROOT / "config/config.yaml"


def test_committed_schema_and_defaults_are_the_generated_ones() -> None:
    assert SCHEMA_FILE.read_text() == json_schema_yaml(), "run `make config`"
    assert DEFAULTS_FILE.read_text() == default_config_yaml(), "run `make config`"


def test_cli_prints_the_generated_files(tmp_path: Path) -> None:
    r = run_cli("config", "schema")
    assert r.returncode == 0, r.stderr
    assert r.stdout == json_schema_yaml()
    r = run_cli("config", "defaults", "--out", str(tmp_path / "c.yaml"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c.yaml").read_text() == default_config_yaml()


def test_defaults_are_stated_once() -> None:
    """The default config holds exactly the models' defaults, every key after a comment."""
    cfg = yaml.safe_load(DEFAULTS_FILE.read_text())
    assert load_settings(cfg) == Settings()
    assert cfg == Settings().model_dump(mode="json", by_alias=True)
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    jsonschema.validate(cfg, schema)
    # the schema's defaults are the models' defaults
    for section, sub in schema["properties"].items():
        if sub.get("type") == "object":
            for key, prop in sub["properties"].items():
                if "default" in prop and not prop.get("deprecated"):
                    assert prop["default"] == cfg[section][key], f"{section}.{key}"
        else:
            assert sub["default"] == cfg[section], section


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_every_example_config_is_valid(name: str) -> None:
    cfg = yaml.safe_load((ROOT / "config" / name).read_text())
    settings = load_settings(cfg)
    jsonschema.validate(cfg, json_schema())
    if name != "config.yaml":
        assert settings.outdir != "results", "an example run gets its own outdir"


def test_names_come_from_the_contract_and_the_simulator() -> None:
    columns = set(Episodes.to_schema().columns)
    assert set(COVARIATES) <= columns
    assert {"arm", "age_years", "sex", "bmi", "weekly_km_before_injury", "symptom_weeks",
            "baseline_pain_nrs", "baseline_kujala", "diagnosis", "site"} == set(COVARIATES)
    assert SCENARIO_NAMES == tuple(SCENARIOS)
    from rehab_outcomes.survival.pipeline import DEFAULT_COVARIATES

    assert tuple(Settings().analysis.covariates) == DEFAULT_COVARIATES


GOOD = [
    {},
    {"source": "records", "records": {"episodes": "my export; 'x' $(y).csv", "sheet": "Sheet 1"}},
    {"source": "records", "records": {"episodes": "a.xlsx", "sheet": 0, "mapping": "m.yaml"}},
    {"outdir": "/data/runs/clinic A", "validate": {"max_quarantined_share": 0.0, "strict": True}},
    {"analysis": {"covariates": ["arm", "site", "baseline_kujala"], "tau": 52, "adjust": "iptw"}},
    {"power": {"scenarios": ["null"], "n_per_arm": [10, 20], "test": "pairwise"}},
    {"simulate": {"scenario": "seed_claims", "params": "sim params.yaml", "n": 10}},
    {"simulate": {"model": "load-capacity", "design": "observational", "n": 10}},
    {"simulate": {"model": "load-capacity", "scenario": "default", "params": "sim.yaml"}},
]
BAD = {
    "analysis.covariates": {"analysis": {"covariates": ["arm", "age_years$(id > x.txt)"]}},
    "analysis.covariates ": {"analysis": {"covariates": ["age_years"]}},
    "analysis.covariates  ": {"analysis": {"covariates": ["arm", "arm"]}},
    "power.scenarios": {"power": {"scenarios": ["../x"]}},
    "power.scenarios ": {"power": {"scenarios": ["default", "default"]}},
    "records.sheet": {"records": {"sheet": "../x"}},
    "records.sheet ": {"records": {"sheet": "a/b"}},
    "records.sheet  ": {"records": {"sheet": "tab\there"}},
    "records.sheet   ": {"records": {"sheet": -1}},
    "records.episodes": {"source": "records"},
    "records.episodes ": {"source": "records", "records": {"episodes": "a\nb.csv"}},
    "records.visits": {"records": {"visits": "{sample}.csv"}},
    "outdir": {"outdir": "res{x}"},
    "simulate.n": {"simulate": {"n": "3000"}},
    "simulate.scenario": {"simulate": {"scenario": "miracle"}},
    "simulate.scenario ": {"simulate": {"model": "load-capacity", "scenario": "seed_claims"}},
    "simulate.model": {"simulate": {"model": "loadcap"}},
    "simulate.model ": {"simulate": {"model": "Load-Capacity"}},
    "simulate.bogus": {"simulate": {"bogus": 1}},
    "validate.max_quarantined_share": {"validate": {"max_quarantined_share": 1.5}},
    "source": {"source": "somewhere"},
}


@pytest.mark.parametrize("cfg", GOOD)
def test_good_configs_pass_the_models_and_the_schema(cfg: dict) -> None:
    settings = load_settings(cfg)
    jsonschema.validate(cfg, json_schema())
    # the snapshot is complete and reads back to the same settings
    snap = json.loads(snapshot_json(settings))
    assert load_settings(snap) == settings
    jsonschema.validate(snap, json_schema())
    assert set(snap) == {"source", "outdir", "simulate", "records", "validate", "analysis",
                         "dashboard", "power"}


@pytest.mark.parametrize("key", list(BAD))
def test_bad_configs_are_refused_by_both_naming_the_key(key: str) -> None:
    cfg = BAD[key]
    with pytest.raises(ConfigError, match=key.strip().replace(".", r"\.")):
        load_settings(cfg)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cfg, json_schema())


def test_recode_is_a_deprecated_name_of_mapping() -> None:
    s = load_settings({"records": {"recode": "codes.yaml"}})
    assert s.records.mapping == "codes.yaml"
    assert "recode" not in json.loads(snapshot_json(s))["records"]
    with pytest.raises(ConfigError, match="records.mapping"):
        load_settings({"records": {"recode": "a.yaml", "mapping": "b.yaml"}})
    assert "recode" not in default_config_yaml()


def test_config_get_and_snapshot_commands(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("outdir: runs/a\nsimulate: {n: 10}\n")
    (tmp_path / "b.yaml").write_text("simulate: {seed: 3}\n")
    r = run_cli("config", "get", "outdir", "--config", str(tmp_path / "a.yaml"))
    assert r.returncode == 0 and r.stdout == "runs/a\n", r.stderr
    r = run_cli("config", "get", "simulate", "--config", str(tmp_path / "a.yaml"),
                "--config", str(tmp_path / "b.yaml"))
    assert json.loads(r.stdout) == {**Settings().simulate.model_dump(), "n": 10, "seed": 3}
    r = run_cli("config", "get", "outdir")
    assert r.stdout == "results\n"
    r = run_cli("config", "get", "nonsense")
    assert r.returncode == 1 and "unknown setting" in r.stderr
    out = tmp_path / "run/config.json"
    r = run_cli("config", "snapshot", "--json", json.dumps({"simulate": {"n": 7}}), "--out", str(out))
    assert r.returncode == 0, r.stderr
    snap = json.loads(out.read_text())
    assert snap["simulate"]["n"] == 7 and snap["outdir"] == "results"
    assert snap == json.loads(snapshot_json(load_settings({"simulate": {"n": 7}})))
    r = run_cli("config", "snapshot", "--json", '{"power": {"scenarios": ["../x"]}}',
                "--out", str(tmp_path / "bad.json"))
    assert r.returncode == 1 and "power.scenarios" in r.stderr
    assert not (tmp_path / "bad.json").exists()


def test_simulator_overrides_are_validated_by_the_dataclass_types() -> None:
    """params_from_dict: pydantic over the parameter dataclasses, errors naming the key."""
    import datetime

    p = params_from_dict({"follow_up": {"recruitment_start": datetime.date(2021, 1, 4)},
                          "visits": {"interval_days": [7]}, "pain_free": {"shape": None}})
    assert p.follow_up.recruitment_start == "2021-01-04"
    assert p.visits.interval_days == (7,) and p.pain_free.shape is None
    assert p.cohort == SimulationParams().cohort
    cases = {
        "parameter 'cohort.age_min' must be a whole number": {"cohort": {"age_min": True}},
        "parameter 'cohort.age_mean' must be a number": {"cohort": {"age_mean": "30"}},
        "parameter 'visits.interval_days[1]' must be a whole number": {
            "visits": {"interval_days": [7, "x"]}},
        "parameter 'sites.names' must be a list": {"sites": {"names": "abc"}},
        "'cohort' must be a mapping": {"cohort": [1]},
        "unknown parameter 'pain_free.effects.foo'": {"pain_free": {"effects": {"foo": 1}}},
    }
    for message, overrides in cases.items():
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            params_from_dict(overrides)


def test_load_capacity_model_takes_the_default_scenario_only() -> None:
    """The presets set the Weibull model's hazard ratios, which the load-capacity model has not."""
    s = load_settings({"simulate": {"model": "load-capacity"}})
    assert s.simulate.model == "load-capacity" and s.simulate.scenario == "default"
    assert Settings().simulate.model == "weibull"
    for scenario in SCENARIO_NAMES:
        assert load_settings({"simulate": {"scenario": scenario}}).simulate.scenario == scenario
        if scenario != "default":
            with pytest.raises(ConfigError, match=r"simulate\.scenario: the load-capacity model "
                                                  r"takes scenario default only"):
                load_settings({"simulate": {"model": "load-capacity", "scenario": scenario}})


def test_params_file_is_checked_when_the_config_is_read(tmp_path: Path) -> None:
    """A bad overrides file fails before the workflow starts, naming simulate.params and the
    key in the file, as the simulator would refuse it."""
    lc = tmp_path / "lc.yaml"
    lc.write_text("load_capacity: {event_probability: 0.01}\nlogging: {}\n")
    s = load_settings({"simulate": {"model": "load-capacity", "params": str(lc)}})
    assert s.simulate.params is not None
    with pytest.raises(ConfigError, match=r"simulate\.params: .*apply to --model load-capacity only"):
        load_settings({"simulate": {"params": str(lc)}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("load_capacity: {flare_pain: 11}\n")
    with pytest.raises(ConfigError, match=r"simulate\.params: .*load_capacity\.flare_pain"):
        load_settings({"simulate": {"model": "load-capacity", "params": str(bad)}})
    typo = tmp_path / "typo.yaml"
    typo.write_text("cohort: {age_meen: 30}\n")
    with pytest.raises(ConfigError, match=r"simulate\.params: .*unknown parameter 'cohort\.age_meen'"):
        load_settings({"simulate": {"params": str(typo)}})
