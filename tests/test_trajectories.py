"""Tests of the pain trajectory mixed model."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _secondary_data import TRUE_TRAJ, longitudinal_pain

from rehab_outcomes.exceptions import AnalysisError, StatisticalWarning
from rehab_outcomes.survival.trajectories import PainTrajectoryModel, readable_term


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return longitudinal_pain()


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, pd.DataFrame]) -> PainTrajectoryModel:
    visits, episodes = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatisticalWarning)
        return PainTrajectoryModel().fit(visits, episodes)


def test_terms_are_readable(fitted: PainTrajectoryModel) -> None:
    assert list(fitted.summary.columns) == ["term", "coef", "se", "lower", "upper", "p"]
    assert list(fitted.summary["term"]) == [
        "intercept",
        "arm:stretching_only",
        "arm:strength_graded_running",
        "week",
        "week:arm:stretching_only",
        "week:arm:strength_graded_running",
    ]
    assert fitted.converged_


def test_recovers_known_slopes(fitted: PainTrajectoryModel) -> None:
    s = fitted.summary.set_index("term")
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


def test_predicted_population_line(fitted: PainTrajectoryModel) -> None:
    pred = fitted.predicted_
    assert {"arm", "week", "pain_nrs"} <= set(pred.columns)
    assert list(pred["arm"].unique()) == ["rest_only", "stretching_only", "strength_graded_running"]
    s = fitted.summary.set_index("term")["coef"]
    row = pred[(pred["arm"] == "strength_graded_running") & (pred["week"] == 10)].iloc[0]
    expected = (
        s["intercept"] + s["arm:strength_graded_running"]
        + 10 * (s["week"] + s["week:arm:strength_graded_running"])
    )
    assert row["pain_nrs"] == pytest.approx(expected)
    assert (pred["lower"] <= pred["pain_nrs"]).all() and (pred["pain_nrs"] <= pred["upper"]).all()


def test_fit_is_deterministic(data: tuple[pd.DataFrame, pd.DataFrame], fitted: PainTrajectoryModel) -> None:
    visits, episodes = data
    shuffled = visits.sample(frac=1.0, random_state=1)
    again = PainTrajectoryModel().fit(shuffled, episodes)
    pd.testing.assert_frame_equal(again.summary, fitted.summary)


def test_observed_means(fitted: PainTrajectoryModel, data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    obs = fitted.observed_means_
    assert list(obs.columns) == ["arm", "week", "pain_nrs", "n"]
    assert obs["n"].sum() == len(data[0])


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


def test_non_convergence_warns(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    visits, episodes = data
    with pytest.warns(StatisticalWarning, match="converge"):
        m = PainTrajectoryModel(maxiter=1).fit(visits, episodes)
    assert not m.converged_
