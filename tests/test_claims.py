"""Tests of the claims table: columns, wording and direction conventions, JSON export.

The decision rules themselves (margins, Holm, measured bugs) are tested in test_claim_rules.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _claim_tables import claims, cox, rmst, state_for_difference

from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.survival.claims import COLUMNS, VERDICTS, claims_to_json, evaluate_claims


def test_columns_and_ids() -> None:
    out = claims()
    assert list(out.reset_index().columns) == COLUMNS
    assert list(out.index) == ["1", "2a", "2b", "3a", "3b", "4", "5", "6", "7"]
    assert out["statement"].str.len().gt(20).all()
    assert set(out["verdict"]) <= set(VERDICTS)
    assert VERDICTS == ("supported", "partly_supported", "contradicted", "inconclusive",
                        "not_assessable")
    assert set(out["rule"]) == {"worthwhile_shortfall", "no_worthwhile_benefit", "benefit",
                                "magnitude", "none"}


def test_pain_free_hr_above_one_is_benefit() -> None:
    row = claims(pf=cox((1.7, 2.1), (0.95, 1.1))).loc["3a"]
    assert row["verdict"] == "supported"
    assert row["statement"].startswith(
        "Runners in strength + graded running became pain-free sooner than those resting only: "
        "HR 1.89 (95 % CI 1.70–2.10; Holm-adjusted p < 0.001)")
    assert (row["lower"], row["upper"]) == (1.7, 2.1)
    worse = claims(pf=cox((0.5, 0.7), (0.95, 1.1))).loc["3a"]
    assert worse["verdict"] == "contradicted"
    assert "pain-free later" in worse["statement"]
    unclear = claims(pf=cox((0.9, 1.3), (0.95, 1.1))).loc["3a"]
    assert unclear["verdict"] == "inconclusive"
    assert unclear["statement"].startswith("Time to pain-free running did not differ clearly")


def test_reinjury_hr_below_one_is_benefit() -> None:
    good = claims(re=cox((0.4, 0.7), (0.9, 1.05))).loc["7"]
    assert good["verdict"] == "supported"
    assert "compatible with one of 50 % (HR 0.50)" in good["statement"]
    bad = claims(re=cox((1.2, 1.9), (0.9, 1.05))).loc["7"]
    assert bad["verdict"] == "contradicted"
    assert "more re-injuries" in bad["statement"]
    larger = claims(re=cox((0.2, 0.45), (0.9, 1.05))).loc["7"]
    assert "larger than 50 %" in larger["statement"]


def test_claim1_wording() -> None:
    row = claims(so=state_for_difference(-0.12, -0.06)).loc["1"]
    assert row["statement"].startswith("At 52 weeks, 36.0 % of rest-only runners were running "
                                       "pain-free and not re-injured, against 45.0 % on average")
    assert "difference −9.0 percentage points (95 % CI −12.0 to −6.0" in row["statement"]
    assert row["statement"].endswith("by more than the worthwhile 4.0 points.")
    assert "rest only minus the mean of the other arms" in row["quantity"]


def test_claim2_wording() -> None:
    out = claims(pf=cox((1.4, 1.7), (0.9, 1.15)), re=cox((0.3, 0.45), (0.9, 1.1)))
    assert out.loc["2a", "statement"].endswith("which excludes an HR of 1.25 or more.")
    assert out.loc["2b", "statement"].endswith("which excludes an HR of 0.80 or less.")
    wide = claims(pf=cox((1.4, 1.7), (0.8, 1.5))).loc["2a"]
    assert wide["verdict"] == "inconclusive" and "cannot tell" in wide["statement"]


def test_rmst_direction_and_wording() -> None:
    good = claims(rm=rmst(-6.0, -2.0)).loc["3b"]
    assert good["verdict"] == "supported"
    assert good["statement"].startswith(
        "Within 26 weeks, runners in strength + graded running spent on average 4.0 weeks fewer "
        "not yet running pain-free than those resting only: difference −4.0 weeks "
        "(95 % CI −6.0 to −2.0; Holm-adjusted p < 0.001)")
    assert claims(rm=rmst(1.0, 5.0)).loc["3b", "verdict"] == "contradicted"
    assert claims(rm=rmst(-3.0, 1.0)).loc["3b", "verdict"] == "inconclusive"
    assert "tau 26 weeks" in good["quantity"]


def test_claim4_names_the_table_that_would_test_it() -> None:
    row = claims().loc["4"]
    assert row["verdict"] == "not_assessable" and np.isnan(row["estimate"])
    assert "`sessions`" in row["statement"] and "pain_next_morning_nrs" in row["statement"]
    assert "trajectories" not in row["statement"]
    with_visits = claims(visits=True).loc["4"]
    assert "pain NRS 0–10 recorded at clinic visits" in with_visits["statement"]
    assert "pain while running" not in with_visits["statement"].lower()


def test_not_assessable_claims() -> None:
    out = claims()
    for cid in ("5", "6"):
        assert out.loc[cid, "verdict"] == "not_assessable"
        assert np.isnan(out.loc[cid, "estimate"])
    assert "Cadence is not recorded" in out.loc["6", "statement"]


def test_alpha_labels_the_level() -> None:
    a10 = claims(pf=cox((1.01, 1.43), (0.95, 1.1), 0.10), re=cox((0.3, 0.45), (0.9, 1.05), 0.10),
                 rm=rmst(-4, -2, 0.10), so=state_for_difference(-0.12, -0.06, 0.10), alpha=0.10)
    assert "90 % CI 1.01–1.43" in a10.loc["3a", "statement"]


def test_errors() -> None:
    pf = cox((1.4, 1.7), (0.95, 1.1))
    with pytest.raises(AnalysisError, match="lacks columns"):
        evaluate_claims(pf.drop(columns="hr"), pf, rmst(-1, 1))
    with pytest.raises(AnalysisError, match="alpha"):
        evaluate_claims(pf, pf, rmst(-1, 1), alpha=1.5)


def test_claims_to_json() -> None:
    out = claims().reset_index()
    records = claims_to_json(out)
    assert len(records) == len(out)
    assert records[0]["claim_id"] == "1"
    assert set(records[0]) == set(COLUMNS)
    six = next(r for r in records if r["claim_id"] == "6")
    assert six["estimate"] is None and six["verdict"] == "not_assessable"
    assert six["p_adjusted"] is None
    assert isinstance(records[0]["estimate"], float)
    json.dumps(records, allow_nan=False)
