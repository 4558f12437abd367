"""Study planning by simulation: trials, power, Schoenfeld, chunks and the power commands."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from scipy import stats
from typer.testing import CliRunner

from rehab_outcomes.contract.outcomes import derive_outcomes
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.planning.command import Progress, parse_sizes, power, power_gather
from rehab_outcomes.planning.power import (
    COLUMNS,
    PowerSettings,
    chunk_blocks,
    clopper_pearson,
    power_table,
    read_table,
    run_power,
    table_csv,
)
from rehab_outcomes.planning.schoenfeld import (
    censoring_pmf,
    expected_events,
    marginal_log_hr,
    marginal_log_hr_mc_se,
    schoenfeld_events,
    schoenfeld_power,
)
from rehab_outcomes.planning.trials import (
    TRIAL_BLOCK,
    block_rng,
    simulate_blocks,
    simulate_trials,
    trial_model,
)
from rehab_outcomes.simulation import load_params, simulate_cohort

app = typer.Typer()
app.command("power")(power)
app.command("power-gather")(power_gather)
runner = CliRunner()

#: No covariate effects and no site frailty: the arm-only hazard ratio is the true one.
PLAIN_YAML = """
pain_free:
  effects:
    symptom_weeks: 0.0
    baseline_pain_nrs: 0.0
    age_years: 0.0
    weekly_km_before_injury: 0.0
sites:
  pain_free_frailty_variance: 0.0
"""


def invoke(*args: str) -> None:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def power_of(table: pd.DataFrame, comparison: str) -> pd.DataFrame:
    return table[table["comparison"] == comparison].set_index("n_per_arm")


STRENGTH = "strength_graded_running vs rest_only"
STRETCH = "stretching_only vs rest_only"


# ---------------------------------------------------------------------------------- trials


def test_trials_follow_the_simulator():
    """Event share and follow-up per arm as in simulate_cohort (same model, same censoring)."""
    params = load_params("default")
    tr = simulate_blocks(trial_model(params), 3, "default", 100, range(20), 2000)
    cohort = derive_outcomes(simulate_cohort(60_000, seed=5, params=params, visits=False).episodes)
    for code, arm in enumerate(("rest_only", "stretching_only", "strength_graded_running")):
        sim = cohort[cohort["arm"] == arm]
        sel = tr.arm == code
        assert abs(tr.event[sel].mean() - sim["pain_free_event"].mean()) < 0.01
        assert abs(np.median(tr.weeks[sel]) - sim["pain_free_weeks"].median()) < 1.5
        assert abs(tr.weeks[sel].mean() - sim["pain_free_weeks"].mean()) < 0.8
    assert tr.arm.shape == (2000, 300)
    assert (np.sort(tr.arm, axis=1) == np.repeat(np.arange(3), 100)).all()  # exactly 100 per arm
    assert tr.days.min() >= 0 and tr.days.max() <= 7 * 104


def test_observational_trials_allocate_by_the_allocation_model():
    model = trial_model(load_params("default"), "observational")
    tr = simulate_trials(model, np.random.default_rng(2), 200, 50)
    sizes = np.stack([(tr.arm == a).sum(axis=1) for a in range(3)], axis=1)
    assert sizes.sum(axis=1).tolist() == [150] * 200
    assert sizes.std(axis=0).min() > 2  # arm sizes vary from trial to trial
    ee = expected_events(model)
    np.testing.assert_allclose(sizes.mean(axis=0) / 150, ee.share, atol=0.01)


def test_block_streams_are_keyed():
    a = block_rng(1, "default", 100, 0).random(3)
    assert np.array_equal(a, block_rng(1, "default", 100, 0).random(3))
    for other in (block_rng(2, "default", 100, 0), block_rng(1, "null", 100, 0),
                  block_rng(1, "default", 50, 0), block_rng(1, "default", 100, 1)):
        assert not np.array_equal(a, other.random(3))


@pytest.mark.parametrize("n_trials", [1, 99, 100, 101, 1000, 2345])
@pytest.mark.parametrize("n_chunks", [1, 2, 3, 7, 40])
def test_chunks_partition_the_blocks(n_trials, n_chunks):
    blocks = [b for c in range(1, n_chunks + 1) for b in chunk_blocks(n_trials, c, n_chunks)]
    assert blocks == list(range(-(-n_trials // TRIAL_BLOCK)))


def test_chunk_numbers_are_checked():
    with pytest.raises(ConfigError):
        chunk_blocks(100, 0, 3)
    with pytest.raises(ConfigError):
        chunk_blocks(100, 4, 3)


# ------------------------------------------------------------------------- expected events


def test_censoring_pmf_is_a_distribution():
    pmf = censoring_pmf(trial_model(load_params("default")))
    assert pmf.min() >= 0 and abs(pmf.sum() - 1) < 1e-12
    assert pmf.size == 7 * 104 + 1


def test_expected_events_match_simulated_trials():
    model = trial_model(load_params("default"))
    ee = expected_events(model)
    tr = simulate_blocks(model, 9, "default", 100, range(10), 1000)
    observed = [tr.event[tr.arm == a].mean() for a in range(3)]
    np.testing.assert_allclose(ee.event_probability, observed, atol=0.006)
    np.testing.assert_allclose(ee.events(100).sum(), tr.event.sum(axis=1).mean(), rtol=0.01)


def test_schoenfeld_formula():
    assert float(schoenfeld_power(0.0, 200)) == pytest.approx(0.05)
    d = schoenfeld_events(np.log(1.5), power=0.9)
    assert float(schoenfeld_power(np.log(1.5), d)) == pytest.approx(0.9, abs=1e-3)
    # two-sided: the direction of the effect does not matter
    assert float(schoenfeld_power(-0.3, 150)) == pytest.approx(float(schoenfeld_power(0.3, 150)))


def test_clopper_pearson_matches_scipy():
    k, n = np.array([0, 3, 50, 100]), np.array([100, 100, 100, 100])
    lo, hi = clopper_pearson(k, n)
    for i in range(4):
        ci = stats.binomtest(int(k[i]), int(n[i])).proportion_ci(method="exact")
        assert lo[i] == pytest.approx(ci.low, abs=1e-9)
        assert hi[i] == pytest.approx(ci.high, abs=1e-9)


# --------------------------------------------------------------------------------- power


@pytest.fixture(scope="module")
def params():
    return load_params("default")


def test_null_scenario_rejects_at_alpha():
    settings = PowerSettings(n_per_arm=(60,), trials=600, scenario="null", test="cox", seed=3)
    table = power_table(run_power(settings, load_params("null")))
    for _, row in table.iterrows():
        assert row["power_lower"] <= 0.05 <= row["power_upper"], row.to_dict()
        assert row["true_hr"] == 1.0 and row["schoenfeld_power"] == pytest.approx(0.05)
    lr = power_table(run_power(PowerSettings(n_per_arm=(60,), trials=600, scenario="null",
                                             test="logrank", seed=3), load_params("null")))
    assert lr["power_lower"].iloc[0] <= 0.05 <= lr["power_upper"].iloc[0]
    pw = power_table(run_power(PowerSettings(n_per_arm=(60,), trials=600, scenario="null",
                                             test="pairwise", seed=3), load_params("null")))
    any_row = pw[pw["comparison"] == "any"].iloc[0]
    assert any_row["power_lower"] <= 0.05 <= any_row["power_upper"]  # Holm keeps the FWER
    assert (pw["power"] <= any_row["power"]).all()


def test_power_increases_with_n(params):
    settings = PowerSettings(n_per_arm=(25, 75, 200), trials=300, test="cox", seed=2)
    table = power_table(run_power(settings, params))
    p = power_of(table, STRENGTH)["power"]
    assert p[25] < p[75] < p[200]
    assert p[200] > 0.85
    assert (power_of(table, STRENGTH)["schoenfeld_power"].diff().dropna() > 0).all()


def test_schoenfeld_close_to_simulated_power(tmp_path):
    """Without covariate effects or frailty the arm-only HR is the true HR: Schoenfeld with the
    expected events is close to the simulated power. With them (default scenario), Schoenfeld
    with the marginal HR is close, and with the true (conditional) HR it is optimistic."""
    cfg = tmp_path / "plain.yaml"
    cfg.write_text(PLAIN_YAML)
    plain = load_params("default", cfg)
    table = power_table(run_power(PowerSettings(n_per_arm=(60,), trials=1000, seed=4,
                                                scenario="default+plain"), plain))
    row = power_of(table, STRENGTH).loc[60]
    assert abs(row["marginal_hr"] - row["true_hr"]) < 0.03
    assert abs(row["power"] - row["schoenfeld_power"]) < 0.05

    table = power_table(run_power(PowerSettings(n_per_arm=(100,), trials=1000, seed=4),
                                  load_params("default")))
    row = power_of(table, STRENGTH).loc[100]
    assert row["marginal_hr"] < row["true_hr"]  # non-collapsibility of the arm-only model
    assert abs(row["power"] - row["schoenfeld_power_marginal"]) < 0.05
    assert row["schoenfeld_power"] > row["power"]


@pytest.mark.parametrize("design", ["randomised", "observational"])
def test_marginal_hr_is_pooled_and_matches_large_trials(params, design):
    """``marginal_hr`` is the simulator's ``under_follow_up`` marginal truth of the pain-free
    time, pooled over 8 fixed samples (not one trial's fit): its Monte Carlo SE is reported,
    and arm-only Efron fits of large simulated trials (whole days, as the test sees them) agree
    with it. Before, one trial of 3 × 40,000 gave 0.373 for strength; eight others 0.358."""
    from rehab_outcomes.simulation.truth import marginal_truth
    from rehab_outcomes.survival.batch import cox_groups_batch, tie_structure

    model = trial_model(params, design)
    beta, mc_se = marginal_log_hr(model), marginal_log_hr_mc_se(model)
    truth = marginal_truth(params, "equal" if design == "randomised" else "observational")
    np.testing.assert_array_equal(beta, truth.log_hr("under_follow_up", "pain_free"))
    assert truth.seeds == 8 and truth.n_per_seed == 100_000
    assert (mc_se > 0).all() and (mc_se < 0.002).all()
    table = power_table(run_power(PowerSettings(n_per_arm=(50,), trials=10, seed=1, design=design),
                                  params))
    row = power_of(table, STRENGTH).loc[50]
    assert row["marginal_hr"] == pytest.approx(np.exp(beta[1]), rel=1e-12)
    assert row["marginal_hr_mc_se"] == pytest.approx(np.exp(beta[1]) * mc_se[1], rel=1e-12)
    if design == "randomised":
        assert row["marginal_hr"] == pytest.approx(1.43, abs=0.01)  # eight one-trial fits: 1.43
    # four large trials (3 × 25,000 runners each), as the power test fits them
    tr = simulate_trials(model, np.random.default_rng(77), 4, 25_000)
    fit = cox_groups_batch(tie_structure(tr.days, tr.event), tr.arm, 3)
    z = (fit.coef.mean(axis=0) - beta) / np.sqrt((fit.se**2).mean(axis=0) / 4 + mc_se**2)
    assert np.abs(z).max() < 3, z


def test_runs_are_deterministic_and_chunk_independent(params):
    settings = PowerSettings(n_per_arm=(20, 40), trials=350, test="pairwise", seed=5)
    whole = run_power(settings, params)
    again = run_power(settings, params)
    pd.testing.assert_frame_equal(whole, again)
    parts = [run_power(settings, params, chunk=c, n_chunks=3) for c in (1, 2, 3)]
    summed = pd.concat(parts).groupby(["n_per_arm", "comparison"], sort=False)[
        ["trials", "rejections"]].sum()
    expected = whole.set_index(["n_per_arm", "comparison"])[["trials", "rejections"]]
    pd.testing.assert_frame_equal(summed, expected)
    other = run_power(PowerSettings(n_per_arm=(20, 40), trials=350, test="pairwise", seed=6),
                      params)
    assert not other["rejections"].equals(whole["rejections"])


def test_settings_are_checked():
    with pytest.raises(ConfigError):
        PowerSettings(n_per_arm=(1,))
    with pytest.raises(ConfigError):
        PowerSettings(n_per_arm=(10,), test="wilcoxon")
    with pytest.raises(ConfigError):
        PowerSettings(n_per_arm=(10,), alpha=1.5)
    with pytest.raises(ConfigError):
        parse_sizes("50,abc")
    assert parse_sizes("50, 100,200") == (50, 100, 200)


# ------------------------------------------------------------------------------- commands


def test_cli_single_run_equals_chunks_gathered(tmp_path):
    common = ["--n-per-arm", "20,40", "--trials", "250", "--test", "cox", "--seed", "7"]
    invoke("power", *common, "--out", str(tmp_path / "whole"))
    for c in (1, 2, 3):
        invoke("power", *common, "--chunk", str(c), "--n-chunks", "3",
               "--out", str(tmp_path / f"c{c}"))
        assert not (tmp_path / f"c{c}" / "power.png").exists()  # chunks: no figure
    invoke("power-gather", *(str(tmp_path / f"c{c}") for c in (3, 1, 2)),
           "--out", str(tmp_path / "gathered"))
    whole = (tmp_path / "whole" / "power.csv").read_bytes()
    assert whole == (tmp_path / "gathered" / "power.csv").read_bytes()
    for name in ("power.png", "power.svg"):  # same table, same figure: deterministic bytes
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "gathered" / name).read_bytes()
        assert (tmp_path / "whole" / name).stat().st_size > 1000

    table = pd.read_csv(tmp_path / "whole" / "power.csv")
    assert list(table.columns) == COLUMNS
    assert table["trials"].tolist() == [250] * 4
    assert set(table["comparison"]) == {STRENGTH, STRETCH}
    assert (table["power_lower"] <= table["power"]).all()
    assert (table["power"] <= table["power_upper"]).all()
    meta = json.loads((tmp_path / "whole" / "power.json").read_text())
    assert meta["settings"]["seed"] == 7 and meta["settings"]["n_per_arm"] == [20, 40]
    assert meta["package_version"]


def test_cli_config_and_observational(tmp_path):
    cfg = tmp_path / "plain.yaml"
    cfg.write_text(PLAIN_YAML)
    invoke("power", "--n-per-arm", "30", "--trials", "100", "--config", str(cfg),
           "--design", "observational", "--out", str(tmp_path / "o"))
    table = pd.read_csv(tmp_path / "o" / "power.csv")
    assert set(table["scenario"]) == {"default+plain"}
    assert set(table["design"]) == {"observational"}
    meta = json.loads((tmp_path / "o" / "power.json").read_text())
    assert meta["config_overrides"]["sites"]["pain_free_frailty_variance"] == 0.0


def test_gather_refuses_incomplete_or_mixed_chunks(tmp_path):
    common = ["--n-per-arm", "10", "--trials", "200", "--test", "logrank"]
    for c in (1, 2):
        invoke("power", *common, "--chunk", str(c), "--n-chunks", "2",
               "--out", str(tmp_path / f"c{c}"))
    invoke("power", *common, "--seed", "9", "--chunk", "1", "--n-chunks", "2",
           "--out", str(tmp_path / "other"))
    cases = [["c1"], ["c1", "c1", "c2"], ["c1", "c2", "other"], ["missing"]]
    for dirs in cases:
        result = runner.invoke(app, ["power-gather", *(str(tmp_path / d) for d in dirs),
                                     "--out", str(tmp_path / "g")])
        assert result.exit_code != 0
        assert isinstance(result.exception, ConfigError), dirs


def test_more_chunks_than_blocks(tmp_path):
    """Six trials are one block: chunk 1 of 2 is empty, and the gather still equals one run."""
    common = ["--n-per-arm", "20", "--trials", "6", "--test", "logrank", "--seed", "3"]
    for c in (1, 2):
        invoke("power", *common, "--chunk", str(c), "--n-chunks", "2",
               "--out", str(tmp_path / f"c{c}"))
    assert read_table(str(tmp_path / "c1" / "power.csv"))["trials"].tolist() == [0]
    invoke("power-gather", str(tmp_path / "c1"), str(tmp_path / "c2"), "--out", str(tmp_path / "g"))
    invoke("power", *common, "--out", str(tmp_path / "s"))
    assert (tmp_path / "g" / "power.csv").read_bytes() == (tmp_path / "s" / "power.csv").read_bytes()


def test_gather_of_several_scenarios(tmp_path):
    for scenario in ("null", "seed_claims"):
        invoke("power", "--n-per-arm", "20", "--trials", "100", "--scenario", scenario,
               "--test", "pairwise", "--out", str(tmp_path / scenario))
    invoke("power-gather", str(tmp_path / "null"), str(tmp_path / "seed_claims"),
           "--out", str(tmp_path / "both"))
    table = read_table(str(tmp_path / "both" / "power.csv"))
    assert table["scenario"].tolist() == ["null"] * 3 + ["seed_claims"] * 3
    single = read_table(str(tmp_path / "null" / "power.csv"))
    pd.testing.assert_frame_equal(table.iloc[:3].reset_index(drop=True), single)


def test_table_csv_format():
    counts = pd.DataFrame([{"scenario": "s", "design": "randomised", "test": "logrank",
                            "n_per_arm": 10, "comparison": "overall", "alpha": 0.05,
                            "trials": 40, "rejections": 3, "nonconverged": 0,
                            "true_hr": np.nan, "marginal_hr": np.nan, "expected_events": np.nan,
                            "schoenfeld_power": np.nan, "schoenfeld_power_marginal": np.nan,
                            "marginal_hr_mc_se": np.nan}])
    text = table_csv(power_table(counts))
    assert "\r" not in text and text.endswith("\n")
    assert text.splitlines()[1].startswith("s,randomised,logrank,10,overall,0.050000,40,3,0.075000,")
    assert text.splitlines()[1].endswith(",0,,,,,,")


def test_progress_on_a_terminal_and_in_a_log():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet = io.StringIO()
    Progress("power", quiet, quiet=True)(5, 10)
    assert quiet.getvalue() == ""
    log = io.StringIO()  # a log file: one line per further tenth, never a carriage return
    bar = Progress("power", log)
    for done in range(0, 101):
        bar(done, 100)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 10 and lines[-1].startswith("power: 100/100")
    tty = Tty()
    bar = Progress("power", tty)
    bar(5, 10)
    bar(10, 10)
    assert "5/10" in tty.getvalue() and tty.getvalue().endswith("\n")


def test_errors_are_config_errors(tmp_path):
    result = runner.invoke(app, ["power", "--n-per-arm", "1", "--out", str(tmp_path)])
    assert isinstance(result.exception, ConfigError)
    result = runner.invoke(app, ["power", "--n-per-arm", "10", "--chunk", "3", "--n-chunks", "2",
                                 "--out", str(tmp_path)])
    assert isinstance(result.exception, ConfigError)


@pytest.mark.slow
def test_command_line_end_to_end(tmp_path):
    """Through ``cli.main`` in a subprocess: progress as plain lines when stderr is not a
    terminal (a log file), no carriage returns."""
    shim = ("import sys\nfrom rehab_outcomes import cli\n"
            "from rehab_outcomes.planning.command import power, power_gather\n"
            "if 'power' not in {c.name for c in cli.app.registered_commands}:\n"
            "    cli.app.command('power')(power)\n"
            "    cli.app.command('power-gather')(power_gather)\n"
            "cli.main(sys.argv[1:])\n")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", shim, "power", "--n-per-arm", "10", "--trials",
                           "50", "--out", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "power: 50/50 trials (100%" in proc.stderr
    assert "50 trials" in proc.stderr and "-> " in proc.stdout
    assert Path(out / "power.csv").is_file()
    bad = subprocess.run([sys.executable, "-c", shim, "power", "--n-per-arm", "1", "--out",
                          str(out)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("error:")
