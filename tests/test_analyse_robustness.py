"""Degenerate cohorts: every piece that cannot be computed is a problem, never a crash, and no
p-value or confidence interval is ever reported from a zero or non-finite standard error.

Each cohort is built from :func:`survival_cohorts.make_cohort`, its dates changed to make the
data degenerate, written out as a raw text export and passed through ``validate_episodes``, so
the analysis sees exactly what ``episodes.valid.parquet`` would hold.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from survival_cohorts import make_cohort

from rehab_outcomes.contract.schema import Episodes, required_columns
from rehab_outcomes.contract.validate import validate_episodes
from rehab_outcomes.survival.logrank import holm, survdiff
from rehab_outcomes.survival.pipeline import AnalysisConfig, run_analysis
from rehab_outcomes.survival.rmst import rmst_table

DAY = pd.Timedelta(days=1)


def _raw(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as a clinic's text export (dates ISO, missing values empty)."""
    out = {}
    for col in required_columns(Episodes):
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            text = s.dt.strftime("%Y-%m-%d")
        else:
            text = s.astype(object).map(lambda v: None if pd.isna(v) else str(v))
        out[col] = text.where(s.notna(), None)
    return pd.DataFrame(out).astype("string[pyarrow]")


def validated(df: pd.DataFrame) -> pd.DataFrame:
    res = validate_episodes(_raw(df))
    assert res.n_quarantined == 0, res.failures_by_rule()
    return res.valid


def _base(n: int = 150, seed: int = 7) -> pd.DataFrame:
    return make_cohort(n, seed, missing_bmi=0.0)


def every_time_identical(d: pd.DataFrame) -> pd.DataFrame:
    """Everyone pain-free after exactly 10 weeks and last seen that day."""
    d = d.copy()
    d["pain_free_run_date"] = d["first_visit_date"] + 70 * DAY
    d["last_contact_date"] = d["pain_free_run_date"]
    d["reinjury_date"] = pd.NaT
    return d


def every_event_at_one_time(d: pd.DataFrame) -> pd.DataFrame:
    """Everyone pain-free at 4 weeks, re-injured 8 weeks later; follow-up goes on after."""
    d = d.copy()
    d["pain_free_run_date"] = d["first_visit_date"] + 28 * DAY
    d["reinjury_date"] = d["pain_free_run_date"] + 56 * DAY
    d["last_contact_date"] = d["first_visit_date"] + 400 * DAY
    return d


def one_arm_with_events(d: pd.DataFrame) -> pd.DataFrame:
    """Only strength + graded running ever becomes pain-free; nobody is re-injured."""
    d = d.copy()
    others = (d["arm"] != "strength_graded_running").to_numpy()
    d.loc[others, "pain_free_run_date"] = pd.NaT
    d["reinjury_date"] = pd.NaT
    return d


def constant_covariate(d: pd.DataFrame) -> pd.DataFrame:
    d = d.copy()
    d["age_years"] = pd.array([30] * len(d), dtype="Int64")
    return d


def separated_covariate(d: pd.DataFrame) -> pd.DataFrame:
    """Men all become pain-free in the first week; nobody else ever does."""
    d = d.copy()
    male = (d["sex"] == "male").to_numpy()
    d.loc[male, "pain_free_run_date"] = d.loc[male, "first_visit_date"] + 7 * DAY
    d.loc[~male, "pain_free_run_date"] = pd.NaT
    d["reinjury_date"] = pd.NaT
    d["last_contact_date"] = d["first_visit_date"] + 300 * DAY
    return d


def no_events(d: pd.DataFrame) -> pd.DataFrame:
    d = d.copy()
    d["pain_free_run_date"] = pd.NaT
    d["reinjury_date"] = pd.NaT
    return d


def no_events_before_tau(d: pd.DataFrame) -> pd.DataFrame:
    """Rest only and stretching only followed 20 to 40 weeks without an event: their RMST SEs
    are zero (the measured case of a p-value of 0 from a zero SE)."""
    d = d.copy()
    quiet = (d["arm"] != "strength_graded_running").to_numpy()
    rng = np.random.default_rng(1)
    d.loc[quiet, "pain_free_run_date"] = pd.NaT
    d.loc[quiet, "reinjury_date"] = pd.NaT
    weeks = rng.integers(20, 40, int(quiet.sum()))
    d.loc[quiet, "last_contact_date"] = (d.loc[quiet, "first_visit_date"]
                                         + pd.to_timedelta(weeks * 7, unit="D"))
    return d


CASES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "every_time_identical": every_time_identical,
    "every_event_at_one_time": every_event_at_one_time,
    "one_arm_with_events": one_arm_with_events,
    "constant_covariate": constant_covariate,
    "separated_covariate": separated_covariate,
    "no_events": no_events,
    "no_events_before_tau": no_events_before_tau,
}


def _p_from_unusable_se(tables: dict[str, pd.DataFrame], summary: dict) -> list[str]:
    """Rows of the written tables whose p-value or interval rests on a zero or non-finite SE,
    and any p-value of exactly 0."""
    bad = []
    for name, df in tables.items():
        if not len(df):
            continue
        if name.startswith(("cox_", "iptw_cox_")):
            outcome = "pain_free" if name.endswith("pain_free") else "reinjury"
            robust = name.startswith("iptw") or summary["outcomes"][outcome]["ci_and_p_use"] == "robust SE"
            se = df["robust_se" if robust else "se"]
            shown = df[["p", "hr_lower", "hr_upper"]].notna().any(axis=1)
            bad += [f"{name}:{t}" for t in df.loc[shown & ~(np.isfinite(se) & (se > 0)), "term"]]
            assert (df["p"].notna() == df["hr_lower"].notna()).all(), name
        if name == "rmst":
            ref = df[df["arm"] == "rest_only"].set_index("outcome")["se"]
            sd = np.hypot(df["se"], df["outcome"].map(ref))
            shown = df[["p", "diff_lower", "diff_upper"]].notna().any(axis=1)
            bad += [f"rmst:{o}:{a}" for o, a in df.loc[shown & ~(np.isfinite(sd) & (sd > 0)),
                                                        ["outcome", "arm"]].itertuples(index=False)]
        if "p" in df.columns:
            bad += [f"{name}: p = 0"] * int((pd.to_numeric(df["p"], errors="coerce") == 0).sum())
    return bad


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("adjust", ["none", "iptw"])
def test_degenerate_cohorts_give_problems_not_crashes(case: str, adjust: str, tmp_path: Path) -> None:
    ep = validated(CASES[case](_base()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_analysis(ep, AnalysisConfig(adjust=adjust))
    assert res.problems, case
    for p in res.problems:
        assert set(p) == {"piece", "reason"} and p["reason"]
    res.write(tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["problems"] == res.problems
    written = {f.stem: pd.read_csv(f) for f in (tmp_path / "out").glob("*.csv")}
    assert set(written) == set(res.tables)
    for p in res.problems:  # a piece that failed alone leaves its table with a header only
        table = {"cox:pain_free": "cox_pain_free", "cox:reinjury": "cox_reinjury",
                 "cumulative_incidence:reinjury": "cuminc_reinjury", "claims": "claims",
                 "propensity": "balance"}.get(p["piece"])
        if table:
            assert len(written[table]) == 0 and list(written[table].columns) == list(res.tables[table].columns)
    assert _p_from_unusable_se(written, summary) == []


def test_measured_crashes_are_now_named_problems() -> None:
    """The measured LinAlgErrors: PH test with every time identical, log-rank with every event
    at one time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = run_analysis(validated(every_time_identical(_base())))
        one = run_analysis(validated(every_event_at_one_time(_base())))
    reasons = {p["piece"]: p["reason"] for p in same.problems}
    assert "distinct times" in reasons["ph_check:pain_free"]
    assert len(same.tables["cox_pain_free"]) or "cox:pain_free" in reasons
    reasons = {p["piece"]: p["reason"] for p in one.problems}
    assert "variance" in reasons["logrank:pain_free"] and "variance" in reasons["logrank:reinjury"]
    assert len(one.tables["logrank"]) == 0
    assert len(one.tables["km_pain_free"]) > 0 and len(one.tables["rmst"]) > 0  # the rest is written


@pytest.mark.filterwarnings("ignore:group 'rest_only'")
def test_rmst_has_no_p_value_from_a_zero_se() -> None:
    """Measured: p = 0 (and a zero-width CI) when neither arm has a variance term before tau,
    here rest only's one event ends its curve (n = d: no Greenwood term) and stretching only has
    no event before tau."""
    df = pd.DataFrame({"t": [1.5, 2.0, 5, 6, 7], "e": [0, 1, 0, 0, 0],
                       "arm": ["rest_only"] * 2 + ["stretching_only"] * 3})
    with pytest.warns(UserWarning, match="standard error of zero"):
        out = rmst_table(df, "t", "e", tau=4.0)
    assert (out["se"] == 0).all()
    row = out[out["arm"] == "stretching_only"].iloc[0]
    assert row["diff_vs_rest"] == pytest.approx(2.0)
    assert np.isnan(row["p"]) and np.isnan(row["diff_lower"]) and np.isnan(row["diff_upper"])


def test_cox_summary_leaves_p_and_ci_empty_for_a_zero_se() -> None:
    from rehab_outcomes.survival.cox import CoxPH

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"t": rng.exponential(1, 80).round(2), "e": 1, "x": rng.normal(size=80)})
    fit = CoxPH().fit(df, "t", "e", covariates=["x"], group_col=None)
    fit.se_ = fit.se_ * 0
    with pytest.warns(UserWarning, match="zero or not finite"):
        s = fit.summary
    assert s[["p", "hr_lower", "hr_upper"]].isna().all().all() and np.isfinite(s["hr"]).all()


def test_logrank_zero_variance_and_holm_with_missing() -> None:
    t = np.full(6, 3.0)
    chisq, df = survdiff(t, np.ones(6), np.array([0, 0, 0, 1, 1, 1]))
    assert np.isnan(chisq) and df == 1
    adj = holm(np.array([0.01, np.nan, 0.04]))
    assert np.isnan(adj[1]) and np.allclose(adj[[0, 2]], [0.02, 0.04])


# ----------------------------------------------------------------------------------------------
# through the command line: exit 0 with problems listed; one-line refusals of wrong inputs


def cli(*args: str) -> int:
    """Run the command line in-process; its exit status."""
    from rehab_outcomes.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_analyse_command_exits_0_on_degenerate_data(case: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "episodes.valid.parquet"
    validated(CASES[case](_base())).to_parquet(path, index=False)
    assert cli("-q", "analyse", path, "--out", tmp_path / "out") == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["problems"]
    assert "Traceback" not in capsys.readouterr().err


def _wrong_inputs(tmp_path: Path) -> dict[str, Path]:
    csv = tmp_path / "episodes.csv"
    csv.write_text("episode_id,arm\nEP1,rest_only\n")
    other = tmp_path / "other.parquet"
    pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}).to_parquet(other)
    renamed = tmp_path / "csv_named.parquet"
    renamed.write_text("episode_id,arm\nEP1,rest_only\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    return {"csv": csv, "random parquet": other, "csv named .parquet": renamed,
            "missing": tmp_path / "missing.parquet", "folder": folder}


def test_analyse_and_dashboard_refuse_what_is_not_validated_episodes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    validation = tmp_path / "validation.json"
    validation.write_text(json.dumps({"n_in": 1, "n_valid": 1, "n_quarantined": 0}))
    for what, path in _wrong_inputs(tmp_path).items():
        for args in (["analyse", path, "--out", tmp_path / "a"],
                     ["dashboard", path, "--validation", validation, "--out", tmp_path / "d.html"]):
            code = cli(*args)
            err = capsys.readouterr().err.strip().splitlines()
            assert code == 2, (what, args[0], err)
            assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
            assert str(tmp_path) not in err[0]  # named by its (masked) file name, not its path
    assert not (tmp_path / "a").exists() and not (tmp_path / "d.html").exists()


def test_run_config_is_recorded_and_shown(tmp_path: Path) -> None:
    ep = validated(_base(120, 3))
    path = tmp_path / "in" / "episodes.valid.parquet"
    path.parent.mkdir()
    ep.to_parquet(path, index=False)
    validation = tmp_path / "in" / "validation.json"
    validation.write_text(json.dumps({"n_in": len(ep), "n_valid": len(ep), "n_quarantined": 0,
                                      "input": {"file": "jane.doe@example.org.csv", "sha256": "ab"}}))
    run_cfg = tmp_path / "cfg" / "config.json"
    run_cfg.parent.mkdir()
    run_cfg.write_text(json.dumps({"source": "records", "analysis": {"tau": 26}, "seed": 424242}))
    old_cfg = tmp_path / "cfg" / "old.yaml"
    old_cfg.write_text("legacy_setting: 777\n")
    assert cli("-q", "analyse", path, "--validation", validation, "--run-config", run_cfg,
               "--out", tmp_path / "out") == 0
    text = (tmp_path / "out" / "summary.json").read_text()
    summary = json.loads(text)
    assert summary["run_config"] == {"source": "records", "analysis": {"tau": 26}, "seed": 424242}
    prov = summary["provenance"]
    assert prov["episodes_file"] == "episodes.valid.parquet" and len(prov["episodes_sha256"]) == 64
    assert summary["package_version"]
    assert "jane.doe" not in text and str(tmp_path) not in text  # no clear name, no path
    # the dashboard shows the run config instead of --config when both are given
    html = tmp_path / "dash" / "index.html"
    assert cli("-q", "dashboard", path, "--validation", validation, "--config", old_cfg,
               "--run-config", run_cfg, "--run-date", "2025-01-01", "--out", html) == 0
    page = html.read_text(encoding="utf-8")
    assert "424242" in page and "777" not in page and "jane.doe" not in page
    assert cli("-q", "dashboard", path, "--validation", validation, "--config", old_cfg,
               "--run-date", "2025-01-01", "--out", html) == 0
    assert "777" in html.read_text(encoding="utf-8")  # --config alone works as before
