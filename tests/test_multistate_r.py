"""Aalen–Johansen state occupation against R's ``survfit`` (tests/r/multistate_reference.R).

The intervals built by :func:`multistate_intervals` are written to CSV and R fits
``survfit(Surv(tstart, tstop, to) ~ arm, id = id, istate = from)`` on them (default, log-log and
plain intervals, case weights, ``influence = TRUE``). R reports every distinct stop time; the
Python table has the event times and the milestones, compared where both have a row, and the
milestones against ``summary(fit, times = milestones)``. Without Rscript these tests skip outside
CI; with ``CI`` set they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from survival_cohorts import make_cohort

from rehab_outcomes.survival.multistate import STATES, AalenJohansen, multistate_intervals

R_SCRIPT = Path(__file__).parent / "r" / "multistate_reference.R"
pytestmark = [
    pytest.mark.r,
    pytest.mark.skipif(
        shutil.which("Rscript") is None and not os.environ.get("CI"),
        reason="Rscript is not installed (required in CI)",
    ),
]
CASES = {  # R case -> (AalenJohansen arguments, uses weights)
    "default": ({}, False),
    "loglog": ({"conf_type": "log-log"}, False),
    "plain": ({"conf_type": "plain"}, False),
    "weighted": ({}, True),
    "influence": ({"initial_variance": True}, False),
}
_D0 = pd.Timestamp("2024-01-01")


def _edge_episodes() -> pd.DataFrame:
    """Pain-free at the first visit, last contact on the pain-free date or the first visit
    (no follow-up), censoring tied with transitions, and an arm without any transition."""
    rows = [  # arm, pain-free day, re-injury day, last contact day
        ("rest_only", 0, None, 70), ("rest_only", 0, 14, 90), ("rest_only", 0, None, 0),
        ("rest_only", 14, None, 14), ("rest_only", 14, 28, 100), ("rest_only", None, None, 14),
        ("rest_only", 28, None, 84), ("rest_only", None, None, 0), ("rest_only", 35, 84, 84),
        ("rest_only", None, None, 91), ("rest_only", 14, None, 28), ("rest_only", 84, None, 120),
        ("stretching_only", None, None, 10), ("stretching_only", None, None, 30),
        ("stretching_only", None, None, 84),
        ("strength_graded_running", 7, 14, 20), ("strength_graded_running", 7, None, 7),
        ("strength_graded_running", 14, None, 60), ("strength_graded_running", None, None, 7),
        ("strength_graded_running", 21, 60, 60), ("strength_graded_running", None, None, 100),
    ]

    def day(x):
        return pd.NaT if x is None else _D0 + pd.Timedelta(days=x)

    return pd.DataFrame({
        "episode_id": [f"E{i:02d}" for i in range(len(rows))],
        "arm": [r[0] for r in rows],
        "first_visit_date": _D0,
        "pain_free_run_date": pd.to_datetime([day(r[1]) for r in rows]),
        "reinjury_date": pd.to_datetime([day(r[2]) for r in rows]),
        "last_contact_date": pd.to_datetime([day(r[3]) for r in rows]),
    })


def _cohort(kind: str) -> tuple[pd.DataFrame, tuple[float, ...]]:
    if kind == "edge":
        ep, milestones = _edge_episodes(), (1.0, 12.0, 26.0)
    else:
        ep, milestones = make_cohort(700, 5), (12.0, 26.0, 52.0)
    ep["w"] = np.round(np.random.default_rng(2).uniform(0.5, 2.0, len(ep)), 3)
    return ep, milestones


@pytest.fixture(scope="module", params=["cohort", "edge"])
def reference(request, tmp_path_factory):
    ep, milestones = _cohort(request.param)
    tmp = tmp_path_factory.mktemp(f"ms_{request.param}")
    multistate_intervals(ep, weights_col="w").to_csv(
        tmp / "intervals.csv", index=False, lineterminator="\n", float_format="%.17g")
    subprocess.run(
        ["Rscript", str(R_SCRIPT), str(tmp / "intervals.csv"), str(tmp),
         ",".join(f"{m:g}" for m in milestones)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    ref = {p.stem: pd.read_csv(p) for p in tmp.glob("*.csv") if p.stem != "intervals"}
    return request.param, ep, milestones, ref


def _close(a, b, atol):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=atol,
                               equal_nan=True)


def _key(df: pd.DataFrame) -> pd.DataFrame:
    # R writes times with 15 significant digits: match on rounded times
    return df.assign(key=np.round(df["time"].to_numpy(float), 9))


@pytest.mark.parametrize("case", list(CASES))
def test_state_occupation_matches_survfit(reference, case):
    kind, ep, milestones, ref = reference
    kwargs, weighted = CASES[case]
    aj = AalenJohansen(milestones=milestones, **kwargs).fit(
        ep, weights_col="w" if weighted else None)
    tab = _key(aj.state_occupation_)
    r = _key(ref[case])
    m = tab.merge(r, on=["arm", "key", "state"], suffixes=("", "_r"), validate="one_to_one")
    event_rows = tab[~tab["time"].isin(milestones)]
    assert len(event_rows) > 0
    # every event time of the Python table is a time R reports
    assert event_rows.merge(r, on=["arm", "key", "state"]).shape[0] == len(event_rows)
    assert set(tab["state"]) == set(STATES)
    _close(m["probability"], m["pstate"], 1e-10)
    _close(m["se"], m["std_err"], 1e-8)
    _close(m["lower"], m["lower_r"], 1e-8)
    _close(m["upper"], m["upper_r"], 1e-8)


@pytest.mark.parametrize("case", list(CASES))
def test_milestones_match_summary_survfit(reference, case):
    kind, ep, milestones, ref = reference
    kwargs, weighted = CASES[case]
    aj = AalenJohansen(milestones=milestones, **kwargs).fit(
        ep, weights_col="w" if weighted else None)
    at = aj.summary
    r = ref[f"{case}_at"]
    m = at.merge(r, on=["arm", "time", "state"], suffixes=("", "_r"), how="left")
    # R's summary drops times after the last follow-up of an arm; they are NaN here
    assert m.loc[m["pstate"].isna(), "probability"].isna().all()
    _close(m["probability"], m["pstate"], 1e-10)
    _close(m["se"], m["std_err"], 1e-8)
    # before an arm's first reported time R's summary pads the limits with 0; compare the
    # limits only after it (there they must agree)
    first = ref[case].groupby("arm")["time"].min()
    after = m["time"].to_numpy() >= m["arm"].map(first).to_numpy()
    _close(m.loc[after, "lower"], m.loc[after, "lower_r"], 1e-8)
    _close(m.loc[after, "upper"], m.loc[after, "upper_r"], 1e-8)
    for row in m.itertuples():
        assert aj.probability_at(row.arm, row.state, row.time) == pytest.approx(
            row.probability, nan_ok=True)


def test_initial_distribution_and_edge_cases(reference):
    kind, ep, milestones, ref = reference
    aj = AalenJohansen(milestones=milestones).fit(ep)
    default = ref["default"].set_index(["arm", "state"]).sort_index()
    influence = ref["influence"].set_index(["arm", "state"]).sort_index()
    if kind == "cohort":  # everyone starts in care: R's two variances coincide
        assert all(c["p0"].tolist() == [1.0, 0.0, 0.0] for c in aj.curves_.values())
        _close(default["std_err"], influence["std_err"], 1e-12)
        return
    assert aj.n_no_follow_up_ == 2
    assert aj.curves_["stretching_only"]["time"].size == 0  # no transition in this arm
    assert aj.curves_["rest_only"]["p0"].tolist() == [0.8, 0.2, 0.0]  # pain-free at week 0
    # R's influence=TRUE adds the initial-distribution variance: it differs for rest_only only
    assert not np.allclose(default.loc["rest_only", "std_err"],
                           influence.loc["rest_only", "std_err"])
    _close(default.loc["strength_graded_running", "std_err"],
           influence.loc["strength_graded_running", "std_err"], 1e-12)
