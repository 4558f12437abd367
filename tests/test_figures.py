"""Tests of the figures: files written, deterministic SVG, sensible errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _secondary_data import cox_table, km_curve_table

from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.reporting.figures import (
    ARM_COLOURS,
    arm_label,
    plot_cumulative_incidence,
    plot_forest,
    plot_km,
    plot_love,
    plot_trajectories,
)


@pytest.fixture(scope="module")
def km() -> pd.DataFrame:
    return km_curve_table()


@pytest.fixture(scope="module")
def cuminc(km: pd.DataFrame) -> pd.DataFrame:
    out = km.assign(cum_incidence=1 - km["survival"], lower=1 - km["upper"], upper=1 - km["lower"])
    return out[["arm", "time", "n_at_risk", "cum_incidence", "lower", "upper"]]


@pytest.fixture(scope="module")
def balance() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "term": ["weekly_km_before_injury", "sex:male"] * 2,
            "arm": ["stretching_only"] * 2 + ["strength_graded_running"] * 2,
            "smd_before": [0.12, 0.17, 0.46, -0.21],
            "smd_after": [0.01, 0.0, 0.02, 0.03],
            "imbalanced_before": [True, True, True, True],
            "imbalanced_after": [False] * 4,
        }
    )


@pytest.fixture(scope="module")
def predicted() -> pd.DataFrame:
    weeks = np.arange(0.0, 13.0)
    rows = [
        pd.DataFrame({"arm": arm, "week": weeks, "pain_nrs": 6 + slope * weeks,
                      "lower": 5.7 + slope * weeks, "upper": 6.3 + slope * weeks})
        for arm, slope in [("rest_only", -0.1), ("stretching_only", -0.12),
                           ("strength_graded_running", -0.3)]
    ]
    return pd.concat(rows, ignore_index=True)


def _assert_written(paths: tuple[Path, Path], stem: Path) -> None:
    png, svg = paths
    assert png == stem.with_name(stem.name + ".png") and svg == stem.with_name(stem.name + ".svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "</svg>" in text
    assert "<dc:date>" not in text


def _assert_deterministic(fn, tmp_path: Path, name: str) -> str:
    a = fn(tmp_path / "a" / name)
    b = fn(tmp_path / "b" / name)
    _assert_written(a, tmp_path / "a" / name)
    assert a[1].read_bytes() == b[1].read_bytes()
    assert a[0].read_bytes() == b[0].read_bytes()
    return a[1].read_text(encoding="utf-8")


def test_km_figure(km: pd.DataFrame, tmp_path: Path) -> None:
    svg = _assert_deterministic(
        lambda s: plot_km(km, "Not yet running pain-free", s, xlabel="Weeks since first visit"),
        tmp_path, "km",
    )
    # the arm colours appear in the drawing (fill and line)
    for colour in ARM_COLOURS.values():
        assert colour.lower() in svg.lower()


def test_km_adds_time_zero_and_at_risk(km: pd.DataFrame, tmp_path: Path) -> None:
    from rehab_outcomes.reporting.figures import _at_risk

    d = km[km["arm"] == "rest_only"]
    counts = _at_risk(d["time"].to_numpy(), d["n_at_risk"].to_numpy(), np.array([0.0, 4.0, 1e6]))
    assert counts[0] == 80  # everybody at risk at time 0
    assert counts[1] == int(d.loc[d["time"] >= 4, "n_at_risk"].iloc[0])
    assert counts[2] == 0


def test_cumulative_incidence_figure(cuminc: pd.DataFrame, tmp_path: Path) -> None:
    _assert_deterministic(
        lambda s: plot_cumulative_incidence(cuminc, s, outcome_label="Re-injured"), tmp_path, "ci"
    )


def test_forest_figure(tmp_path: Path) -> None:
    cox = cox_table((1.9, 1.7, 2.1), (1.02, 0.9, 1.15))
    svg = _assert_deterministic(lambda s: plot_forest(cox, s, "Pain-free running"), tmp_path, "forest")
    assert svg.count("<path") > 3


def test_love_figure(balance: pd.DataFrame, tmp_path: Path) -> None:
    _assert_deterministic(lambda s: plot_love(balance, s), tmp_path, "love")


def test_trajectory_figure(predicted: pd.DataFrame, tmp_path: Path) -> None:
    observed = predicted[["arm", "week", "pain_nrs"]].assign(n=20)
    _assert_deterministic(lambda s: plot_trajectories(predicted, s, observed=observed), tmp_path, "traj")
    # without the band columns or observed means it still draws
    png, svg = plot_trajectories(predicted[["arm", "week", "pain_nrs"]], tmp_path / "plain")
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000


def test_empty_inputs_raise(tmp_path: Path, km: pd.DataFrame) -> None:
    with pytest.raises(AnalysisError, match="empty"):
        plot_km(km.iloc[:0], "x", tmp_path / "e1")
    with pytest.raises(AnalysisError, match="empty"):
        plot_forest(pd.DataFrame(columns=["term", "hr", "hr_lower", "hr_upper"]), tmp_path / "e2", "t")
    with pytest.raises(AnalysisError, match="empty"):
        plot_cumulative_incidence(None, tmp_path / "e3")
    with pytest.raises(AnalysisError, match="empty"):
        plot_love(pd.DataFrame(), tmp_path / "e4")
    with pytest.raises(AnalysisError, match="empty"):
        plot_trajectories(pd.DataFrame(columns=["arm", "week", "pain_nrs"]), tmp_path / "e5")
    with pytest.raises(AnalysisError, match="lacks columns"):
        plot_km(km.drop(columns="survival"), "x", tmp_path / "e6")
    with pytest.raises(AnalysisError, match="finite"):
        plot_forest(pd.DataFrame({"term": ["a"], "hr": [np.nan], "hr_lower": [1.0],
                                  "hr_upper": [2.0]}), tmp_path / "e7", "t")
    assert not list(tmp_path.glob("e*"))


def test_arm_labels() -> None:
    assert arm_label("rest_only") == "Rest only"
    assert arm_label("stretching_only") == "Stretching only"
    assert arm_label("strength_graded_running") == "Strength + graded running"
    assert arm_label("new_arm") == "New arm"
