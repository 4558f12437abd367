"""Tests of the claims table: verdict branches, wording and direction conventions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _secondary_data import cox_table, km_summary_table, rmst_table

from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.survival.claims import COLUMNS, claims_to_json, evaluate_claims

NULL = (1.0, 0.8, 1.25)


def _claims(
    pf_strength=(1.9, 1.7, 2.1),
    pf_stretch=(1.02, 0.9, 1.15),
    re_strength=(0.6, 0.45, 0.8),
    re_stretch=(0.97, 0.85, 1.1),
    rmst_pf=(-4.0, -6.0, -2.0),
    rmst_re=(3.0, 1.0, 5.0),
    trajectories=None,
    alpha=0.05,
) -> pd.DataFrame:
    out = evaluate_claims(
        cox_table(pf_strength, pf_stretch),
        cox_table(re_strength, re_stretch),
        rmst_table(rmst_pf, rmst_re),
        km_summary_table(),
        trajectories=trajectories,
        alpha=alpha,
    )
    return out.set_index("claim_id")


def test_columns_and_ids() -> None:
    out = _claims()
    assert list(out.reset_index().columns) == COLUMNS
    assert list(out.index) == ["1", "2a", "2b", "3a", "3b", "4", "5", "6", "7"]
    assert out["statement"].str.len().gt(20).all()
    assert set(out["verdict"]) <= {"supported", "contradicted", "inconclusive", "not_assessable"}


def test_pain_free_hr_above_one_is_benefit() -> None:
    out = _claims(pf_strength=(1.9, 1.7, 2.1))
    row = out.loc["3a"]
    assert row["verdict"] == "supported"
    assert row["statement"] == (
        "Runners in strength + graded running became pain-free sooner than those resting only: "
        "HR 1.90 (95 % CI 1.70–2.10)."
    )
    assert (row["estimate"], row["lower"], row["upper"]) == (1.9, 1.7, 2.1)
    worse = _claims(pf_strength=(0.6, 0.5, 0.7)).loc["3a"]
    assert worse["verdict"] == "contradicted"
    assert "pain-free later" in worse["statement"]
    unclear = _claims(pf_strength=(1.1, 0.9, 1.3)).loc["3a"]
    assert unclear["verdict"] == "inconclusive"
    assert unclear["statement"].startswith("Time to pain-free running did not differ clearly")


def test_reinjury_hr_below_one_is_benefit() -> None:
    good = _claims(re_strength=(0.6, 0.45, 0.8))
    assert good.loc["1", "verdict"] == "supported"
    assert good.loc["1", "statement"].startswith(
        "Re-injury after return was more frequent with rest only than with strength + graded running"
    )
    # context from the KM summary: share of rest-only runners not pain-free at 52 weeks
    assert "35 % of rest-only runners were still not running pain-free at 52 weeks" in (
        good.loc["1", "statement"]
    )
    assert good.loc["7", "verdict"] == "supported"
    bad = _claims(re_strength=(1.5, 1.2, 1.9))
    assert bad.loc["1", "verdict"] == "contradicted"
    assert bad.loc["7", "verdict"] == "contradicted"
    assert _claims(re_strength=(0.9, 0.7, 1.15)).loc["1", "verdict"] == "inconclusive"


def test_claim7_speaks_about_fifty_percent() -> None:
    ruled_out = _claims(re_strength=(0.85, 0.7, 1.03)).loc["7"]
    assert ruled_out["verdict"] == "inconclusive"
    assert ruled_out["statement"] == (
        "Re-injury with strength + graded running relative to rest only: HR 0.85 "
        "(95 % CI 0.70–1.03), so a reduction as large as 50 % (HR 0.50) is ruled out, while no "
        "reduction at all remains possible."
    )
    smaller = _claims(re_strength=(0.8, 0.7, 0.9)).loc["7"]
    assert smaller["verdict"] == "supported"
    assert smaller["statement"].endswith("but one as large as 50 % (HR 0.50) is ruled out.")
    unclear = _claims(re_strength=(0.7, 0.4, 1.2)).loc["7"]
    assert unclear["statement"].endswith("but also with no reduction at all.")
    compatible = _claims(re_strength=(0.55, 0.4, 0.75)).loc["7"]
    assert compatible["verdict"] == "supported"
    assert "compatible with a 50 % reduction" in compatible["statement"]
    larger = _claims(re_strength=(0.3, 0.2, 0.45)).loc["7"]
    assert "larger than 50 %" in larger["statement"]


def test_claim2_no_benefit_branches() -> None:
    # pain-free: CI below the margin 1.25 -> no worthwhile benefit -> supported
    assert _claims(pf_stretch=(1.02, 0.9, 1.15)).loc["2a", "verdict"] == "supported"
    assert _claims(pf_stretch=(1.5, 1.2, 1.9)).loc["2a", "verdict"] == "contradicted"
    wide = _claims(pf_stretch=(1.1, 0.8, 1.5)).loc["2a"]
    assert wide["verdict"] == "inconclusive"
    assert "cannot tell" in wide["statement"]
    # re-injury: benefit is HR < 1, margin 0.8
    assert _claims(re_stretch=(0.97, 0.85, 1.1)).loc["2b", "verdict"] == "supported"
    assert _claims(re_stretch=(0.6, 0.45, 0.8)).loc["2b", "verdict"] == "contradicted"
    assert _claims(re_stretch=(0.9, 0.7, 1.15)).loc["2b", "verdict"] == "inconclusive"


def test_rmst_direction() -> None:
    good = _claims(rmst_pf=(-4.0, -6.0, -2.0)).loc["3b"]
    assert good["verdict"] == "supported"
    assert good["statement"] == (
        "Within 52 weeks, runners in strength + graded running spent on average 4.0 weeks fewer "
        "not yet running pain-free than those resting only: difference −4.0 weeks "
        "(95 % CI −6.0 to −2.0)."
    )
    assert _claims(rmst_pf=(3.0, 1.0, 5.0)).loc["3b", "verdict"] == "contradicted"
    assert _claims(rmst_pf=(-1.0, -3.0, 1.0)).loc["3b", "verdict"] == "inconclusive"


def test_trajectory_claim() -> None:
    assert _claims().loc["4", "verdict"] == "not_assessable"
    traj = pd.DataFrame(
        {
            "term": ["intercept", "week", "week:arm:strength_graded_running"],
            "coef": [6.0, -0.1, -0.2],
            "se": [0.1, 0.01, 0.02],
            "lower": [5.8, -0.12, -0.24],
            "upper": [6.2, -0.08, -0.16],
            "p": [0.0, 0.0, 0.0],
        }
    )
    row = _claims(trajectories=traj).loc["4"]
    # the slope is reported as context, never as a verdict: recovery ends care (informative dropout)
    assert row["verdict"] == "not_assessable"
    assert row["estimate"] == -0.2 and row["lower"] == -0.24
    assert "cannot test the progression rule" in row["statement"]
    assert "fell 0.20 points per week faster" in row["statement"]


def test_not_assessable_claims_and_missing_terms() -> None:
    out = _claims()
    for cid in ("5", "6"):
        assert out.loc[cid, "verdict"] == "not_assessable"
        assert np.isnan(out.loc[cid, "estimate"])
    assert "Cadence is not recorded" in out.loc["6", "statement"]
    cox = cox_table((1.9, 1.7, 2.1), NULL)
    cox = cox[cox["term"] != "arm:stretching_only"]
    res = evaluate_claims(cox, cox, rmst_table((-4, -6, -2), (3, 1, 5)), km_summary_table())
    row = res.set_index("claim_id").loc["2a"]
    assert row["verdict"] == "not_assessable"
    assert "No stretching only term" in row["statement"]


def test_alpha_recomputes_intervals() -> None:
    at95 = _claims(pf_strength=(1.2, 1.01, 1.43)).loc["3a"]
    at99 = _claims(pf_strength=(1.2, 1.01, 1.43), alpha=0.01).loc["3a"]
    assert at95["verdict"] == "supported"
    assert at99["lower"] < 1.0 < at99["upper"]
    assert at99["verdict"] == "inconclusive"
    assert "99 % CI" in at99["statement"]


def test_errors() -> None:
    cox = cox_table((1.9, 1.7, 2.1), NULL)
    with pytest.raises(AnalysisError, match="lacks columns"):
        evaluate_claims(cox.drop(columns="hr"), cox, rmst_table((0, -1, 1), (0, -1, 1)),
                        km_summary_table())
    with pytest.raises(AnalysisError, match="alpha"):
        evaluate_claims(cox, cox, rmst_table((0, -1, 1), (0, -1, 1)), km_summary_table(), alpha=1.5)


def test_claims_to_json() -> None:
    out = evaluate_claims(
        cox_table((1.9, 1.7, 2.1), NULL), cox_table((0.6, 0.45, 0.8), NULL),
        rmst_table((-4, -6, -2), (3, 1, 5)), km_summary_table(),
    )
    records = claims_to_json(out)
    assert len(records) == len(out)
    assert records[0]["claim_id"] == "1"
    assert set(records[0]) == set(COLUMNS)
    six = next(r for r in records if r["claim_id"] == "6")
    assert six["estimate"] is None and six["verdict"] == "not_assessable"
    assert isinstance(records[0]["estimate"], float)
    json.dumps(records, allow_nan=False)
