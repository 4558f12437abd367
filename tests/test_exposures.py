"""Weekly exposures from training logs (survival/exposures.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rehab_outcomes.survival.exposures import WEEKLY_COLUMNS, session_steps, weekly_exposures


@pytest.fixture(scope="module")
def loadcap_small() -> dict[str, pd.DataFrame]:
    """A 1,500-runner load–capacity cohort (policy truth on 2,000 runners)."""
    from rehab_outcomes.simulation.loadcap_outputs import simulate_loadcap_cohort

    c = simulate_loadcap_cohort(1_500, 3, policy_truth_n=2_000)
    return {"episodes": c.episodes, "sessions": c.sessions, "truth": c.policy_truth}


def _log() -> tuple[pd.DataFrame, pd.DataFrame]:
    ep = pd.DataFrame({"episode_id": ["a"], "first_visit_date": pd.to_datetime(["2024-01-01"]),
                       "last_contact_date": pd.to_datetime(["2024-01-21"])})
    s = pd.DataFrame({
        "episode_id": ["a"] * 5,
        "session_date": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-09", "2024-01-10",
                                        "2024-01-16"]),
        "session_type": ["run", "run", "strength", "run", "run"],
        "run_minutes": [8.0, 8.0, 0.0, 12.0, 12.0], "walk_minutes": [16.0, 16.0, 0.0, 12.0, 12.0],
        "pain_during_nrs": pd.array([1, 4, 2, 1, 1], dtype="Int64"),
        "pain_next_day_nrs": pd.array([1, 2, None, None, None], dtype="Int64"),
        "cadence_spm": [160.0, 162.0, np.nan, 165.0, 170.0],
    })
    return s, ep


def test_step_up_and_rule_break() -> None:
    s, _ = _log()
    r = session_steps(s)
    assert r["step_up"].tolist() == [False, False, True, False]
    assert r["rule_break"].tolist() == [False, False, True, False]  # after pain 4 > 2


def test_weekly_exposures_by_hand() -> None:
    s, ep = _log()
    w = weekly_exposures(s, ep)
    assert list(w.columns) == WEEKLY_COLUMNS
    assert w["week"].tolist() == [0, 1, 2]
    assert w["run_minutes"].tolist() == [16.0, 12.0, 12.0]
    assert w["run_change"].tolist() == [16.0, -4.0, 0.0]
    assert w["strength_sessions"].tolist() == [0, 1, 0]
    assert w["rule_breaks"].tolist() == [0, 1, 0]
    np.testing.assert_allclose(w["cadence_change"], [0.0, 4.0, 9.0])
    # acute EWMA (span 7) at day 6 of daily minutes 8 (day 0) and 8 (day 2)
    lam = 2 / 8
    acute = 8 * lam * (1 - lam) ** 6 + 8 * lam * (1 - lam) ** 4
    assert np.isclose(w["acute_load"].iloc[0], acute)
    # uncoupled ratio: acute of week 1 over chronic of week 0
    assert np.isclose(w["acwr_uncoupled"].iloc[1], w["acute_load"].iloc[1] / w["chronic_load"].iloc[0])
    assert np.isnan(w["acwr_uncoupled"].iloc[0])


def test_simulated_log_breaks_more_in_graded_arm(loadcap_small: dict[str, pd.DataFrame]) -> None:
    w = weekly_exposures(loadcap_small["sessions"], loadcap_small["episodes"])
    assert w["week"].min() == 0 and (w["acute_load"] >= 0).all()
    by = w.merge(loadcap_small["episodes"][["episode_id", "arm"]]).groupby("arm")["step_ups"].mean()
    assert by["strength_graded_running"] > by["rest_only"]
