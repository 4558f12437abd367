"""Each claim's decision rule on constructed tables: inside, at and beyond its margins, with and
without multiplicity adjustment, and the two measured verdict bugs as regression tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _claim_tables import (
    STRENGTH,
    STRETCH,
    ci_row,
    claims,
    cox,
    cox_row,
    rmst,
    state_for_difference,
)
from statsmodels.stats.multitest import multipletests

from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.survival.claims import (
    FAMILY,
    VERDICTS,
    ClaimSource,
    Margins,
    evaluate_claims,
    holm,
)

TESTED = ["1", "2a", "2b", "3a", "3b", "7"]


def test_vocabulary_family_and_holm() -> None:
    out = claims()
    assert set(out["verdict"]) <= set(VERDICTS)
    assert list(out.index[out["family"] == FAMILY]) == TESTED
    assert (out.loc[["4", "5", "6"], "family"] == "").all()
    assert out.loc[["4", "5", "6"], "p_adjusted"].isna().all()
    expected = multipletests(out.loc[TESTED, "p"], method="holm")[1]
    np.testing.assert_allclose(out.loc[TESTED, "p_adjusted"], expected, rtol=1e-12)
    assert (out.loc[TESTED, "p_adjusted"] >= out.loc[TESTED, "p"]).all()
    assert out["estimand"].str.len().gt(10).all() and out.loc[TESTED, "source"].str.len().gt(5).all()


def test_holm_function() -> None:
    p = np.array([0.04, np.nan, 0.001, 0.03, 0.5])
    expected = multipletests(p[np.isfinite(p)], method="holm")[1]
    np.testing.assert_allclose(holm(p)[np.isfinite(p)], expected)
    assert np.isnan(holm(p)[1]) and np.isnan(holm([np.nan])).all()


# ---------------------------------------------------------------- claim 2: no worthwhile benefit
@pytest.mark.parametrize(("interval", "verdict"), [
    ((0.9, 1.15), "supported"),  # inside: excludes the worthwhile HR 1.25
    ((0.9, 1.25), "inconclusive"),  # at the margin: 1.25 is not excluded
    ((1.05, 1.25), "inconclusive"),  # a gain shown, but a worthwhile one not excluded
    ((1.02, 1.2), "supported"),  # a small gain shown: still no worthwhile gain
    ((1.26, 1.6), "contradicted"),  # beyond: a worthwhile gain shown
    ((1.25, 1.6), "inconclusive"),  # lower limit at the margin
    ((0.9, 1.6), "inconclusive"),
    ((0.6, 0.8), "supported"),  # harm: certainly no worthwhile gain
])
def test_claim2_pain_free(interval, verdict) -> None:
    assert claims(pf=cox((1.4, 1.7), interval)).loc["2a", "verdict"] == verdict


@pytest.mark.parametrize(("interval", "verdict"), [
    ((0.9, 1.1), "supported"),
    ((0.8, 1.1), "inconclusive"),  # at the margin 1 / 1.25 = 0.80
    ((0.5, 0.79), "contradicted"),
    ((0.5, 0.8), "inconclusive"),
    ((0.6, 1.1), "inconclusive"),
])
def test_claim2_reinjury(interval, verdict) -> None:
    assert claims(re=cox((0.3, 0.45), interval)).loc["2b", "verdict"] == verdict


def test_claim2_margin_is_a_setting() -> None:
    pf = cox((1.4, 1.7), (0.95, 1.15))
    assert claims(pf=pf).loc["2a", "verdict"] == "supported"
    assert claims(pf=pf, margins=Margins(no_benefit_hr=1.1)).loc["2a", "verdict"] == "inconclusive"
    assert claims(pf=pf, margins=Margins(no_benefit_hr=1.1)).loc["2a", "margin"] == 1.1
    with pytest.raises(AnalysisError, match="exceed 1"):
        Margins(no_benefit_hr=0.9)


def test_measured_claim2b_is_supported_not_contradicted() -> None:
    """Measured at n = 40,000, seed 7: HR 0.956 (0.918–0.996) was called contradicted although
    the interval excludes any worthwhile benefit (HR 0.80 or less). Numbers of that Cox row."""
    row = cox_row(STRETCH, -0.04484268869, 0.02085525478, robust_se=0.02168688632)
    assert (round(row["hr"], 3), round(row["hr_lower"], 3), round(row["hr_upper"], 3)) == (
        0.956, 0.918, 0.996)
    out = claims(re=cox((0.8267456396, 0.895408336), row))
    assert out.loc["2b", "verdict"] == "supported"
    assert "excludes an HR of 0.80 or less" in out.loc["2b", "statement"]


# ---------------------------------------------------------------- claim 3: works (benefit)
@pytest.mark.parametrize(("interval", "verdict"), [
    ((1.4, 1.7), "supported"),  # worthwhile gain shown
    ((1.1, 1.6), "supported"),  # gain shown, worthwhile compatible
    ((1.05, 1.25), "supported"),  # at the margin: a worthwhile gain is not excluded
    ((1.05, 1.2), "partly_supported"),  # gain shown, worthwhile excluded
    ((0.95, 1.2), "contradicted"),  # no gain shown, worthwhile excluded
    ((0.6, 0.9), "contradicted"),  # harm shown
    ((0.9, 1.5), "inconclusive"),
])
def test_claim3_hazard_ratio(interval, verdict) -> None:
    out = claims(pf=cox(interval, (0.95, 1.1)))
    assert out.loc["3a", "verdict"] == verdict
    assert out.loc["3a", "lower"] == interval[0] and out.loc["3a", "upper"] == interval[1]


@pytest.mark.parametrize(("interval", "verdict"), [
    ((-4.0, -2.0), "supported"),
    ((-3.0, -0.5), "supported"),
    ((-1.4, -0.2), "partly_supported"),  # gain shown, 1.5 weeks excluded
    ((-1.5, -0.2), "supported"),  # at the margin
    ((-1.0, 1.0), "contradicted"),  # no gain, worthwhile excluded
    ((0.5, 2.0), "contradicted"),  # harm
    ((-3.0, 1.0), "inconclusive"),
])
def test_claim3_rmst(interval, verdict) -> None:
    assert claims(rm=rmst(*interval)).loc["3b", "verdict"] == verdict


# ---------------------------------------------------------------- claim 7: magnitude
@pytest.mark.parametrize(("interval", "verdict"), [
    ((0.4, 0.7), "supported"),  # 50 % compatible
    ((0.3, 0.45), "supported"),  # more than 50 %
    ((0.5, 0.9), "supported"),  # at the claimed size: not ruled out
    ((0.55, 0.9), "partly_supported"),  # fewer injuries, 50 % ruled out
    ((0.85, 0.97), "partly_supported"),
    ((0.81, 1.1), "contradicted"),  # no worthwhile reduction at all
    ((1.1, 1.5), "contradicted"),  # more injuries
    ((0.4, 1.2), "inconclusive"),
    ((0.6, 1.1), "inconclusive"),  # 50 % ruled out, but a worthwhile reduction is not
])
def test_claim7_magnitude(interval, verdict) -> None:
    out = claims(re=cox(interval, (0.9, 1.05)))
    assert out.loc["7", "verdict"] == verdict
    assert out.loc["7", "claimed_size"] == 0.5


def test_measured_claim7_is_partly_supported_never_supported() -> None:
    """Measured: HR 0.82 (0.71–0.95) was called supported although 50 % is ruled out."""
    out = claims(re=cox((0.71, 0.95), (0.9, 1.05)))
    assert out.loc["7", "p_adjusted"] < 0.05
    assert out.loc["7", "verdict"] == "partly_supported"
    assert "one as large as 50 % (HR 0.50) is ruled out" in out.loc["7", "statement"]
    # with Holm over a family whose other tests are weak, fewer injuries are no longer shown:
    # the verdict falls to inconclusive, and never to supported
    weak = claims(pf=cox((0.9, 1.3), (0.9, 1.3)), re=cox((0.72, 0.99), (0.85, 1.2)),
                  rm=rmst(-1.0, 1.2), so=state_for_difference(-0.05, 0.03))
    assert weak.loc["7", "p"] < 0.05 < weak.loc["7", "p_adjusted"]
    assert weak.loc["7", "verdict"] == "inconclusive"
    assert "not established at the family-wise level" in weak.loc["7", "statement"]


def test_holm_changes_a_verdict() -> None:
    """3a significant alone (p ≈ 0.02) but not after Holm over six weak tests."""
    pf = cox((1.02, 1.3), (0.9, 1.3))
    alone = evaluate_claims(pf, cox((0.7, 1.4), (0.85, 1.2)), rmst(-1.0, 1.2),
                            state_for_difference(-0.05, 0.03)).set_index("claim_id")
    row = alone.loc["3a"]
    assert row["p"] < 0.05 < row["p_adjusted"]
    assert row["verdict"] == "inconclusive"  # would be "supported" without the family


# ---------------------------------------------------------------- claim 1: state occupation
@pytest.mark.parametrize(("interval", "verdict"), [
    ((-0.12, -0.06), "supported"),  # rest falls short by more than 4 points
    ((-0.12, -0.04 + 1e-9), "inconclusive"),  # at the margin (the interval is computed, so
    ((-0.12, -0.04 - 1e-9), "supported"),  # exact equality is rounding noise: just either side)
    ((-0.08, -0.02), "inconclusive"),
    ((-0.03, 0.02), "contradicted"),  # a worthwhile shortfall is ruled out
    ((0.02, 0.08), "contradicted"),  # rest does better
    ((-0.12, 0.02), "inconclusive"),
])
def test_claim1_state_occupation(interval, verdict) -> None:
    out = claims(so=state_for_difference(*interval))
    row = out.loc["1"]
    assert row["verdict"] == verdict
    assert row["lower"] == pytest.approx(interval[0]) and row["upper"] == pytest.approx(interval[1])
    assert row["margin"] == -0.04
    assert row["source"] == "state_occupation: running_pain_free at week 52"


def test_claim1_needs_no_selected_subset() -> None:
    """Claim 1 no longer reuses claim 7's re-injury HR among the pain-free."""
    out = claims(re=cox((0.3, 0.45), (0.9, 1.05)))
    assert out.loc["1", "estimate"] != out.loc["7", "estimate"]
    assert "pain-free" not in out.loc["1", "estimand"].split("population:")[1].split("from")[0]
    assert claims(so=None).loc["1", "verdict"] == "supported"  # default table
    none = evaluate_claims(cox((1.4, 1.7), (0.95, 1.1)), cox((0.3, 0.45), (0.9, 1.05)),
                           rmst(-4, -2)).set_index("claim_id")
    assert none.loc["1", "verdict"] == "not_assessable"
    assert np.isnan(none.loc["1", "p"]) and none.loc["1", "family"] == ""


# ---------------------------------------------------------------- same SE, same level
def test_alpha_010_claims_use_the_table_interval() -> None:
    """Measured: at alpha 0.10 claim 2a rebuilt a 90 % CI 1.06–1.13 from the 6-cluster robust SE
    while the Cox table's own 90 % CI (model SE) was 0.998–1.197; it flipped to contradicted."""
    coef = (math.log(0.998) + math.log(1.197)) / 2
    se = (math.log(1.197) - math.log(0.998)) / (2 * 1.6448536269514722)
    robust = (math.log(1.13) - math.log(1.06)) / (2 * 1.6448536269514722)
    row = cox_row(STRETCH, coef, se, alpha=0.10, robust_se=robust)
    pf = cox(ci_row(STRENGTH, 1.4, 1.7, alpha=0.10), row, alpha=0.10)
    out = claims(pf=pf, re=cox((0.3, 0.45), (0.9, 1.05), alpha=0.10), rm=rmst(-4, -2, 0.10),
                 so=state_for_difference(-0.12, -0.06, 0.10), alpha=0.10)
    r = out.loc["2a"]
    assert (r["estimate"], r["lower"], r["upper"], r["p"]) == (
        row["hr"], row["hr_lower"], row["hr_upper"], row["p"])
    assert round(r["lower"], 3) == 0.998 and round(r["upper"], 3) == 1.197
    assert r["verdict"] == "supported" and "90 % CI 1.00–1.20" in r["statement"]


def test_a_table_at_another_level_is_refused() -> None:
    pf = cox((1.4, 1.7), (0.95, 1.1), alpha=0.05)
    with pytest.raises(AnalysisError, match="alpha = 0.1"):
        claims(pf=pf, alpha=0.10)
    with pytest.raises(AnalysisError, match="rmst"):
        claims(pf=cox((1.4, 1.7), (0.95, 1.1), alpha=0.10), re=cox((0.3, 0.45), (0.9, 1.05), 0.10),
               rm=rmst(-4, -2, 0.05), alpha=0.10)


def test_robust_interval_is_accepted() -> None:
    row = cox_row(STRENGTH, 0.4, 0.05, robust_se=0.04, use="robust")
    out = claims(pf=cox(row, (0.95, 1.1)))
    assert out.loc["3a", "lower"] == row["hr_lower"]


# ---------------------------------------------------------------- weighted sources
def test_weighted_sources_are_cited_with_their_estimand() -> None:
    pf = ClaimSource(cox((1.3, 1.6), (0.95, 1.1)), "iptw_cox_pain_free", "marginal HR (IPTW)")
    re = ClaimSource(cox((0.5, 0.9), (0.9, 1.05)), "iptw_cox_reinjury", "marginal HR (IPTW) re")
    rm = ClaimSource(rmst(-3.4, -1.6), "iptw_rmst", "weighted RMST")
    so = ClaimSource(state_for_difference(-0.1, -0.05), "iptw_state_occupation", "weighted AJ")
    out = evaluate_claims(pf, re, rm, so).set_index("claim_id")
    assert out.loc["3a", "source"] == "iptw_cox_pain_free: arm:strength_graded_running"
    assert out.loc["3a", "estimand"] == "marginal HR (IPTW)"
    assert out.loc["3b", "source"].startswith("iptw_rmst") and out.loc["3b", "estimate"] == -2.5
    assert out.loc["7", "estimand"] == "marginal HR (IPTW) re"
    assert out.loc["1", "source"].startswith("iptw_state_occupation")


def test_missing_pieces_are_not_assessable() -> None:
    pf = cox((1.4, 1.7), (0.95, 1.1))
    pf = pf[pf["term"] != STRETCH]
    out = claims(pf=pf)
    assert out.loc["2a", "verdict"] == "not_assessable"
    assert "No stretching only term" in out.loc["2a", "statement"]
    empty_rmst = rmst(-4, -2).iloc[0:0]
    out = claims(rm=empty_rmst)
    assert out.loc["3b", "verdict"] == "not_assessable" and "tau" in out.loc["3b", "statement"]
    assert list(out.index[out["family"] == FAMILY]) == ["1", "2a", "2b", "3a", "7"]
    nan_se = cox((1.4, 1.7), (0.95, 1.1)).assign(
        hr_lower=lambda d: np.where(d["term"] == STRENGTH, np.nan, d["hr_lower"]))
    assert claims(pf=nan_se).loc["3a", "verdict"] == "not_assessable"
    assert isinstance(claims(), pd.DataFrame)
