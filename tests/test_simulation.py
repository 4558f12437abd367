"""Tests of the cohort simulator: contract validity, determinism, calibration, recovery of the
true hazard ratios, the observational design, scenarios, configuration and the CLI."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from typer.testing import CliRunner

from rehab_outcomes import __version__
from rehab_outcomes.contract.io import read_table
from rehab_outcomes.contract.outcomes import derive_outcomes
from rehab_outcomes.contract.schema import Episodes, Visits
from rehab_outcomes.contract.validate import validate_episodes, validate_visits
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.simulation import (
    SCENARIOS,
    TERMS,
    SimulationParams,
    load_params,
    params_from_dict,
    simulate_cohort,
)
from rehab_outcomes.simulation.calibration import draw_covariates, per_unit_log_hr
from rehab_outcomes.simulation.command import SCENARIO_NAMES
from rehab_outcomes.simulation.params import WEEKS_6_MONTHS, WEEKS_12_MONTHS

TERM_NAMES = [t for t, _ in TERMS]
ARM_TERMS = ["arm:stretching_only", "arm:strength_graded_running"]


def cox_frame(episodes: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Design matrix of the default analysis terms for one outcome (complete cases)."""
    d = derive_outcomes(episodes)
    if outcome == "reinjury":
        d = d[d["pain_free_event"] == 1]
    x = pd.DataFrame({
        "arm:stretching_only": (d["arm"] == "stretching_only").astype(float),
        "arm:strength_graded_running": (d["arm"] == "strength_graded_running").astype(float),
        "age_years": d["age_years"].astype(float),
        "sex:male": (d["sex"] == "male").astype(float),
        "sex:other": (d["sex"] == "other").astype(float),
        "bmi": d["bmi"].astype(float),
        "weekly_km_before_injury": d["weekly_km_before_injury"].astype(float),
        "symptom_weeks": d["symptom_weeks"].astype(float),
        "baseline_pain_nrs": d["baseline_pain_nrs"].astype(float),
        "site": d["site"].astype(str),
        "T": d[f"{outcome}_weeks"].astype(float),
        "E": d[f"{outcome}_event"].astype(float),
    })
    return x.dropna().reset_index(drop=True)


def fit_cox(frame: pd.DataFrame, terms: list[str], strata: bool = True) -> CoxPHFitter:
    cols = [t for t in terms if frame[t].std() > 0]
    data = frame[[*cols, "T", "E", *(["site"] if strata else [])]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter().fit(data, "T", "E", strata=["site"] if strata else None)


@pytest.fixture(scope="module")
def cohort_20k():
    return simulate_cohort(20_000, seed=2024, visits=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    cohort = simulate_cohort(3_000, seed=11, design="observational")
    out = tmp_path_factory.mktemp("sim")
    cohort.write(out)
    return cohort, out


# ----------------------------------------------------------------------------------------------
# contract


def test_files_validate_with_zero_quarantined(small) -> None:
    cohort, out = small
    ep = validate_episodes(read_table(out / "episodes.csv"))
    assert ep.n_in == 3_000 and ep.n_quarantined == 0, ep.failures_by_rule()
    vis = validate_visits(read_table(out / "visits.csv"), ep.valid)
    assert vis.n_in == len(cohort.visits) > 3_000
    assert vis.n_quarantined == 0, vis.failures_by_rule()
    assert set(cohort.episodes["exit_reason"]) == {"completed", "lost_to_follow_up", "withdrew", "ongoing"}


def test_parquet_visits_validate(tmp_path: Path) -> None:
    cohort = simulate_cohort(500, seed=5)
    paths = cohort.write(tmp_path, visits_format="parquet")
    assert sorted(paths) == ["episodes.csv", "truth.json", "visits.parquet"]
    ep = validate_episodes(read_table(paths["episodes.csv"]))
    vis = validate_visits(read_table(paths["visits.parquet"]), ep.valid)
    assert ep.n_quarantined == 0 and vis.n_quarantined == 0 and vis.n_in == len(cohort.visits)


def test_dates_and_exit_reasons_are_coherent(small) -> None:
    e = small[0].episodes
    pf, re, last, first = (e["pain_free_run_date"], e["reinjury_date"], e["last_contact_date"],
                           e["first_visit_date"])
    assert ((re - pf).dt.days.dropna() >= 1).all()
    assert ((pf - first).dt.days.dropna() >= 1).all()
    assert (last >= first).all() and (last.max() <= pd.Timestamp("2025-06-30"))
    reason = e["exit_reason"].astype(str)
    # a re-injury ends follow-up on its date; ongoing episodes end at the data cut
    assert (last[re.notna()] == re[re.notna()]).all()
    assert (reason[re.notna()] == "completed").all()
    assert (last[reason == "ongoing"] == pd.Timestamp("2025-06-30")).all()
    follow_days = (last - first).dt.days
    assert (follow_days[(reason == "completed") & re.isna()] == 728).all()
    assert (follow_days[reason.isin(["lost_to_follow_up", "withdrew"])] < 728).all()


def test_visits_follow_the_treatment_rule(small) -> None:
    cohort, _ = small
    v = cohort.visits.merge(cohort.episodes[["episode_id", "arm", "pain_free_run_date",
                                             "first_visit_date", "baseline_pain_nrs"]], on="episode_id")
    final = 8
    thr = 2
    g = v.groupby("episode_id", sort=False)
    gap = g["visit_date"].diff().dt.days
    prev_stage = g["walk_run_stage"].shift()
    at_pf = v["visit_date"] == v["pain_free_run_date"]
    # first visit: baseline pain, stage 0, no sessions
    first = v["visit_date"] == v["first_visit_date"]
    assert first.sum() == len(cohort.episodes)
    assert (v.loc[first, "pain_nrs"] == v.loc[first, "baseline_pain_nrs"]).all()
    assert (v.loc[first, "walk_run_stage"] == 0).all()
    # weekly to fortnightly, except the visit that records the pain-free date
    assert gap[~at_pf].dropna().isin([7, 14]).all()
    assert (gap[at_pf] >= 1).all()
    # final stage with pain <= threshold at the pain-free date and never before
    assert (v.loc[at_pf, "walk_run_stage"] == final).all()
    assert (v.loc[at_pf, "pain_nrs"] <= thr).all()
    assert (v.loc[at_pf, "run_minutes_week"] >= 30).all()
    assert (v.loc[~at_pf, "walk_run_stage"] < final).all()
    assert not (v["visit_date"] > v["pain_free_run_date"]).any()
    # step up only with pain at or below the threshold; stages never go down
    stepped = (v["walk_run_stage"] > prev_stage).fillna(False).astype(bool)
    assert stepped.sum() > 1_000
    assert (v.loc[stepped, "pain_nrs"] <= thr).all()
    assert not (v["walk_run_stage"] < prev_stage).fillna(False).astype(bool).any()
    # strength sessions only in the strength arm, about twice a week
    strength = v["arm"] == "strength_graded_running"
    assert (v.loc[~strength, "strength_sessions_week"] == 0).all()
    assert v.loc[strength & ~first, "strength_sessions_week"].mean() == pytest.approx(1.85, abs=0.05)
    # episodes pain-free within the care period have their last visit on the pain-free date
    n_pf_visits = int(at_pf.sum())
    e = cohort.episodes
    within_care = ((e["pain_free_run_date"] - e["first_visit_date"]).dt.days <= 26 * 7).sum()
    assert n_pf_visits == within_care


# ----------------------------------------------------------------------------------------------
# determinism and truth


def test_same_seed_same_bytes_and_different_seed_differs(tmp_path: Path) -> None:
    def files(seed: int, name: str) -> dict[str, bytes]:
        out = tmp_path / name
        simulate_cohort(400, seed=seed).write(out)
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}

    a, b, c = files(3, "a"), files(3, "b"), files(4, "c")
    assert a == b
    assert a["episodes.csv"] != c["episodes.csv"] and a["visits.csv"] != c["visits.csv"]
    assert not any(p.name.startswith(".") for p in tmp_path.rglob("*"))


def test_truth_json(small) -> None:
    cohort, out = small
    truth = json.loads((out / "truth.json").read_text())
    assert truth["package_version"] == __version__
    assert truth["seed"] == 11 and truth["n"] == 3_000 and truth["design"] == "observational"
    for outcome in ("pain_free", "reinjury"):
        assert list(truth[outcome]["log_hr"]) == TERM_NAMES
    assert truth["pain_free"]["log_hr"]["arm:strength_graded_running"] == pytest.approx(math.log(1.5))
    assert truth["pain_free"]["log_hr"]["arm:stretching_only"] == pytest.approx(math.log(1.05))
    assert truth["reinjury"]["log_hr"]["arm:strength_graded_running"] == pytest.approx(math.log(0.85))
    assert truth["reinjury"]["log_hr"]["arm:stretching_only"] == pytest.approx(math.log(0.96))
    assert truth["pain_free"]["log_hr"]["bmi"] == 0.0
    assert truth["parameters"]["cohort"]["bmi_missing"] == 0.05
    assert truth["allocation"]["log_odds"]["strength_graded_running"]["weekly_km_before_injury"] > 0
    assert truth["pain_free"]["baseline"]["shape"] == pytest.approx(0.64, abs=0.05)


def test_truth_json_gives_conditional_and_marginal_truth(small) -> None:
    """Both estimands: the conditional log HRs of every term and the marginal arm log HRs (latent
    population, and under the simulator's follow-up) with Monte Carlo SEs; the marginal truth
    depends on the parameters only (not on seed, n or design)."""
    cohort, out = small
    truth = json.loads((out / "truth.json").read_text())
    est = truth["estimands"]
    assert set(est) == {"conditional", "marginal", "marginal_under_follow_up", "marginal_monte_carlo"}
    assert est["conditional"]["where"] == "<outcome>.log_hr"
    assert "latent" in est["marginal"]["definition"] and "censoring" in est["marginal_under_follow_up"]["definition"]
    mc = est["marginal_monte_carlo"]
    assert mc["samples"] == 8 and mc["patients_per_sample"] == 100_000
    expected = {  # measured: 8 samples of 100,000 (MC SE <= 0.001)
        ("pain_free", "marginal"): (0.0395, 0.3348),
        ("pain_free", "marginal_under_follow_up"): (0.0430, 0.3581),
        ("reinjury", "marginal"): (-0.0365, -0.1448),
        ("reinjury", "marginal_under_follow_up"): (-0.0382, -0.1514),
    }
    for (outcome, key), values in expected.items():
        rec = truth[outcome][key]
        assert list(rec) == ["log_hr", "hr", "mc_se"]
        assert list(rec["log_hr"]) == ARM_TERMS
        for term, value in zip(ARM_TERMS, values, strict=True):
            assert rec["log_hr"][term] == pytest.approx(value, abs=1e-4)
            assert rec["hr"][term] == pytest.approx(math.exp(rec["log_hr"][term]))
            assert 0 < rec["mc_se"][term] < 0.001
            # non-collapsibility: the marginal effect is smaller in size than the conditional one
            assert abs(rec["log_hr"][term]) < abs(truth[outcome]["log_hr"][term])
    other = simulate_cohort(50, seed=3, visits=False).truth  # other seed, n and design
    for outcome in ("pain_free", "reinjury"):
        for key in ("marginal", "marginal_under_follow_up"):
            assert other[outcome][key] == truth[outcome][key]


def test_marginal_truth_stored_for_the_builtin_scenarios() -> None:
    """The built-in scenarios' marginal truths are stored with the package (so ``simulate`` stays
    fast), under keys that hash the parameters: a changed default is recomputed, never served
    stale. If this fails after a change of the parameters, run
    ``python -m rehab_outcomes.simulation.truth``."""
    from rehab_outcomes.simulation.truth import (
        MARGINAL_BASE_SEED,
        marginal_sample,
        marginal_truth,
        stored_truths,
    )

    for name in SCENARIOS:
        for allocation in ("randomised", "equal", "observational"):
            m = marginal_truth(load_params(name), allocation)
            assert m.source == "stored", (name, allocation, "stale: regenerate the stored table")
    assert len(stored_truths()) == 2 * len(SCENARIOS)
    # the stored figures are this computation's: sample 0 of the default scenario recomputed
    params = load_params("default")
    first = marginal_sample(params, np.random.SeedSequence([MARGINAL_BASE_SEED, 0]), 100_000)
    stored = marginal_truth(params).samples
    for key, value in first.items():
        np.testing.assert_allclose(value, stored[key][0], rtol=0, atol=1e-10)
    assert marginal_truth(params, "observational").log_hr("under_follow_up", "pain_free")[1] < 0.25


def test_arm_cox_equals_coxph() -> None:
    from rehab_outcomes.simulation.truth import arm_cox
    from rehab_outcomes.survival.cox import CoxPH

    rng = np.random.default_rng(3)
    n = 3_000
    arm = rng.integers(0, 3, n)
    t = rng.weibull(0.7, n) / np.exp(np.array([0.0, 0.2, 0.5])[arm])
    c = rng.exponential(2.0, n)
    w = rng.uniform(0.5, 2.0, n)
    beta, var = arm_cox(np.minimum(t, c), t <= c, arm, w)
    names = np.array(["rest_only", "stretching_only", "strength_graded_running"])
    df = pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int), "arm": names[arm], "w": w})
    fit = CoxPH().fit(df, "t", "e", ["arm"], weights_col="w")
    np.testing.assert_allclose(beta, fit.params_.to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.sqrt(np.diag(var)), fit.se_.to_numpy(), rtol=1e-8)


def test_marginal_equals_conditional_without_covariate_effects_or_frailty() -> None:
    """With no covariate effects and no site frailty the arm-only model is correctly specified:
    the marginal truth (both estimands) equals the conditional one."""
    from rehab_outcomes.simulation.truth import marginal_truth

    zero = {"symptom_weeks": 0.0, "baseline_pain_nrs": 0.0, "age_years": 0.0,
            "weekly_km_before_injury": 0.0}
    p = params_from_dict({"pain_free": {"effects": zero}, "reinjury": {"effects": zero},
                          "sites": {"pain_free_frailty_variance": 0.0, "reinjury_frailty_variance": 0.0}})
    m = marginal_truth(p, seeds=4, n=25_000)
    assert m.source == "computed"
    for outcome in ("pain_free", "reinjury"):
        cond = np.array([getattr(p, outcome).effects.as_terms()[t] for t in ARM_TERMS])
        for estimand in ("population", "under_follow_up"):
            diff = m.log_hr(estimand, outcome) - cond
            assert (np.abs(diff) < 4 * m.mc_se(estimand, outcome) + 1e-3).all(), (outcome, estimand, diff)


def test_bmi_missing_share(cohort_20k) -> None:
    assert cohort_20k.episodes["bmi"].isna().mean() == pytest.approx(0.05, abs=0.01)


def test_binary_effects_translate_to_default_per_unit_coefficients() -> None:
    p = SimulationParams()
    cov = draw_covariates(np.random.default_rng(0), 200_000, p.cohort)
    sym = per_unit_log_hr(0.70, cov.symptom_weeks, cov.symptom_weeks > 52 / 3)
    ok = ~np.isnan(cov.kujala)
    pain = per_unit_log_hr(0.75, cov.baseline_pain[ok], cov.kujala[ok] <= 70)
    assert p.pain_free.effects.symptom_weeks == pytest.approx(sym, rel=0.05)
    assert p.pain_free.effects.baseline_pain_nrs == pytest.approx(pain, rel=0.05)


# ----------------------------------------------------------------------------------------------
# calibration and recovery


def test_calibration_of_latent_times() -> None:
    c = simulate_cohort(150_000, seed=99, visits=False)
    lat = c.latent[c.latent["arm"] == "rest_only"]
    t_pf, t_re = lat["t_pain_free"].to_numpy(), lat["t_reinjury"].to_numpy()
    assert (t_pf > 52).mean() == pytest.approx(0.35, abs=0.03)
    assert np.median(t_pf[t_pf <= 52]) == pytest.approx(10.0, abs=1.0)
    back = t_re[t_pf <= 52]
    assert (back <= WEEKS_6_MONTHS).mean() == pytest.approx(0.29, abs=0.03)
    assert (back <= WEEKS_12_MONTHS).mean() == pytest.approx(0.50, abs=0.03)
    assert (c.latent["t_dropout"] <= WEEKS_12_MONTHS).mean() == pytest.approx(0.25, abs=0.02)
    # effects are conditional: the strength arm recovers faster
    strength = c.latent[c.latent["arm"] == "strength_graded_running"]["t_pain_free"]
    assert (strength > 52).mean() < (t_pf > 52).mean() - 0.05


@pytest.mark.parametrize("outcome", ["pain_free", "reinjury"])
def test_stratified_cox_recovers_arm_effects(cohort_20k, outcome: str) -> None:
    frame = cox_frame(cohort_20k.episodes, outcome)
    cph = fit_cox(frame, TERM_NAMES)
    truth = cohort_20k.truth[outcome]["log_hr"]
    z = (cph.params_ - pd.Series(truth)[cph.params_.index]) / cph.standard_errors_
    assert z[ARM_TERMS].abs().max() < 3, z
    assert z.abs().max() < 4, z


def test_observational_naive_biased_adjusted_recovers() -> None:
    c = simulate_cohort(20_000, seed=77, design="observational", visits=False)
    frame = cox_frame(c.episodes, "pain_free")
    truth = c.truth["pain_free"]["log_hr"]["arm:strength_graded_running"]
    naive = fit_cox(frame, ARM_TERMS, strata=False)
    adjusted = fit_cox(frame, TERM_NAMES)
    term = "arm:strength_graded_running"
    z_naive = (naive.params_[term] - truth) / naive.standard_errors_[term]
    z_adj = (adjusted.params_[term] - truth) / adjusted.standard_errors_[term]
    assert z_naive < -3  # strength goes to longer, more painful cases: naive looks worse
    assert abs(z_adj) < 3
    arms = c.episodes.groupby("arm")["symptom_weeks"].mean()
    assert arms["strength_graded_running"] > arms["rest_only"] + 3


@pytest.mark.slow
def test_coverage_of_strength_log_hr() -> None:
    # sex:other (true effect 0) is left out: with ~5 such patients per replicate it can separate;
    # dropping a term whose true coefficient is 0 keeps the model correctly specified.
    terms = [t for t in TERM_NAMES if t != "sex:other"]
    term = "arm:strength_graded_running"
    reps = 240
    hits = {"pain_free": 0, "reinjury": 0}
    for seed in range(reps):
        c = simulate_cohort(500, seed=10_000 + seed, visits=False)
        for outcome in hits:
            cph = fit_cox(cox_frame(c.episodes, outcome), terms)
            truth = c.truth[outcome]["log_hr"][term]
            hits[outcome] += abs(cph.params_[term] - truth) <= 1.959964 * cph.standard_errors_[term]
    coverage = {k: v / reps for k, v in hits.items()}
    assert all(0.92 <= v <= 0.98 for v in coverage.values()), coverage


# ----------------------------------------------------------------------------------------------
# scenarios, configuration, CLI


def test_scenarios() -> None:
    null = load_params("null")
    claims = load_params("seed_claims")
    for p in (null.pain_free, null.reinjury):
        assert p.effects.arm_strength_graded_running == 0 and p.effects.arm_stretching_only == 0
    assert claims.reinjury.effects.arm_strength_graded_running == pytest.approx(math.log(0.5))
    assert claims.reinjury.effects.arm_stretching_only == 0
    assert claims.pain_free.effects.arm_stretching_only == 0
    assert load_params("default") == SimulationParams()
    c = simulate_cohort(200, seed=1, params=claims, visits=False, scenario="seed_claims")
    assert c.truth["scenario"] == "seed_claims"
    assert c.truth["reinjury"]["hr"]["arm:strength_graded_running"] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="unknown scenario"):
        load_params("miracle")
    assert SCENARIO_NAMES == tuple(SCENARIOS)


def test_config_overrides_and_refusals(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.yaml"
    cfg.write_text(
        "follow_up:\n  lost_by_12_months: 0.4\n  recruitment_start: 2021-01-04\n"
        "pain_free:\n  effects:\n    bmi: 0.02\nsites:\n  names: [a1, b2]\n  shares: [0.5, 0.5]\n"
    )
    p = load_params("null", cfg)
    assert p.follow_up.lost_by_12_months == 0.4
    assert p.follow_up.recruitment_start == "2021-01-04"
    assert p.pain_free.effects.bmi == 0.02
    assert p.pain_free.effects.arm_strength_graded_running == 0  # scenario kept underneath
    assert p.sites.names == ("a1", "b2")
    bad = {
        "cohort:\n  age_mena: 30\n": "unknown parameter 'cohort.age_mena'",
        "visits:\n  stage: 3\n": "unknown parameter 'visits.stage'",
        "nonsense: 1\n": "unknown parameter 'nonsense'",
        "cohort:\n  age_mean: thirty\n": "must be a number",
        "sites:\n  shares: [0.5, 0.6, 0.1, 0.1, 0.1, 0.1]\n": "must sum to 1",
        "follow_up:\n  data_cut: 2099-01-01\n": "after today",
        "follow_up:\n  data_cut: null\n  recruitment_start: 2026-01-05\n": "after today",
        "pain_free:\n  target_median_recovered_weeks: 60\n": "target_median",
        "- a\n- b\n": "mapping",
    }
    for text, message in bad.items():
        cfg.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_params("default", cfg)
    with pytest.raises(ConfigError, match="not found"):
        load_params("default", tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="design"):
        simulate_cohort(10, seed=1, design="cohort")  # type: ignore[arg-type]
    assert params_from_dict({}) == SimulationParams()


def test_alternative_frailty_shape_and_schedule_options() -> None:
    p = params_from_dict({
        "sites": {"frailty_mode": "random", "frailty_distribution": "lognormal"},
        "pain_free": {"shape": 0.6},
        "visits": {"interval_days": [7], "pain_threshold": 5},
        "follow_up": {"data_cut": None},
    })
    a = simulate_cohort(2_000, seed=1, params=p)
    b = simulate_cohort(2_000, seed=2, params=p)
    assert a.truth["pain_free"]["baseline"]["shape"] == 0.6
    assert a.truth["calibration_achieved"]["pain_free_not_by_52w"] == pytest.approx(0.35, abs=1e-6)
    assert a.truth["pain_free"]["site_frailty"] != b.truth["pain_free"]["site_frailty"]
    assert "ongoing" not in set(a.episodes["exit_reason"])
    gaps = a.visits.groupby("episode_id")["visit_date"].diff().dt.days.dropna()
    assert (gaps <= 7).all()
    Episodes.validate(a.episodes, lazy=True)
    Visits.validate(a.visits, lazy=True)


def test_cli_end_to_end(tmp_path: Path) -> None:
    from rehab_outcomes.cli import app

    runner = CliRunner()
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--n", "300", "--seed", "8", "--out", str(out),
                                 "--design", "observational", "--scenario", "seed_claims",
                                 "--visits-format", "parquet"])
    assert result.exit_code == 0, result.output
    assert "300 episodes" in result.output
    truth = json.loads((out / "truth.json").read_text())
    assert truth["scenario"] == "seed_claims" and truth["design"] == "observational"
    val = tmp_path / "val"
    result = runner.invoke(app, ["validate", str(out / "episodes.csv"), "--visits",
                                 str(out / "visits.parquet"), "--out", str(val), "--strict"])
    assert result.exit_code == 0, result.output
    assert "300 valid, 0 quarantined" in result.output


def test_cli_refuses_bad_config_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rehab_outcomes.cli import main

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("reinjury:\n  target_12_month: 0.4\n")
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--n", "10", "--seed", "1", "--out", str(tmp_path / "o"), "--config", str(cfg)])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: unknown parameter 'reinjury.target_12_month'")
    assert not (tmp_path / "o").exists()
