"""Tests of the pain trajectory mixed model (no R needed; lme4 comparison in
tests/test_trajectories_r.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _secondary_data import TRUE_TRAJ, longitudinal_pain

from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival.trajectories import (
    OUTCOME_LABEL,
    TABLES,
    NaturalSpline,
    PainTrajectoryModel,
    gls_covariance,
    random_effects,
    readable_term,
    weeks_since_first_visit,
)

ARMS3 = ["rest_only", "stretching_only", "strength_graded_running"]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return longitudinal_pain()


@pytest.fixture(scope="module")
def linear(data: tuple[pd.DataFrame, pd.DataFrame]) -> PainTrajectoryModel:
    visits, episodes = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatisticalWarning)
        return PainTrajectoryModel(spline_df=None, first_visit=False).fit(visits, episodes)


@pytest.fixture(scope="module")
def spline(data: tuple[pd.DataFrame, pd.DataFrame]) -> PainTrajectoryModel:
    visits, episodes = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatisticalWarning)
        return PainTrajectoryModel().fit(visits, episodes)


def test_terms_are_readable(linear: PainTrajectoryModel, spline: PainTrajectoryModel) -> None:
    assert list(linear.summary.columns) == ["term", "coef", "se", "lower", "upper", "p"]
    assert list(linear.summary["term"]) == [
        "intercept",
        "arm:stretching_only",
        "arm:strength_graded_running",
        "week",
        "week:arm:stretching_only",
        "week:arm:strength_graded_running",
    ]
    assert list(spline.summary["term"]) == [
        "intercept", "arm:stretching_only", "arm:strength_graded_running",
        "first_visit", "week_ns1", "week_ns2", "week_ns3", "week_ns4",
        "first_visit:arm:stretching_only", "week_ns1:arm:stretching_only",
        "week_ns2:arm:stretching_only", "week_ns3:arm:stretching_only",
        "week_ns4:arm:stretching_only",
        "first_visit:arm:strength_graded_running", "week_ns1:arm:strength_graded_running",
        "week_ns2:arm:strength_graded_running", "week_ns3:arm:strength_graded_running",
        "week_ns4:arm:strength_graded_running",
    ]
    assert linear.converged_ and spline.converged_
    assert spline.outcome_label_ == OUTCOME_LABEL == "Pain (NRS 0–10) recorded at clinic visits"


def test_recovers_known_slopes(linear: PainTrajectoryModel) -> None:
    s = linear.summary.set_index("term")
    slope = TRUE_TRAJ["slope"]
    truth = {
        "intercept": TRUE_TRAJ["intercept"],
        "week": slope["rest_only"],
        "week:arm:stretching_only": slope["stretching_only"] - slope["rest_only"],
        "week:arm:strength_graded_running": slope["strength_graded_running"] - slope["rest_only"],
        "arm:strength_graded_running": TRUE_TRAJ["shift"]["strength_graded_running"],
    }
    for term, value in truth.items():
        row = s.loc[term]
        assert abs(row["coef"] - value) < 3.5 * row["se"], (term, row["coef"], value)
        assert row["lower"] < row["coef"] < row["upper"]
    # the strength arm's extra decline is detected, stretching's is not distinguishable
    assert s.loc["week:arm:strength_graded_running", "upper"] < 0
    assert s.loc["week", "coef"] == pytest.approx(slope["rest_only"], abs=0.03)


def test_spline_follows_a_straight_truth(linear: PainTrajectoryModel,
                                         spline: PainTrajectoryModel) -> None:
    """On linear data the spline curve stays close to the straight line."""
    m = linear.predicted_.merge(spline.predicted_, on=["arm", "week"], suffixes=("_l", "_s"))
    assert (m["pain_nrs_l"] - m["pain_nrs_s"]).abs().max() < 0.25


def test_predicted_population_line(linear: PainTrajectoryModel) -> None:
    pred = linear.predicted_
    assert list(pred.columns) == TABLES["trajectories_predicted"]
    assert list(pred["arm"].unique()) == ARMS3
    s = linear.summary.set_index("term")["coef"]
    row = pred[(pred["arm"] == "strength_graded_running") & (pred["week"] == 10)].iloc[0]
    expected = (
        s["intercept"] + s["arm:strength_graded_running"]
        + 10 * (s["week"] + s["week:arm:strength_graded_running"])
    )
    assert row["pain_nrs"] == pytest.approx(expected)
    assert (pred["lower"] <= pred["pain_nrs"]).all() and (pred["pain_nrs"] <= pred["upper"]).all()


def test_spline_prediction_and_week_zero(spline: PainTrajectoryModel) -> None:
    s = spline.summary.set_index("term")["coef"]
    pred = spline.predicted_.set_index(["arm", "week"])["pain_nrs"]
    # the basis is 0 at week 0; the first-visit terms give each arm its own week-0 mean
    assert pred[("rest_only", 0.0)] == pytest.approx(s["intercept"] + s["first_visit"])
    arm = "strength_graded_running"
    assert pred[(arm, 0.0)] - pred[("rest_only", 0.0)] == pytest.approx(
        s[f"arm:{arm}"] + s[f"first_visit:arm:{arm}"])
    basis = spline.spline_.transform([10.0])[0]
    arm = "stretching_only"
    expected = (s["intercept"] + s[f"arm:{arm}"]
                + sum(b * (s[f"week_ns{k + 1}"] + s[f"week_ns{k + 1}:arm:{arm}"])
                      for k, b in enumerate(basis)))
    assert pred[(arm, 10.0)] == pytest.approx(expected)
    again = spline.predict([0.0, 10.0], arm)
    assert again["pain_nrs"].tolist() == pytest.approx([pred[(arm, 0.0)], pred[(arm, 10.0)]])


def test_week_zero_difference_is_the_observed_one(spline: PainTrajectoryModel,
                                                  data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """With first-visit terms the model's week-0 arm differences are those of the first
    visits (a saturated mean at week 0); without them they come from the spline's start."""
    d = weeks_since_first_visit(*data)
    obs = d[d["week"] == 0].groupby("arm")["pain_nrs"].mean()
    c = spline.contrasts_.set_index(["arm", "week"])["difference"]
    for arm in ("stretching_only", "strength_graded_running"):
        assert c[(arm, 0.0)] == pytest.approx(obs[arm] - obs["rest_only"], abs=0.02)
    plain = PainTrajectoryModel(first_visit=False).fit(*data)
    assert not plain.first_visit_term_ and "first_visit" not in set(plain.summary["term"])
    s = plain.summary.set_index("term")["coef"]
    c0 = plain.contrasts_.set_index(["arm", "week"])["difference"]
    assert c0[("stretching_only", 0.0)] == pytest.approx(s["arm:stretching_only"])


def test_no_first_visits_in_an_arm_warns(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    visits, episodes = data
    d = weeks_since_first_visit(visits, episodes)
    drop = d[(d["week"] == 0) & (d["arm"] == "stretching_only")]
    keep = ~visits.set_index(["episode_id", "visit_date"]).index.isin(
        drop.set_index(["episode_id", "visit_date"]).index)
    shifted = episodes.copy()  # first visits are still the episodes' start dates
    with pytest.warns(StatisticalWarning, match="first visit"):
        m = PainTrajectoryModel().fit(visits[keep], shifted)
    assert not m.first_visit_term_


def test_fit_is_deterministic(data: tuple[pd.DataFrame, pd.DataFrame],
                              spline: PainTrajectoryModel) -> None:
    visits, episodes = data
    shuffled = visits.sample(frac=1.0, random_state=1)
    again = PainTrajectoryModel().fit(shuffled, episodes)
    pd.testing.assert_frame_equal(again.summary, spline.summary)


def test_observed_means(spline: PainTrajectoryModel, data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    obs = spline.observed_means_
    assert list(obs.columns) == TABLES["trajectories_observed"]
    assert obs["n"].sum() == len(data[0])
    assert list(obs["arm"].unique()) == ARMS3
    assert spline.trajectories_observed is obs and spline.trajectories_predicted is spline.predicted_


def test_calibration(spline: PainTrajectoryModel, data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    weeks = spline.calibration_weeks_
    assert list(weeks.columns) == TABLES["trajectories_calibration_weeks"]
    assert weeks["n"].sum() == len(data[0])
    np.testing.assert_allclose(weeks["diff"], weeks["observed"] - weeks["predicted"])
    # episode-specific fitted values average out the random effects within a week's visits:
    # they track the observed means much more closely than the population curve need to
    assert (weeks["observed"] - weeks["fitted"]).abs().mean() < 0.15
    cal = spline.calibration_.set_index("arm")
    assert list(cal.columns) == TABLES["trajectories_calibration"][1:]
    for arm in ARMS3:
        big = weeks[(weeks["arm"] == arm) & (weeks["n"] >= 30)]
        assert cal.loc[arm, "weeks"] == len(big)
        assert cal.loc[arm, "visits"] == big["n"].sum()
        assert cal.loc[arm, "mean_abs_diff"] == pytest.approx(big["diff"].abs().mean())
        assert cal.loc[arm, "mean_abs_diff_conditional"] == pytest.approx(
            (big["observed"] - big["fitted"]).abs().mean())
    # no dropout in these data and a correct mean model: observed means sit on the curve
    assert (cal["mean_abs_diff"] < 0.3).all()


def test_by_followup_pattern(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    visits, episodes = data
    model = PainTrajectoryModel(pattern_cuts=(10.0, 12.0)).fit(visits, episodes)
    pat = model.by_pattern_
    assert list(pat.columns) == TABLES["trajectories_by_pattern"]
    labels = model.followup_labels()
    assert labels == ["last visit before week 10", "last visit weeks 10–12",
                      "last visit after week 12"]
    assert set(pat["followup"]) <= set(labels)
    assert pat["n"].sum() == len(visits)
    d = weeks_since_first_visit(visits, episodes)
    last = d.groupby("episode_id")["week"].max()
    first_week = pat[pat["week"] == 0].groupby("followup")["episodes"].sum()
    assert first_week.get(labels[0], 0) == (last < 10).sum()
    assert first_week.get(labels[1], 0) == ((last >= 10) & (last <= 12)).sum()
    assert first_week.get(labels[2], 0) == (last > 12).sum()


def test_contrasts(spline: PainTrajectoryModel) -> None:
    c = spline.contrasts_
    assert list(c.columns) == TABLES["trajectories_contrasts"]
    assert set(c["arm"]) == {"stretching_only", "strength_graded_running"}
    assert c["week"].tolist() == [0.0, 4.0, 8.0, 12.0] * 2  # week 26 is beyond the data
    pred = spline.predicted_.set_index(["arm", "week"])["pain_nrs"]
    row = c[(c["arm"] == "strength_graded_running") & (c["week"] == 8)].iloc[0]
    assert row["difference"] == pytest.approx(
        pred[("strength_graded_running", 8.0)] - pred[("rest_only", 8.0)])
    s = spline.summary.set_index("term")["coef"]
    zero = c[(c["arm"] == "stretching_only") & (c["week"] == 0)].iloc[0]
    assert zero["difference"] == pytest.approx(
        s["arm:stretching_only"] + s["first_visit:arm:stretching_only"])
    assert (c["se"] > 0).all() and (c["lower"] < c["difference"]).all()


def test_tables(spline: PainTrajectoryModel) -> None:
    tables = spline.tables()
    assert set(tables) == set(TABLES)
    for name, cols in TABLES.items():
        assert list(tables[name].columns) == cols, name


def test_natural_spline_basis() -> None:
    x = np.linspace(0, 30, 301)
    ns = NaturalSpline(3).fit(x)
    b = ns.transform(x)
    assert b.shape == (301, 3)
    np.testing.assert_allclose(b[0], 0.0, atol=1e-15)
    np.testing.assert_allclose(ns.knots_, [10.0, 20.0])
    # linear beyond the boundary knots, with zero curvature there
    out = ns.transform([-2.0, -1.0, 0.0, 30.0, 31.0, 32.0])
    np.testing.assert_allclose(out[1] - out[0], out[2] - out[1], atol=1e-12)
    np.testing.assert_allclose(out[4] - out[3], out[5] - out[4], atol=1e-12)
    with pytest.raises(AnalysisError, match="distinct"):
        NaturalSpline(3).fit([1.0, 1.0])


def test_gls_covariance_matches_dense_formula() -> None:
    rng = np.random.default_rng(4)
    sizes = [3, 1, 4, 2]
    groups = np.repeat(["a", "b", "c", "d"], sizes)
    n = groups.size
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    z = np.column_stack([np.ones(n), rng.uniform(0, 2, n)])
    cov_re = np.array([[1.0, 0.3], [0.3, 0.5]])
    scale = 0.7
    V = scale * np.eye(n)
    start = 0
    for k in sizes:
        zi = z[start:start + k]
        V[start:start + k, start:start + k] += zi @ cov_re @ zi.T
        start += k
    dense = np.linalg.inv(X.T @ np.linalg.solve(V, X))
    np.testing.assert_allclose(gls_covariance(X, z, groups, cov_re, scale), dense, rtol=1e-12)
    # BLUPs: Ψσ² Z' V⁻¹ r per group
    r = rng.normal(size=n)
    b = random_effects(r, z, groups, cov_re, scale)
    start = 0
    for k in sizes:
        zi = z[start:start + k]
        Vi = V[start:start + k, start:start + k]
        np.testing.assert_allclose(b[start:start + k],
                                   np.tile(cov_re @ zi.T @ np.linalg.solve(Vi, r[start:start + k]),
                                           (k, 1)), rtol=1e-12)
        start += k
    with pytest.raises(AnalysisError, match="contiguous"):
        gls_covariance(X, z, groups[[0, 3, 1, 2, 4, 5, 6, 7, 8, 9]], cov_re, scale)


def test_readable_term() -> None:
    assert readable_term("C(arm, Treatment(reference='rest_only'))[T.stretching_only]") == (
        "arm:stretching_only"
    )
    assert readable_term("Intercept") == "intercept"


def test_errors(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    visits, episodes = data
    with pytest.raises(AnalysisError, match="missing"):
        PainTrajectoryModel().fit(visits.drop(columns="pain_nrs"), episodes)
    with pytest.raises(AnalysisError, match="no episode"):
        PainTrajectoryModel().fit(visits, episodes.iloc[1:])
    one_arm = episodes.assign(arm="rest_only")
    with pytest.raises(AnalysisError, match="two arms"):
        PainTrajectoryModel().fit(visits, one_arm)
    early = visits.copy()
    early.loc[0, "visit_date"] = early.loc[0, "visit_date"] - np.timedelta64(400, "D")
    with pytest.raises(AnalysisError, match="precede"):
        PainTrajectoryModel().fit(early, episodes)
    with pytest.raises(AnalysisError, match="spline_df"):
        PainTrajectoryModel(spline_df=0)


def test_non_convergence_warns(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    visits, episodes = data
    with pytest.warns(StatisticalWarning, match="converge"):
        m = PainTrajectoryModel(maxiter=1).fit(visits, episodes)
    assert not m.converged_


def test_unusable_start_values_fall_back(data: tuple[pd.DataFrame, pd.DataFrame],
                                         spline: PainTrajectoryModel,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A start that statsmodels cannot use (not positive definite) falls back to its own."""
    from rehab_outcomes.survival import trajectories

    monkeypatch.setattr(trajectories, "profiled_deviance_start",
                        lambda *a, **k: (-np.eye(2), True))
    visits, episodes = data
    m = PainTrajectoryModel().fit(visits, episodes)
    assert m.converged_
    np.testing.assert_allclose(m.summary["coef"], spline.summary["coef"], rtol=1e-3, atol=1e-4)
