"""The Cox engine at scale: order invariance on 200k rows, and 1M rows against lifelines."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest

from rehab_outcomes.survival import CoxPH

COVS = [f"x{i}" for i in range(8)]


def _data(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows, 8 covariates, whole-day times in weeks (heavy ties), ~30 % censored."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(COVS)))
    t_ev = np.ceil(rng.exponential(70 / np.exp(X @ np.linspace(-0.3, 0.3, len(COVS)))))
    t_ce = np.ceil(rng.exponential(170, n))
    df = pd.DataFrame(X, columns=COVS)
    df["t"] = np.minimum(t_ev, t_ce) / 7
    df["e"] = (t_ev <= t_ce).astype(int)
    df["site"] = rng.integers(0, 40, n).astype(str)
    df["region"] = rng.integers(0, 3, n)
    df["w"] = rng.uniform(0.5, 2.0, n).round(2)
    return df


def _fit(df: pd.DataFrame, **kw) -> CoxPH:
    return CoxPH().fit(df, "t", "e", covariates=COVS, group_col=None, cluster_col="site", **kw)


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return _data(200_000)


@pytest.mark.parametrize("kw", [{}, {"weights_col": "w", "strata_col": "region"}],
                         ids=["plain", "weighted_strata"])
def test_fit_is_invariant_to_row_order(big, kw):
    perm = np.random.default_rng(1).permutation(len(big))
    ref = _fit(big, **kw)
    fit = _fit(big.iloc[perm], **kw)
    assert fit.n_ == ref.n_ == len(big) and fit.n_events_ == ref.n_events_
    assert ref.converged_ and fit.n_iter_ == ref.n_iter_
    for attr in ("params_", "se_", "robust_se_"):
        np.testing.assert_allclose(getattr(fit, attr), getattr(ref, attr), rtol=1e-10)
    np.testing.assert_allclose(fit.loglik_, ref.loglik_, rtol=1e-12)
    # residuals follow the rows: undo the permutation and compare
    back = np.empty_like(fit.score_residuals_)
    back[perm] = fit.score_residuals_
    np.testing.assert_allclose(back, ref.score_residuals_, rtol=1e-8, atol=1e-10)


def test_scores_vanish_and_residuals_sum_to_the_score(big):
    fit = _fit(big)
    # at the estimate the score is zero, and it is the column sum of the score residuals
    assert np.abs(fit._score).max() < 1e-6 * len(big)
    np.testing.assert_allclose(fit.score_residuals_.sum(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(fit.params_, np.linspace(-0.3, 0.3, len(COVS)), atol=0.02)


@pytest.mark.slow
def test_million_rows_fast_and_agree_with_lifelines():
    from lifelines import CoxPHFitter

    df = _data(1_000_000)
    start = time.perf_counter()
    fit = _fit(df)
    assert time.perf_counter() - start < 15
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ll = CoxPHFitter().fit(df[[*COVS, "t", "e"]], "t", "e",
                               fit_options={"precision": 1e-10})
    np.testing.assert_allclose(fit.params_.to_numpy(), ll.params_[COVS].to_numpy(),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fit.se_.to_numpy(), ll.standard_errors_[COVS].to_numpy(),
                               rtol=1e-4)
