"""Tests of the load–capacity simulator: determinism, policies, rule breaks, contract outputs,
policy truth and (slow) calibration."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from rehab_outcomes.simulation.loadcap import (
    ARM_POLICIES,
    STAGE_RUN,
    STAGE_WALK,
    WALK_RUN_STAGES,
    LoadCapParams,
    draw_runners,
    simulate_days,
)
from rehab_outcomes.simulation.loadcap_outputs import LoggingParams, simulate_loadcap_cohort
from rehab_outcomes.simulation.loadcap_truth import (
    TARGETS,
    calibration_table,
    cox_binary,
    policy_set,
    policy_truth,
)

P = LoadCapParams()


@pytest.fixture(scope="module")
def cohort():
    return simulate_loadcap_cohort(400, 5, policy_truth_n=None)


def test_deterministic_per_seed(cohort) -> None:
    again = simulate_loadcap_cohort(400, 5, policy_truth_n=None)
    for name in ("episodes", "visits", "sessions"):
        pd.testing.assert_frame_equal(getattr(cohort, name), getattr(again, name))
    assert json.dumps(cohort.truth) == json.dumps(again.truth)
    other = simulate_loadcap_cohort(400, 6, policy_truth_n=None)
    assert not other.sessions.equals(cohort.sessions)


def test_common_random_numbers_same_policy_same_result() -> None:
    r = draw_runners(300, 3, P)
    a = simulate_days(r, P, (ARM_POLICIES[2],))
    b = simulate_days(draw_runners(300, 3, P), P, (ARM_POLICIES[2],))
    np.testing.assert_array_equal(a.pain_free_day, b.pain_free_day)
    np.testing.assert_array_equal(a.reinjury_day, b.reinjury_day)


def test_walk_run_programme_starts_at_1_run_2_walk_x_8() -> None:
    assert (STAGE_RUN[0], STAGE_WALK[0]) == (8.0, 16.0)
    bouts = [run for run, _, _ in WALK_RUN_STAGES]
    assert np.all(np.diff(bouts) > 0) and np.all(np.diff(STAGE_RUN[len(bouts) - 1:]) > 0)


def test_policies_behave_as_documented(cohort) -> None:
    s = cohort.sessions.merge(cohort.episodes[["episode_id", "arm", "first_visit_date"]], on="episode_id")
    day = (s["session_date"] - s["first_visit_date"]).dt.days
    runs = s[s["session_type"] == "run"]
    rday = day[runs.index]
    # rest and stretching: no running during the first 3 weeks, then continuous runs >= 30 min
    ungraded = runs["arm"].isin(["rest_only", "stretching_only"])
    assert (rday[ungraded] >= 21).all()
    assert (runs.loc[ungraded, "walk_minutes"] == 0).all()
    assert (runs.loc[ungraded, "run_minutes"] >= 30).all()
    # no strength sessions outside the strength arm; strength arm about 2/week x (1 - skips)
    st = s[s["session_type"] == "strength"]
    assert set(st["arm"]) == {"strength_graded_running"}
    # graded: the first runs are 8 min of running with 16 min walking
    graded = runs[runs["arm"] == "strength_graded_running"]
    first = graded.sort_values("session_date").groupby("episode_id").head(1)
    assert (first["run_minutes"] == 8).mean() > 0.9 and (first["walk_minutes"] == 16).mean() > 0.9
    # cadence and next-day pain only on runs
    assert s.loc[s["session_type"] != "run", "cadence_spm"].isna().all()
    assert s.loc[s["session_type"] != "run", "pain_next_day_nrs"].isna().all()
    assert runs["cadence_spm"].dropna().between(120, 230).all()


def test_exact_adherence_never_breaks_the_rule_and_strength_dose_matters() -> None:
    r = draw_runners(600, 9, P)
    exact = replace(ARM_POLICIES[2], adherence=False)
    tr = simulate_days(r, P, (exact,))
    assert tr.rule_breaks.sum() == 0 and tr.decisions_blocked.sum() > 0
    natural = simulate_days(r, P, (ARM_POLICIES[2],))
    assert natural.rule_breaks.sum() > 0
    no_rule = simulate_days(r, P, (replace(exact, pain_threshold=None, next_day_rule=False),))
    assert no_rule.decisions_blocked.sum() == 0
    # the pain rule slows the programme: without it more runners are pain-free by 12 weeks
    assert np.mean((no_rule.pain_free_day >= 0) & (no_rule.pain_free_day <= 84)) > \
        np.mean((tr.pain_free_day >= 0) & (tr.pain_free_day <= 84))


def test_rule_breaks_more_often_for_eager_runners() -> None:
    r = draw_runners(3000, 21, P)
    tr = simulate_days(r, P, (ARM_POLICIES[2],))
    km = r.cov.weekly_km
    lo, hi = km <= np.quantile(km, 1 / 3), km >= np.quantile(km, 2 / 3)

    def share(m: np.ndarray) -> float:
        return tr.rule_breaks[m].sum() / tr.decisions_blocked[m].sum()

    assert share(hi) > 1.3 * share(lo)


def test_outputs_pass_validate(tmp_path: Path) -> None:
    from rehab_outcomes.cli import app

    runner = CliRunner()
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--model", "load-capacity", "--n", "300", "--seed", "4",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"episodes.csv", "visits.csv", "sessions.csv",
                                              "truth.json", "policy_truth.csv"}
    truth = json.loads((out / "truth.json").read_text())
    assert truth["model"] == "load-capacity" and truth["seed"] == 4
    sessions = pd.read_csv(out / "sessions.csv")
    assert list(sessions.columns) == ["episode_id", "session_date", "session_type", "run_minutes",
                                      "walk_minutes", "pain_during_nrs", "pain_next_day_nrs", "cadence_spm"]
    assert set(sessions["session_type"]) <= {"run", "strength", "cross_training"}
    assert sessions["run_minutes"].between(0, 300).all() and sessions["pain_during_nrs"].between(0, 10).all()
    val = tmp_path / "val"
    result = runner.invoke(app, ["validate", str(out / "episodes.csv"), "--visits",
                                 str(out / "visits.csv"), "--out", str(val), "--strict"])
    assert result.exit_code == 0, result.output
    assert "300 valid, 0 quarantined" in result.output


def test_sessions_within_episode_dates(cohort) -> None:
    s = cohort.sessions.merge(cohort.episodes[["episode_id", "first_visit_date", "last_contact_date"]],
                              on="episode_id")
    assert (s["session_date"] >= s["first_visit_date"]).all()
    assert (s["session_date"] <= s["last_contact_date"]).all()


def test_cox_binary_matches_lifelines() -> None:
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(1)
    g = rng.integers(0, 2, 400)
    t = np.ceil(rng.exponential(10 / np.exp(0.5 * g)))
    e = rng.random(400) < 0.8
    b, se = cox_binary(t, e, g)
    fit = CoxPHFitter().fit(pd.DataFrame({"t": t, "e": e, "g": g}), "t", "e")
    # lifelines uses Efron ties; Breslow differs slightly with ties
    assert abs(b - fit.params_["g"]) < 0.03 and abs(se - fit.standard_errors_["g"]) < 0.01


def test_policy_truth_shape_and_reference() -> None:
    pols = policy_set()[:3]
    tab = policy_truth(400, 2, P, pols)
    assert list(tab["policy"]) == [p.name for p in pols]
    assert tab.loc[0, "reinjury_hr"] == 1.0 and tab.loc[0, "reinjury_log_hr_mc_se"] == 0.0
    for col in ("p_pain_free_12w", "rmst_26w_weeks", "p_pain_free_not_reinjured_52w"):
        assert (tab[f"{col}_mc_se"] > 0).all()


@pytest.mark.slow
def test_calibration_within_tolerances() -> None:
    """Every target of clinical-defaults.md within its tolerance, on 20,000 runners of a seed
    other than the calibration sample's (CALIBRATION_SEED, 6,000 runners)."""
    tab = calibration_table(n=20_000, seed=7)
    assert list(tab["target"]) == [t[0] for t in TARGETS]
    assert tab["within"].all(), tab.to_string()
    assert math.isfinite(tab["achieved"].sum())


def test_cli_outputs_byte_identical_per_seed(tmp_path: Path) -> None:
    """Same seed and parameters: every file `simulate --model load-capacity` writes is
    byte-identical, policy truth included; another seed differs."""
    from rehab_outcomes.cli import app

    runner = CliRunner()
    outs = []
    for name, seed in (("a", "8"), ("b", "8"), ("c", "9")):
        out = tmp_path / name
        result = runner.invoke(app, ["simulate", "--model", "load-capacity", "--n", "250",
                                     "--seed", seed, "--out", str(out)])
        assert result.exit_code == 0, result.output
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1]
    assert len(outs[0]) == 5
    assert outs[0]["sessions.csv"] != outs[2]["sessions.csv"]
    assert outs[0]["policy_truth.csv"] != outs[2]["policy_truth.csv"]


def test_cli_policy_truth_n(tmp_path: Path) -> None:
    """--policy-truth-n sets the runners of policy_truth.csv (recorded in truth.json); it is
    refused for the Weibull model."""
    from rehab_outcomes.cli import app

    runner = CliRunner()
    out = tmp_path / "lc"
    result = runner.invoke(app, ["simulate", "--model", "load-capacity", "--n", "120", "--seed", "2",
                                 "--policy-truth-n", "60", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "truth.json").read_text())["policy_truth"]["n_runners"] == 60
    assert len(pd.read_csv(out / "policy_truth.csv")) == len(policy_set())
    result = runner.invoke(app, ["simulate", "--n", "50", "--seed", "2", "--policy-truth-n", "60",
                                 "--out", str(tmp_path / "w")])
    assert result.exit_code == 1 and "load-capacity only" in str(result.exception)
    assert not (tmp_path / "w").exists()
    result = runner.invoke(app, ["simulate", "--model", "load-capacity", "--n", "50", "--seed", "1",
                                 "--scenario", "seed_claims", "--out", str(tmp_path / "s")])
    assert result.exit_code == 1 and "only the default scenario" in str(result.exception)
    assert not (tmp_path / "s").exists()


# ----------------------------------------------------------------------------------------------
# the load_capacity and logging sections of a parameter file (simulate --config)


def _yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_config_load_capacity_sections_change_the_simulation(cohort, tmp_path: Path) -> None:
    """Overrides from a file reach the model: no acute events gives fewer re-injuries on the same
    seed; no cadence watches gives no logged cadence; the Weibull sections still apply."""
    from rehab_outcomes.simulation.scenarios import load_loadcap_params, load_params

    cfg = _yaml(tmp_path / "lc.yaml", "load_capacity:\n  event_probability: 0\n"
                "logging:\n  no_cadence_share: 1\nfollow_up:\n  lost_by_12_months: 0.3\n")
    params = load_params("default", cfg, model="load-capacity")
    assert params.follow_up.lost_by_12_months == 0.3
    lcc = load_loadcap_params(cfg)
    assert lcc.load_capacity == replace(P, event_probability=0.0)
    assert lcc.logging.no_cadence_share == 1.0 and lcc.logging.log_share_a == 6.0
    assert isinstance(lcc.load_capacity.event_probability, float)  # 0 in YAML, 0.0 in truth.json
    # same seed and default Weibull sections as the module's cohort: only the event probability differs
    no_events = simulate_loadcap_cohort(400, 5, lc=lcc.load_capacity, logging=lcc.logging,
                                        policy_truth_n=None)
    assert no_events.episodes["reinjury_date"].notna().sum() < \
        cohort.episodes["reinjury_date"].notna().sum()
    assert no_events.sessions["cadence_spm"].isna().all()
    assert no_events.truth["parameters"]["load_capacity"]["event_probability"] == 0.0
    assert no_events.truth["parameters"]["logging"]["no_cadence_share"] == 1.0
    assert load_loadcap_params(None) == load_loadcap_params(_yaml(tmp_path / "e.yaml", ""))


def test_cli_config_load_capacity_recorded_in_truth(tmp_path: Path) -> None:
    """`simulate --model load-capacity --config` applies the sections and truth.json records the
    values used (definitions text and parameters), so the run can be reproduced."""
    from rehab_outcomes.cli import app

    cfg = _yaml(tmp_path / "lc.yaml", "load_capacity:\n  pain_free_sessions: 2\n  flare_pain: 5\n"
                "logging:\n  log_stop_mean_days: 91\n")
    out = tmp_path / "lc"
    result = CliRunner().invoke(app, ["simulate", "--model", "load-capacity", "--n", "120",
                                      "--seed", "2", "--policy-truth-n", "60", "--config", str(cfg),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    truth = json.loads((out / "truth.json").read_text())
    assert truth["definitions"]["pain_free"].startswith("the last of 2 run sessions in a row")
    assert truth["definitions"]["flare"] == "a run with pain during >= 5/10"
    recorded = truth["parameters"]
    assert recorded["load_capacity"] == {**asdict(P), "pain_free_sessions": 2, "flare_pain": 5}
    assert recorded["logging"]["log_stop_mean_days"] == 91.0
    # the recorded values reproduce the run from Python
    again = simulate_loadcap_cohort(120, 2, lc=LoadCapParams(**recorded["load_capacity"]),
                                    logging=LoggingParams(**recorded["logging"]), policy_truth_n=None)
    again.write(tmp_path / "again")
    for name in ("episodes.csv", "visits.csv", "sessions.csv"):
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


@pytest.mark.parametrize(("text", "message"), [
    ("load_capacity:\n  event_probability: 1.5\n",
     r"parameter 'load_capacity.event_probability' must be at most 1"),
    ("load_capacity:\n  event_probability: -0.1\n",
     r"parameter 'load_capacity.event_probability' must be at least 0"),
    ("load_capacity:\n  flare_pain: 11\n", r"parameter 'load_capacity.flare_pain' must be at most 10"),
    ("load_capacity:\n  flare_pain: 0\n", r"parameter 'load_capacity.flare_pain' must be at least 1"),
    ("load_capacity:\n  pain_free_sessions: 0\n",
     r"parameter 'load_capacity.pain_free_sessions' must be at least 1"),
    ("load_capacity:\n  pain_free_sessions: 2.5\n",
     r"parameter 'load_capacity.pain_free_sessions' must be a whole number"),
    ("load_capacity:\n  tissue_tau_days: 0\n",
     r"parameter 'load_capacity.tissue_tau_days' must be greater than 0"),
    ("load_capacity:\n  break_per_felt_good: high\n",
     r"parameter 'load_capacity.break_per_felt_good' must be a number"),
    ("load_capacity:\n  maintenance_strength_per_week: 4\n",
     r"'load_capacity.maintenance_strength_per_week' must be at most 3"),
    ("load_capacity:\n  spike_probability: 0.6\n  event_probability: 0.5\n",
     r"load_capacity.spike_probability \+ load_capacity.event_probability must not exceed 1"),
    ("load_capacity:\n  event_probabilty: 0.01\n",
     r"unknown parameter 'load_capacity.event_probabilty' \(known here: .*event_probability"),
    ("load_capacity: [1, 2]\n", r"'load_capacity' must be a mapping of parameters"),
    ("logging:\n  next_day_missing: 2\n", r"parameter 'logging.next_day_missing' must be at most 1"),
    ("logging:\n  log_share_a: 0\n", r"parameter 'logging.log_share_a' must be greater than 0"),
    ("logging:\n  log_stop: 10\n", r"unknown parameter 'logging.log_stop'"),
])
def test_config_load_capacity_refusals_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    from rehab_outcomes.exceptions import ConfigError
    from rehab_outcomes.simulation.scenarios import load_loadcap_params

    with pytest.raises(ConfigError, match=message):
        load_loadcap_params(_yaml(tmp_path / "bad.yaml", text))


def test_cli_config_load_capacity_refusals(tmp_path: Path) -> None:
    """Bad values and unknown keys end the CLI with exit code 1 and a message naming the key,
    writing nothing; the Weibull model refuses the load-capacity sections."""
    from rehab_outcomes.cli import app

    runner = CliRunner()
    base = ["simulate", "--n", "50", "--seed", "1", "--policy-truth-n", "20"]
    cases = {
        "load_capacity:\n  event_probability: 2\n": "load_capacity.event_probability",
        "load_capacity:\n  pain_free_session: 2\n": "unknown parameter 'load_capacity.pain_free_session'",
        "logging:\n  no_cadence_share: -1\n": "logging.no_cadence_share",
    }
    for i, (text, message) in enumerate(cases.items()):
        cfg = _yaml(tmp_path / f"bad{i}.yaml", text)
        out = tmp_path / f"o{i}"
        result = runner.invoke(app, [*base, "--model", "load-capacity", "--config", str(cfg),
                                     "--out", str(out)])
        assert result.exit_code == 1 and message in str(result.exception), result.output
        assert not out.exists()
    cfg = _yaml(tmp_path / "lc.yaml", "load_capacity:\n  event_probability: 0\nlogging: {}\n")
    result = runner.invoke(app, ["simulate", "--n", "50", "--seed", "1", "--config", str(cfg),
                                 "--out", str(tmp_path / "w")])
    assert result.exit_code == 1
    assert "'load_capacity' and 'logging'" in str(result.exception)
    assert "--model load-capacity only" in str(result.exception)
    assert not (tmp_path / "w").exists()


def test_config_weibull_refuses_load_capacity_sections(tmp_path: Path) -> None:
    from rehab_outcomes.exceptions import ConfigError
    from rehab_outcomes.simulation.scenarios import load_params

    cfg = _yaml(tmp_path / "lc.yaml", "logging:\n  next_day_missing: 0.1\n")
    with pytest.raises(ConfigError, match="'logging' .*apply to --model load-capacity only"):
        load_params("default", cfg)
    assert load_params("default", cfg, model="load-capacity") == load_params("default")


def test_cli_default_outputs_unchanged_by_sections_of_defaults(tmp_path: Path) -> None:
    """A file whose load-capacity sections are empty, or repeat every default, gives the same
    bytes as no file: the sections change the output only through the values they set."""
    from rehab_outcomes.cli import app

    runner = CliRunner()
    full = {"load_capacity": asdict(P), "logging": asdict(LoggingParams())}
    configs = {
        "none": None,
        "empty": _yaml(tmp_path / "empty.yaml", "load_capacity: {}\nlogging: {}\n"),
        "full": _yaml(tmp_path / "full.yaml", yaml.safe_dump(full)),
    }
    outs = {}
    for name, cfg in configs.items():
        out = tmp_path / name
        args = ["simulate", "--model", "load-capacity", "--n", "150", "--seed", "3",
                "--policy-truth-n", "60", "--out", str(out)]
        result = runner.invoke(app, args + ([] if cfg is None else ["--config", str(cfg)]))
        assert result.exit_code == 0, result.output
        outs[name] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert len(outs["none"]) == 5
    assert outs["empty"] == outs["none"] and outs["full"] == outs["none"]
