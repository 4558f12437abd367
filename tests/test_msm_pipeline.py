"""Time-varying analysis with training logs: counting table, naive Cox, MSM, claims 4–6."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rehab_outcomes.survival import tv_analysis as tv
from rehab_outcomes.survival.exposures import weekly_exposures
from rehab_outcomes.survival.pipeline import SESSION_TABLES, TABLES, run_analysis


@pytest.fixture(scope="module")
def loadcap_small() -> dict[str, pd.DataFrame]:
    """A 1,500-runner load–capacity cohort (policy truth on 2,000 runners)."""
    from rehab_outcomes.simulation.loadcap_outputs import simulate_loadcap_cohort

    c = simulate_loadcap_cohort(1_500, 3, policy_truth_n=2_000)
    return {"episodes": c.episodes, "sessions": c.sessions, "truth": c.policy_truth}


def test_counting_table(loadcap_small: dict[str, pd.DataFrame]) -> None:
    ep = loadcap_small["episodes"]
    w = weekly_exposures(loadcap_small["sessions"], ep)
    cp = tv.reinjury_counting_table(ep, w)
    assert (cp["stop"] > cp["start"]).all()
    per = cp.groupby("episode_id").agg(events=("event", "sum"), last=("stop", "max"))
    assert per["events"].max() == 1
    # lag: a row carries the previous calendar week's minutes
    row = cp.iloc[len(cp) // 2]
    prev = w[(w["episode_id"] == row["episode_id"]) & (w["week"] == row["week"] - 1)]
    assert np.isclose(prev["run_minutes"].iloc[0], row["run_minutes"])


def test_msm_and_claims(loadcap_small: dict[str, pd.DataFrame]) -> None:
    ep, ses = loadcap_small["episodes"], loadcap_small["sessions"]
    res = run_analysis(ep, sessions=ses, policy_truth=loadcap_small["truth"])
    assert set(SESSION_TABLES) <= set(res.tables) and "tv_reinjury" in res.parquet
    msm = res.tables["msm_rule"]
    assert msm["model"].tolist() == ["naive", "msm"] and np.isfinite(msm["coef"]).all()
    claims = res.tables["claims"].set_index("claim_id")
    for cid in ("4", "5", "6"):
        assert claims.loc[cid, "family"] == "claims"
        assert claims.loc[cid, "verdict"] != "not_assessable"
    assert "Model-based" in claims.loc["4", "statement"]
    base = run_analysis(ep)
    assert set(base.tables) == set(TABLES) and not base.parquet
    assert (base.tables["claims"].set_index("claim_id").loc[["4", "5", "6"], "verdict"]
            == "not_assessable").all()


@pytest.mark.slow
def test_msm_against_policy_truth() -> None:
    """3 seeds × 20,000: record MSM vs naive vs the policy truth (next-day rule off vs on)."""
    from rehab_outcomes.simulation.loadcap_outputs import simulate_loadcap_cohort

    rows = []
    for seed in (1, 2, 3):
        c = simulate_loadcap_cohort(20_000, seed)
        ep, ses = c.episodes, c.sessions
        assert c.policy_truth is not None
        truth = c.policy_truth.set_index("policy")
        w = weekly_exposures(ses, ep)
        table, _ = tv.msm_rule(ep, w, tv.reinjury_counting_table(ep, w))
        t = table.set_index("model")
        true = float(truth.loc["next-day rule off", "reinjury_log_hr"])
        rows.append({"seed": seed, "naive": t.loc["naive", "coef"], "msm": t.loc["msm", "coef"],
                     "msm_se": t.loc["msm", "se"], "truth_next_day_off": true,
                     "within_3se": abs(t.loc["msm", "coef"] - true) <= 3 * t.loc["msm", "se"]})
    rec = pd.DataFrame(rows)
    print(json.dumps(rec.to_dict(orient="records"), default=float, indent=1))
    assert rec[["naive", "msm"]].notna().all().all()
