"""Tests of the propensity model and inverse probability weights."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _secondary_data import TRUE_PS, observational_cohort

from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival.iptw import BALANCE_PAIRS_COLUMNS, PropensityModel, smd
from rehab_outcomes.survival.rmst import rmst_table

COVS = ["weekly_km_before_injury", "symptom_weeks", "sex"]
TERM = {"weekly_km": "weekly_km_before_injury", "symptom_weeks": "symptom_weeks",
        "sex:male": "sex:male", "intercept": "intercept"}


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return observational_cohort()


@pytest.fixture(scope="module")
def fitted(cohort: pd.DataFrame) -> PropensityModel:
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatisticalWarning)
        return PropensityModel(COVS).fit(cohort)


def test_coefficients_recover_truth(fitted: PropensityModel) -> None:
    s = fitted.summary.set_index(["arm", "term"])
    for arm, coefs in TRUE_PS.items():
        for name, truth in coefs.items():
            row = s.loc[(arm, TERM[name])]
            # within 3.5 standard errors of the generating value
            assert abs(row["coef"] - truth) < 3.5 * row["se"], (arm, name, row["coef"], truth)
    assert list(fitted.params_.columns) == ["stretching_only", "strength_graded_running"]


def test_summary_se_matches_refit_on_raw_scale(cohort: pd.DataFrame, fitted: PropensityModel) -> None:
    import statsmodels.api as sm

    X = pd.DataFrame(
        {
            "intercept": 1.0,
            "weekly_km_before_injury": cohort["weekly_km_before_injury"],
            "symptom_weeks": cohort["symptom_weeks"],
            "sex:male": (cohort["sex"] == "male").astype(float),
        }
    )
    y = pd.Categorical(cohort["arm"], categories=fitted.arms_).codes
    res = sm.MNLogit(y, X).fit(method="newton", disp=False)
    np.testing.assert_allclose(fitted.params_.to_numpy(), np.asarray(res.params), rtol=1e-6)
    se = fitted.summary.pivot(index="term", columns="arm", values="se")
    se = se.loc[fitted.params_.index, fitted.params_.columns]
    np.testing.assert_allclose(se.to_numpy(), np.asarray(res.bse), rtol=1e-5)


def test_propensities_and_stabilised_weights(cohort: pd.DataFrame, fitted: PropensityModel) -> None:
    ps = fitted.propensity_
    assert list(ps.columns) == ["rest_only", "stretching_only", "strength_graded_running"]
    assert ps.index.equals(cohort.index)
    np.testing.assert_allclose(ps.sum(axis=1), 1.0)
    means = fitted.weights_.groupby(cohort["arm"]).mean()
    np.testing.assert_allclose(means.to_numpy(), 1.0, atol=0.1)
    # stabilised weight = marginal share of received arm / propensity of received arm
    share = cohort["arm"].value_counts(normalize=True)
    received = ps.to_numpy()[np.arange(len(cohort)), ps.columns.get_indexer(cohort["arm"])]
    expected = cohort["arm"].map(share).to_numpy() / received
    np.testing.assert_allclose(fitted.weights_.to_numpy(), expected)


def test_balance_after_weighting(fitted: PropensityModel) -> None:
    bal = fitted.balance_
    assert list(bal.columns) == [
        "term", "arm", "smd_before", "smd_after", "imbalanced_before", "imbalanced_after",
    ]
    assert set(bal["term"]) == {"weekly_km_before_injury", "symptom_weeks", "sex:female", "sex:male"}
    assert set(bal["arm"]) == {"stretching_only", "strength_graded_running"}
    assert bal["imbalanced_before"].any()  # the arms differ before weighting
    assert (bal["smd_after"].abs() < 0.1).all()
    assert not bal["imbalanced_after"].any()


def test_effective_sample_size(cohort: pd.DataFrame, fitted: PropensityModel) -> None:
    ess = fitted.effective_sample_size_
    n = cohort["arm"].value_counts().reindex(ess.index)
    assert (ess > 0).all() and (ess <= n + 1e-9).all()
    w = fitted.weights_[cohort["arm"] == "strength_graded_running"]
    assert ess["strength_graded_running"] == pytest.approx(w.sum() ** 2 / (w**2).sum())


def test_hand_computed_smd() -> None:
    treated = np.array([2.0, 4.0, 6.0])  # mean 4, var 4
    ref = np.array([1.0, 2.0, 3.0, 6.0])  # mean 3, var 14/3
    assert smd(treated, ref) == pytest.approx(1 / np.sqrt((4 + 14 / 3) / 2))
    # weights change the means only; the pooled SD stays unweighted
    w_t = np.array([1.0, 1.0, 2.0])  # weighted mean 4.5
    w_r = np.array([1.0, 1.0, 1.0, 1.0])
    assert smd(treated, ref, w_t, w_r) == pytest.approx(1.5 / np.sqrt((4 + 14 / 3) / 2))
    # binary: p(1 - p) variances
    assert smd(np.array([1.0, 1.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0, 0.0]), binary=True) == (
        pytest.approx(0.25 / np.sqrt((0.25 + 0.1875) / 2))
    )


def test_balance_table_uses_hand_smd() -> None:
    df = pd.DataFrame(
        {
            "arm": ["rest_only"] * 4 + ["strength_graded_running"] * 4,
            "x": [1.0, 2.0, 3.0, 6.0, 2.0, 4.0, 6.0, 5.0],
        }
    )
    bal = PropensityModel(["x"]).fit(df).balance_
    t, r = df.loc[df.arm != "rest_only", "x"], df.loc[df.arm == "rest_only", "x"]
    expected = (t.mean() - r.mean()) / np.sqrt((t.var() + r.var()) / 2)
    assert bal.loc[0, "smd_before"] == pytest.approx(expected)


@pytest.mark.filterwarnings("ignore::rehab_outcomes.exceptions.StatisticalWarning")
def test_truncation_clips_weights(cohort: pd.DataFrame, fitted: PropensityModel) -> None:
    trunc = PropensityModel(COVS, truncate=(5, 95)).fit(cohort)
    lo, hi = np.percentile(fitted.weights_, [5, 95])
    assert trunc.weights_.min() == pytest.approx(lo)
    assert trunc.weights_.max() == pytest.approx(hi)


def test_single_arm_raises(cohort: pd.DataFrame) -> None:
    with pytest.raises(AnalysisError, match="at least two arms"):
        PropensityModel(COVS).fit(cohort.assign(arm="rest_only"))


def test_missing_reference_or_column_raises(cohort: pd.DataFrame) -> None:
    sub = cohort[cohort["arm"] != "rest_only"]
    with pytest.raises(AnalysisError, match="Reference arm"):
        PropensityModel(COVS).fit(sub)
    with pytest.raises(AnalysisError, match="missing"):
        PropensityModel(["bmi"]).fit(cohort)


def test_complete_separation_raises() -> None:
    x = np.linspace(-3, 3, 300)
    arm = np.where(x < -1, "rest_only", np.where(x < 1, "stretching_only", "strength_graded_running"))
    with pytest.raises(AnalysisError, match="separation"):
        PropensityModel(["x"]).fit(pd.DataFrame({"x": x, "arm": arm}))


def test_poor_overlap_warns() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=600)
    p = 1 / (1 + np.exp(-4 * x))
    arm = np.where(rng.random(600) < p, "strength_graded_running", "rest_only")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        PropensityModel(["x"]).fit(pd.DataFrame({"x": x, "arm": arm}))
    messages = [str(w.message) for w in caught if issubclass(w.category, StatisticalWarning)]
    assert any(m.startswith("Poor overlap") for m in messages)
    assert any(m.startswith("Extreme weights") for m in messages)


R_GLM = """
d <- read.csv(commandArgs(TRUE)[1])
d$y <- d$arm == "strength_graded_running"
d$sex <- factor(d$sex, c("female", "male"))
f <- glm(y ~ weekly_km_before_injury + symptom_weeks + sex, binomial, d)
p <- fitted(f)
w <- ifelse(d$y, mean(d$y) / p, (1 - mean(d$y)) / (1 - p))
write.csv(data.frame(coef = coef(f), se = sqrt(diag(vcov(f)))), commandArgs(TRUE)[2])
write.csv(data.frame(w = w), commandArgs(TRUE)[3], row.names = FALSE)
"""


@pytest.mark.r
@pytest.mark.skipif(
    shutil.which("Rscript") is None and not os.environ.get("CI"),
    reason="Rscript is not installed (required in CI)",
)
def test_two_arm_model_matches_r_glm(cohort: pd.DataFrame, tmp_path: Path) -> None:
    """Two arms: the multinomial logit reduces to R's binomial ``glm`` (code in ``R_GLM``)."""
    two = cohort[cohort["arm"] != "stretching_only"].reset_index(drop=True)
    data, coefs, weights, script = (tmp_path / f for f in ("d.csv", "c.csv", "w.csv", "glm.R"))
    two.to_csv(data, index=False)
    script.write_text(R_GLM, encoding="utf-8")
    subprocess.run(["Rscript", str(script), str(data), str(coefs), str(weights)], check=True,
                   capture_output=True)
    r_coef = pd.read_csv(coefs, index_col=0)
    fitted = PropensityModel(COVS).fit(two)
    ours = fitted.summary.set_index("term")
    np.testing.assert_allclose(ours["coef"].to_numpy(), r_coef["coef"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours["se"].to_numpy(), r_coef["se"].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(fitted.weights_.to_numpy(), pd.read_csv(weights)["w"], rtol=1e-6)


# ---------------------------------------------------------------- balance of every pair, subsets
def test_balance_pairs_cover_every_pair(cohort: pd.DataFrame, fitted: PropensityModel) -> None:
    pairs = fitted.balance_pairs()
    assert list(pairs.columns) == BALANCE_PAIRS_COLUMNS
    assert set(map(tuple, pairs[["arm", "vs_arm"]].drop_duplicates().to_numpy())) == {
        ("stretching_only", "rest_only"), ("strength_graded_running", "rest_only"),
        ("strength_graded_running", "stretching_only")}
    assert (pairs["population"] == "all").all()
    # the pairs against the reference arm are the balance table's rows
    vs_ref = pairs[pairs["vs_arm"] == "rest_only"].reset_index(drop=True)
    np.testing.assert_allclose(vs_ref["smd_after"], fitted.balance_["smd_after"])
    np.testing.assert_allclose(vs_ref["smd_before"], fitted.balance_["smd_before"])
    # the pair of the two active arms, by hand
    a, b = (cohort["arm"] == "strength_graded_running").to_numpy(), (cohort["arm"] == "stretching_only").to_numpy()
    x, w = cohort["symptom_weeks"].to_numpy(), fitted.weights_.to_numpy()
    row = pairs[(pairs["term"] == "symptom_weeks") & (pairs["vs_arm"] == "stretching_only")].iloc[0]
    assert row["smd_after"] == pytest.approx(smd(x[a], x[b], w[a], w[b]))


def test_balance_within_a_subset_and_its_warning(cohort: pd.DataFrame, fitted: PropensityModel) -> None:
    """A post-treatment subset (here: strength runners with long symptoms dropped) is not
    balanced by the baseline weights: flagged, and the pipeline's balance step warns."""
    from rehab_outcomes.survival.pipeline import _balance_pairs

    keep = ~((cohort["arm"] == "strength_graded_running") & (cohort["symptom_weeks"] > 20)).to_numpy()
    sub = fitted.balance_pairs(keep, "pain_free")
    assert (sub["population"] == "pain_free").all()
    bad = sub[sub["imbalanced_after"]]
    assert "symptom_weeks" in set(bad["term"])
    with pytest.warns(StatisticalWarning, match="IPTW balance fails .*pain_free: symptom_weeks"):
        both = _balance_pairs(fitted, keep)
    assert set(both["population"]) == {"all", "pain_free"}
    with pytest.raises(AnalysisError, match="mask"):
        fitted.balance_pairs(keep[:10])


# ---------------------------------------------------------------- weighted RMST (robust IJ SE)
R_RMST = """
library(survival)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
out <- NULL
for (tau in c(3, 7.5, 12)) for (a in sort(unique(d$arm))) {
  s <- d[d$arm == a, ]
  f <- survfit(Surv(time, event) ~ 1, data = s, weights = w)
  r <- residuals(f, times = tau, type = "sojourn")
  rm <- summary(f, rmean = tau)$table[["rmean"]]
  out <- rbind(out, data.frame(arm = a, tau = tau, rmean = rm, se = sqrt(sum((s$w * r)^2))))
}
write.csv(out, args[2], row.names = FALSE)
"""


@pytest.mark.skipif(
    shutil.which("Rscript") is None and not os.environ.get("CI"),
    reason="Rscript is not installed (required in CI)",
)
def test_weighted_rmst_matches_r(tmp_path: Path) -> None:
    """RMST with inverse probability weights: the area under R's weighted survfit and the robust
    SE from R's sojourn-time residuals, ``sqrt(sum((w * residuals(fit, tau, "sojourn"))^2))``
    (R's own ``print(fit, rmean =)`` SE treats the weights as counts)."""
    rng = np.random.default_rng(4)
    n = 400
    d = pd.DataFrame({
        "arm": rng.choice(["rest_only", "stretching_only", "strength_graded_running"], n),
        "time": np.round(rng.exponential(6, n), 0) + 1,  # ties, whole weeks
        "event": (rng.random(n) < 0.7).astype(int),
        "w": np.round(rng.uniform(0.3, 3.0, n), 4),
    })
    d.loc[d["arm"] == "rest_only", "time"] = np.minimum(d.loc[d["arm"] == "rest_only", "time"], 14)
    data, out, script = tmp_path / "d.csv", tmp_path / "r.csv", tmp_path / "rmst.R"
    d.to_csv(data, index=False, float_format="%.17g")
    script.write_text(R_RMST, encoding="utf-8")
    subprocess.run(["Rscript", str(script), str(data), str(out)], check=True, capture_output=True,
                   timeout=120)
    ref = pd.read_csv(out)
    for tau, r in ref.groupby("tau"):
        ours = rmst_table(d, "time", "event", tau=tau, weights_col="w",
                          beyond_follow_up="refuse").set_index("arm")
        r = r.set_index("arm")
        np.testing.assert_allclose(ours.loc[r.index, "rmst"], r["rmean"], rtol=1e-10)
        np.testing.assert_allclose(ours.loc[r.index, "se"], r["se"], rtol=1e-8)
    # integer weights are counts: Greenwood, as the unweighted table of the duplicated rows
    d["wi"] = rng.integers(1, 4, n)
    counts = rmst_table(d, "time", "event", tau=7.5, weights_col="wi")
    rep = d.loc[d.index.repeat(d["wi"])]
    np.testing.assert_allclose(counts["se"], rmst_table(rep, "time", "event", tau=7.5)["se"])


def test_rmst_refuses_tau_beyond_follow_up() -> None:
    d = pd.DataFrame({"t": [1.0, 2, 3, 4, 5, 6], "e": [1, 1, 0, 0, 1, 0],
                      "arm": ["rest_only"] * 3 + ["stretching_only"] * 3})
    with pytest.raises(AnalysisError, match="beyond the last follow-up of rest_only"):
        rmst_table(d, "t", "e", tau=5, beyond_follow_up="refuse")
    with pytest.warns(StatisticalWarning, match="carried forward"):
        rmst_table(d, "t", "e", tau=5)
    # a curve that has reached 0 needs no extrapolation
    d.loc[2, "e"] = 1
    assert len(rmst_table(d, "t", "e", tau=5, beyond_follow_up="refuse")) == 2
