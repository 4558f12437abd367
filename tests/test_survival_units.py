"""Unit tests of the survival engine that need no R: hand-computed values, errors, warnings."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from survival_cohorts import make_cohort

from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival import (
    CoxPH,
    KaplanMeier,
    cox_zph,
    cumulative_incidence,
    holm,
    logrank_table,
    rmst_table,
)
from rehab_outcomes.survival.km import SUMMARY_COLUMNS, TABLE_COLUMNS


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return make_cohort(800, 5)


def _tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {"t": [1.0, 2, 2, 3, 4, 5], "e": [1, 1, 0, 1, 0, 1], "arm": ["rest_only"] * 6}
    )


def test_km_hand_computed():
    km = KaplanMeier().fit(_tiny(), "t", "e")
    tab = km.table_
    assert list(tab.columns) == TABLE_COLUMNS
    # S: 5/6, 5/6*4/5, then *2/3 at t=3, flat at 4, 0 at 5
    np.testing.assert_allclose(tab["survival"], [5 / 6, 4 / 6, 4 / 9, 4 / 9, 0.0])
    np.testing.assert_allclose(tab["n_at_risk"], [6, 5, 3, 2, 1])
    gw = 1 / (6 * 5) + 1 / (5 * 4)
    np.testing.assert_allclose(tab["lower"].iloc[1], 4 / 6 * np.exp(-1.959963984540054 * gw**0.5))
    assert np.isnan(tab["lower"].iloc[-1])  # log CI undefined at S = 0, as R
    s = km.summary
    assert list(s.columns) == SUMMARY_COLUMNS
    assert s["median"].iloc[0] == 3.0 and s["events"].iloc[0] == 4
    assert np.isnan(s["surv_8w"].iloc[0])  # beyond the last time


def test_km_median_midpoint_rule():
    df = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 1, 1, 1], "arm": "a"})
    assert KaplanMeier().fit(df, "t", "e").summary["median"].iloc[0] == 2.5


def test_km_frequency_weights_equal_replication():
    df = _tiny().assign(w=[2, 1, 3, 1, 1, 2])
    rep = df.loc[df.index.repeat(df["w"])]
    a = KaplanMeier().fit(df, "t", "e", weights_col="w").table_
    b = KaplanMeier().fit(rep, "t", "e").table_
    pd.testing.assert_frame_equal(a, b)


def test_km_rejects_bad_conf_type_and_events():
    with pytest.raises(AnalysisError):
        KaplanMeier(conf_type="arcsine")  # type: ignore[arg-type]
    with pytest.raises(AnalysisError, match="0 \\(censored\\) or 1"):
        KaplanMeier().fit(_tiny().assign(e=2), "t", "e")


def test_holm_matches_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03), "holm") -> 0.03 0.06 0.06
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])


def test_logrank_table_shape(cohort):
    lr = logrank_table(cohort)
    assert lr["test"].tolist() == ["overall"] + ["pairwise"] * 3 + ["stratified_site"]
    assert lr.loc[lr["test"] == "pairwise", "p_holm"].ge(lr.loc[lr["test"] == "pairwise", "p"]).all()
    assert lr.loc[lr["test"] != "pairwise", "p_holm"].isna().all()


def test_logrank_single_group_is_an_error(cohort):
    one = cohort[cohort["arm"] == "rest_only"]
    with pytest.raises(AnalysisError, match="at least two groups"):
        logrank_table(one)


def test_cox_matches_lifelines_and_names_terms(cohort):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        fit = CoxPH().fit(cohort, covariates=["arm", "sex", "age_years", "bmi"])
    assert fit.terms_ == ["arm:stretching_only", "arm:strength_graded_running", "sex:male",
                          "sex:other", "age_years", "bmi"]
    assert fit.n_dropped_ == int(cohort["bmi"].isna().sum())
    d = cohort.dropna(subset=["bmi"])
    X = pd.get_dummies(d[["arm", "sex"]], drop_first=True).astype(float)
    X[["age_years", "bmi"]] = d[["age_years", "bmi"]].astype(float)
    X["T"], X["E"] = d["pain_free_weeks"], d["pain_free_event"]
    ll = CoxPHFitter().fit(X, "T", "E").params_
    np.testing.assert_allclose(fit.params_.to_numpy(), ll.to_numpy(), rtol=1e-5)
    assert fit.ci_se_ == "model" and fit.summary["robust_se"].isna().all()


def test_cox_summary_uses_robust_se_with_cluster(cohort):
    fit = CoxPH().fit(cohort, covariates=["arm", "age_years"], cluster_col="site")
    s = fit.summary
    assert fit.ci_se_ == "robust"
    z = 1.959963984540054
    np.testing.assert_allclose(np.log(s["hr_upper"]), s["coef"] + z * s["robust_se"])
    # sum of weighted score residuals is the score, ~0 at the MLE
    assert np.abs(fit.score_residuals_.sum(axis=0)).max() < 1e-6


def test_cox_drops_empty_level_with_warning(cohort):
    df = cohort[cohort["sex"] != "other"]
    with pytest.warns(StatisticalWarning, match="other"):
        fit = CoxPH().fit(df, covariates=["arm", "sex"])
    assert "sex:other" not in fit.terms_


def test_cox_arm_without_events_is_an_error(cohort):
    df = cohort.copy()
    df.loc[df["arm"] == "stretching_only", "pain_free_event"] = 0
    with pytest.raises(AnalysisError, match="stretching_only.*no events"):
        CoxPH().fit(df, covariates=["arm"])


def test_cox_single_arm_is_an_error(cohort):
    with pytest.raises(AnalysisError, match="only one"):
        CoxPH().fit(cohort[cohort["arm"] == "rest_only"], covariates=["arm"])


def test_cox_constant_covariate_is_an_error(cohort):
    with pytest.raises(AnalysisError, match="constant"):
        CoxPH().fit(cohort.assign(k=1.0), covariates=["arm", "k"])


def test_cox_separation_warns():
    rng = np.random.default_rng(2)
    n = 200
    x = rng.normal(size=n)
    t = np.round(rng.exponential(1, n), 2)
    e = (x > 0).astype(int)  # only x > 0 have events, and late x < 0 are censored
    df = pd.DataFrame({"t": t, "e": e, "g": np.where(x > 0, "b", "a")})
    with pytest.warns(StatisticalWarning, match="monotone likelihood"):
        CoxPH().fit(df, "t", "e", covariates=["g"], group_col=None)


def test_cox_few_events_warns():
    df = make_cohort(60, 9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        CoxPH().fit(df, covariates=["arm", "sex", "age_years", "bmi", "symptom_weeks"])
    assert any("fewer than 10 events per term" in str(w.message) for w in caught)


def test_zph_table(cohort):
    fit = CoxPH().fit(cohort, covariates=["arm", "age_years"])
    z = cox_zph(fit)
    assert z["term"].tolist() == ["arm", "age_years", "GLOBAL"]
    assert z["df"].tolist() == [2, 1, 3]
    assert ((z["p"] >= 0) & (z["p"] <= 1)).all()


def test_rmst_hand_computed():
    # S = 1 on [0,1), 5/6 on [1,2), 4/6 on [2,3], tau = 3
    two = _tiny().assign(arm=["rest_only"] * 3 + ["stretching_only"] * 3)
    with pytest.warns(StatisticalWarning, match="carried forward"):
        r = rmst_table(two, "t", "e", tau=3)
    assert r["arm"].tolist() == ["rest_only", "stretching_only"]
    rest = r.iloc[0]
    np.testing.assert_allclose(rest["rmst"], 1 + 2 / 3 + 1 / 3)
    assert np.isnan(rest["diff_vs_rest"])
    full = rmst_table(_tiny(), "t", "e", tau=3).iloc[0]
    area_after_1, area_after_2 = 5 / 6 + 4 / 6, 4 / 6
    var = area_after_1**2 / (6 * 5) + area_after_2**2 / (5 * 4)
    np.testing.assert_allclose(full["se"], var**0.5)


def test_rmst_difference_ci(cohort):
    r = rmst_table(cohort, tau=26).set_index("arm")
    s = r.loc["strength_graded_running"]
    ref = r.loc["rest_only"]
    np.testing.assert_allclose(s["diff_vs_rest"], s["rmst"] - ref["rmst"])
    half = 1.959963984540054 * np.hypot(s["se"], ref["se"])
    np.testing.assert_allclose([s["diff_lower"], s["diff_upper"]],
                               [s["diff_vs_rest"] - half, s["diff_vs_rest"] + half])


def test_cuminc_is_one_minus_km(cohort):
    ci = cumulative_incidence(cohort)
    km = KaplanMeier().fit(cohort, "reinjury_weeks", "reinjury_event").table_
    np.testing.assert_allclose(ci["cum_incidence"], 1 - km["survival"])
    assert ci["n_at_risk"].iloc[0] <= cohort["pain_free_event"].sum()


def test_outputs_are_deterministic(cohort):
    a = KaplanMeier().fit(cohort).table_.to_csv(lineterminator="\n")
    b = KaplanMeier().fit(cohort.copy()).table_.to_csv(lineterminator="\n")
    assert a == b
    c1 = CoxPH().fit(cohort, covariates=["arm", "age_years"]).summary
    c2 = CoxPH().fit(cohort, covariates=["arm", "age_years"]).summary
    pd.testing.assert_frame_equal(c1, c2)


@pytest.mark.slow
def test_cox_scales_to_a_million_rows():
    rng = np.random.default_rng(0)
    n, p = 1_000_000, 8
    X = rng.normal(size=(n, p))
    t = np.ceil(rng.exponential(100 / np.exp(X @ np.full(p, 0.1)))) / 7
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(p)]).assign(t=t, e=rng.random(n) < 0.7)
    df["e"] = df["e"].astype(int)
    start = time.perf_counter()
    fit = CoxPH().fit(df, "t", "e", covariates=list(df.columns[:p]), group_col=None)
    assert time.perf_counter() - start < 20
    np.testing.assert_allclose(fit.params_, 0.1, atol=0.01)
