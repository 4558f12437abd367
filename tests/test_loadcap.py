"""Tests of the load–capacity simulator: determinism, policies, rule breaks, contract outputs,
policy truth and (slow) calibration."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
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
from rehab_outcomes.simulation.loadcap_outputs import simulate_loadcap_cohort
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
