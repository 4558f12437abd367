"""Unit tests of the Aalen–Johansen state occupation (no R needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from survival_cohorts import make_cohort

from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.survival.km import KaplanMeier
from rehab_outcomes.survival.multistate import (
    COLUMNS,
    STATES,
    AalenJohansen,
    multistate_intervals,
)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return make_cohort(600, 13)


@pytest.fixture(scope="module")
def fitted(cohort: pd.DataFrame) -> AalenJohansen:
    return AalenJohansen().fit(cohort)


def test_columns_and_milestones(fitted: AalenJohansen) -> None:
    tab = fitted.state_occupation_
    assert list(tab.columns) == COLUMNS
    assert list(tab["arm"].unique()) == ["rest_only", "stretching_only", "strength_graded_running"]
    for _arm, g in tab.groupby("arm"):
        assert set(g["time"]) >= {12.0, 26.0, 52.0}
        assert set(g.groupby("time")["state"].apply(tuple)) == {STATES}
        assert g["time"].is_monotonic_increasing
    summ = fitted.summary
    assert sorted(set(summ["time"])) == [12.0, 26.0, 52.0] and len(summ) == 3 * 3 * 3


def test_probabilities_sum_to_one(fitted: AalenJohansen) -> None:
    tab = fitted.state_occupation_.dropna(subset=["probability"])
    total = tab.groupby(["arm", "time"])["probability"].sum()
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    assert ((tab["probability"] >= -1e-15) & (tab["probability"] <= 1 + 1e-15)).all()
    ok = tab.dropna(subset=["lower"])
    assert ((ok["lower"] <= ok["probability"] + 1e-12) & (ok["probability"] <= ok["upper"] + 1e-12)).all()


def test_ever_pain_free_is_one_minus_km(cohort: pd.DataFrame, fitted: AalenJohansen) -> None:
    """running_pain_free + reinjured = 1 − KM of time to pain-free running, at every time."""
    km = KaplanMeier().fit(cohort)
    for arm, cur in km.curves_.items():
        times = cur["time"][cur["n_event"] > 0]
        at = fitted.at(times)
        at = at[at["arm"] == arm].pivot(index="time", columns="state", values="probability")
        np.testing.assert_allclose(at["running_pain_free"] + at["reinjured"],
                                   1 - cur["surv"][cur["n_event"] > 0], atol=1e-12)
        np.testing.assert_allclose(at["in_care"], cur["surv"][cur["n_event"] > 0], atol=1e-12)


def test_without_reinjury_aj_is_km_with_robust_se(cohort: pd.DataFrame) -> None:
    """With no re-injuries the model has two states: AJ = 1 − KM, and its IJ standard error is
    the robust (IJ) standard error of the Kaplan–Meier curve."""
    ep = cohort.assign(reinjury_date=pd.NaT)
    aj = AalenJohansen(milestones=()).fit(ep)
    km = KaplanMeier(variance="robust").fit(ep)
    tab = aj.state_occupation_
    assert (tab.loc[tab["state"] == "reinjured", "probability"] == 0).all()
    for arm in aj.arms_:
        g = tab[tab["arm"] == arm].pivot(index="time", columns="state", values=["probability", "se"])
        cur = km.curves_[arm]
        ev = cur["n_event"] > 0
        np.testing.assert_allclose(g.index, cur["time"][ev])
        np.testing.assert_allclose(g[("probability", "running_pain_free")], 1 - cur["surv"][ev],
                                   atol=1e-12)
        np.testing.assert_allclose(g[("se", "running_pain_free")], cur["se_surv"][ev], rtol=1e-9)
        np.testing.assert_allclose(g[("se", "in_care")], cur["se_surv"][ev], rtol=1e-9)


def test_intervals_times_in_whole_days(cohort: pd.DataFrame) -> None:
    iv = multistate_intervals(cohort)
    assert list(iv.columns) == ["id", "arm", "tstart", "tstop", "from_state", "to_state", "weight"]
    re = iv[iv["to_state"] == "reinjured"].merge(cohort, left_on="id", right_on="episode_id")
    days = (re["reinjury_date"] - re["first_visit_date"]).dt.days.to_numpy()
    assert (re["tstop"].to_numpy() == days / 7.0).all()  # exactly, so ties stay ties
    second = iv[iv["from_state"] == "running_pain_free"].set_index("id")["tstart"]
    first = iv[iv["to_state"] == "running_pain_free"].set_index("id")["tstop"]
    assert (second == first.loc[second.index]).all()
    assert (iv["tstop"] > iv["tstart"]).all()


def test_pain_free_at_first_visit_starts_there() -> None:
    d0 = pd.Timestamp("2024-01-01")
    ep = pd.DataFrame({
        "episode_id": ["a", "b", "c", "d"], "arm": "rest_only", "first_visit_date": d0,
        "pain_free_run_date": [d0, d0, None, d0 + pd.Timedelta(days=7)],
        "reinjury_date": [d0 + pd.Timedelta(days=14), None, None, None],
        "last_contact_date": [d0 + pd.Timedelta(days=21), d0, d0 + pd.Timedelta(days=28),
                              d0 + pd.Timedelta(days=7)],
    })
    iv = multistate_intervals(ep)
    assert iv[["id", "tstart", "tstop", "from_state", "to_state"]].values.tolist() == [
        ["a", 0.0, 2.0, "running_pain_free", "reinjured"],
        ["c", 0.0, 4.0, "in_care", "censored"],
        ["d", 0.0, 1.0, "in_care", "running_pain_free"],
    ]
    aj = AalenJohansen(milestones=(0.5, 3.0, 5.0)).fit(ep)
    assert aj.n_no_follow_up_ == 1
    # at risk at the first transition (week 1): a (pain-free since week 0), c and d
    assert aj.probability_at("rest_only", "running_pain_free", 0.5) == pytest.approx(1 / 3)
    # week 1: d becomes pain-free (1 of 2 in care); week 2: a, the only one then at risk
    # while pain-free (d was last seen at week 1), is re-injured
    assert aj.probability_at("rest_only", "in_care", 3.0) == pytest.approx(1 / 3)
    assert aj.probability_at("rest_only", "reinjured", 3.0) == pytest.approx(2 / 3)
    assert np.isnan(aj.probability_at("rest_only", "in_care", 5.0))  # after the last contact


def test_arm_without_transitions() -> None:
    d0 = pd.Timestamp("2024-01-01")
    ep = pd.DataFrame({
        "episode_id": list("abcd"), "arm": ["rest_only"] * 2 + ["stretching_only"] * 2,
        "first_visit_date": d0,
        "pain_free_run_date": [d0 + pd.Timedelta(days=7), None, None, None],
        "reinjury_date": pd.NaT,
        "last_contact_date": [d0 + pd.Timedelta(days=30)] * 4,
    })
    aj = AalenJohansen(milestones=(2.0,)).fit(ep)
    g = aj.state_occupation_.query("arm == 'stretching_only'")
    assert g["time"].tolist() == [2.0] * 3
    assert g["probability"].tolist() == [1.0, 0.0, 0.0]
    assert g["se"].tolist() == [0.0, 0.0, 0.0]


def test_weights_scale_free(cohort: pd.DataFrame, fitted: AalenJohansen) -> None:
    """Equal weights (any constant) reproduce the unweighted estimate and IJ standard errors."""
    w = AalenJohansen().fit(cohort.assign(w=2.5), weights_col="w").state_occupation_
    pd.testing.assert_frame_equal(w, fitted.state_occupation_, check_exact=False, rtol=1e-10)


def test_errors(cohort: pd.DataFrame, fitted: AalenJohansen) -> None:
    with pytest.raises(AnalysisError, match="missing"):
        AalenJohansen().fit(cohort.drop(columns="reinjury_date"))
    with pytest.raises(AnalysisError, match="state"):
        fitted.probability_at("rest_only", "cured", 10)
    with pytest.raises(AnalysisError, match="arm"):
        fitted.probability_at("surgery", "in_care", 10)
    iv = multistate_intervals(cohort)
    broken = iv.copy()
    broken.loc[broken["from_state"] == "running_pain_free", "tstart"] -= 1 / 14
    with pytest.raises(AnalysisError, match="contiguous"):
        AalenJohansen().fit_intervals(broken)
    with pytest.raises(AnalysisError, match="conf_type"):
        AalenJohansen(conf_type="logit")  # type: ignore[arg-type]
