"""Unit tests of the Kaplan–Meier variance choice (Greenwood / robust infinitesimal jackknife)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.survival.km import KaplanMeier, km_arrays


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 80
    return pd.DataFrame({
        "t": np.ceil(rng.exponential(20, n)) / 7,  # whole days: ties, events tied with censoring
        "e": (rng.random(n) < 0.7).astype(int),
        "arm": rng.choice(["rest_only", "strength_graded_running"], n),
        "w": rng.uniform(0.2, 3.0, n),
        "one": 1.0,
    })


def test_unweighted_results_unchanged(data: pd.DataFrame) -> None:
    auto = KaplanMeier().fit(data, "t", "e")
    green = KaplanMeier(variance="greenwood").fit(data, "t", "e")
    ones = KaplanMeier().fit(data, "t", "e", weights_col="one")
    assert not auto.robust_ and not ones.robust_
    pd.testing.assert_frame_equal(auto.table_, green.table_)
    pd.testing.assert_frame_equal(auto.table_, ones.table_)


def test_non_integer_weights_switch_to_robust(data: pd.DataFrame) -> None:
    auto = KaplanMeier().fit(data, "t", "e", weights_col="w")
    assert auto.robust_
    green = KaplanMeier(variance="greenwood").fit(data, "t", "e", weights_col="w")
    assert not green.robust_
    pd.testing.assert_series_equal(auto.table_["survival"], green.table_["survival"])
    assert not np.allclose(auto.se_table["se"], green.se_table["se"])


def test_robust_variance_is_sum_of_squared_influences(data: pd.DataFrame) -> None:
    """IJ variance = Σ (w_i ∂S/∂w_i)², the derivative taken by central differences."""
    t, e, w = data["t"].to_numpy(), data["e"].to_numpy(float), data["w"].to_numpy()
    cur = km_arrays(t, e, w, robust=True)
    h = 1e-6
    infl = np.empty((t.size, cur["time"].size))
    for i in range(t.size):
        up, down = w.copy(), w.copy()
        up[i] += h
        down[i] -= h
        infl[i] = w[i] * (km_arrays(t, e, up)["surv"] - km_arrays(t, e, down)["surv"]) / (2 * h)
    np.testing.assert_allclose(cur["se_surv"], np.sqrt((infl**2).sum(axis=0)), rtol=1e-5,
                               atol=1e-9)


def test_robust_without_weights_is_close_to_greenwood(data: pd.DataFrame) -> None:
    rob = KaplanMeier(variance="robust").fit(data, "t", "e").se_table
    green = KaplanMeier().fit(data, "t", "e").se_table
    early = rob["survival"] > 0.3
    np.testing.assert_allclose(rob.loc[early, "se"], green.loc[early, "se"], rtol=0.15)


def test_bad_variance() -> None:
    with pytest.raises(AnalysisError, match="variance"):
        KaplanMeier(variance="jackknife")  # type: ignore[arg-type]
