"""Weighted Kaplan–Meier variance against R's ``survfit`` (tests/r/weighted_km_reference.R).

R (survival 3.x, ``survfitKM``) uses the robust infinitesimal-jackknife variance by default as
soon as one case weight is non-integer, and Greenwood's formula on weighted counts for integer
weights. :class:`KaplanMeier` with ``variance="auto"`` follows the same rule; these tests compare
survival, ``std.err`` (R's scale: ``se(log S)`` for Greenwood, ``se(S)`` for robust) and the
three interval types. Without Rscript they skip outside CI; with ``CI`` set they fail instead.
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

from rehab_outcomes.survival.km import KaplanMeier

R_SCRIPT = Path(__file__).parent / "r" / "weighted_km_reference.R"
pytestmark = [
    pytest.mark.r,
    pytest.mark.skipif(
        shutil.which("Rscript") is None and not os.environ.get("CI"),
        reason="Rscript is not installed (required in CI)",
    ),
]
CASES = {  # case -> (KaplanMeier variance, weights column, robust expected)
    "nonint": ("auto", "w", True),
    "integer": ("auto", "wi", False),
    "forced": ("robust", None, True),
}


def _data(n: int, seed: int) -> pd.DataFrame:
    """Pain-free times (ties in whole days, censoring tied with events) plus one arm whose
    largest time is an event, so that its curve reaches 0."""
    df = make_cohort(n, seed)
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({
        "time": df["pain_free_weeks"].to_numpy(),
        "event": df["pain_free_event"].to_numpy(),
        "arm": df["arm"].astype(str).to_numpy(),
    })
    top = d["time"].max()
    tail = pd.DataFrame({"time": [top + 1, top + 2, top + 2], "event": [0, 1, 1],
                         "arm": ["stretching_only"] * 3})
    d = pd.concat([d, tail], ignore_index=True)
    d["w"] = np.round(rng.uniform(0.3, 3.0, len(d)), 4)
    d["wi"] = rng.integers(1, 4, len(d))
    return d


@pytest.fixture(scope="module", params=[(600, 7), (250, 19)], ids=["n600", "n250"])
def reference(request, tmp_path_factory):
    n, seed = request.param
    d = _data(n, seed)
    tmp = tmp_path_factory.mktemp(f"wkm{seed}")
    d.to_csv(tmp / "cohort.csv", index=False, lineterminator="\n", float_format="%.17g")
    subprocess.run(["Rscript", str(R_SCRIPT), str(tmp / "cohort.csv"), str(tmp)],
                   check=True, capture_output=True, text=True, timeout=120)
    ref = {p.stem: pd.read_csv(p) for p in tmp.glob("km_*.csv")}
    return d, ref


def _close(a, b, atol):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=atol,
                               equal_nan=True)


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
@pytest.mark.parametrize("case", list(CASES))
def test_weighted_km_matches_survfit(reference, case, conf_type):
    d, ref = reference
    variance, wcol, robust = CASES[case]
    r = ref[f"km_{case}_{conf_type}"]
    km = KaplanMeier(conf_type, variance=variance).fit(d, "time", "event", weights_col=wcol)
    assert km.robust_ is robust
    assert bool(r["logse"].iloc[0]) is (not robust)  # R's choice agrees with ours
    tab, se = km.table_, km.se_table
    assert len(tab) == len(r)
    assert (tab["arm"].to_numpy() == r["arm"].to_numpy()).all()
    _close(tab["time"], r["time"], 1e-12)
    _close(tab["n_at_risk"], r["n_risk"], 1e-9)
    _close(tab["n_events"], r["n_event"], 1e-9)
    _close(tab["survival"], r["surv"], 1e-10)
    _close(se["se"] if robust else se["se_log"], r["std_err"], 1e-8)
    _close(tab["lower"], r["lower"], 1e-8)
    _close(tab["upper"], r["upper"], 1e-8)
    # the curve that reaches 0 has a zero robust standard error there, as in R
    zero = tab["survival"].to_numpy() == 0
    assert zero.any()
    if robust:
        assert (se.loc[zero, "se"] == 0).all()
