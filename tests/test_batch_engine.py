"""The many-trials engine (survival.batch) agrees with CoxPH and survdiff on every trial."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rehab_outcomes.contract.schema import ARMS
from rehab_outcomes.exceptions import StatisticalWarning
from rehab_outcomes.planning.power import holm_reject
from rehab_outcomes.survival import CoxPH, holm, survdiff
from rehab_outcomes.survival.batch import (
    cox_batch,
    cox_groups_batch,
    logrank_batch,
    tie_structure,
)

TOL = 1e-6


def make_trials(n_trials: int = 12, n_per_arm: int = 30, seed: int = 7):
    """Trials with heavy ties (whole days, coarse) and about a third censored."""
    rng = np.random.default_rng(seed)
    n = 3 * n_per_arm
    arm = np.tile(np.repeat(np.arange(3), n_per_arm), (n_trials, 1))
    x = rng.normal(size=(n_trials, n))
    b = rng.integers(0, 2, (n_trials, n)).astype(float)
    lp = 0.5 * (arm == 2) + 0.15 * (arm == 1) + 0.4 * x - 0.3 * b
    t_ev = np.ceil(rng.exponential(30 / np.exp(lp)))
    t_ce = np.ceil(rng.exponential(60, (n_trials, n)))
    days = np.minimum(t_ev, t_ce).astype(np.int64)
    event = (t_ev <= t_ce).astype(np.int8)
    return days, event, arm, x, b


def frame(days, event, arm, x=None, b=None) -> pd.DataFrame:
    df = pd.DataFrame({"t": days / 7, "e": event, "arm": np.array(ARMS)[arm]})
    if x is not None:
        df["x"], df["b"] = x, b
    return df


@pytest.fixture(scope="module")
def trials():
    return make_trials()


def test_trials_have_ties_and_censoring(trials):
    days, event, *_ = trials
    for d, e in zip(days, event, strict=True):
        assert len(np.unique(d[e == 1])) < (e == 1).sum()  # tied event times
        assert 0.15 < 1 - e.mean() < 0.6


def test_cox_batch_with_covariates_matches_coxph(trials):
    days, event, arm, x, b = trials
    X = np.stack([arm == 1, arm == 2, x, b], axis=2).astype(float)
    fit = cox_batch(tie_structure(days / 7, event), X)
    assert fit.converged.all()
    for i in range(days.shape[0]):
        ref = CoxPH().fit(frame(days[i], event[i], arm[i], x[i], b[i]), "t", "e",
                          covariates=["arm", "x", "b"])
        np.testing.assert_allclose(fit.coef[i], ref.params_.to_numpy(), atol=TOL, rtol=0)
        np.testing.assert_allclose(fit.se[i], ref.se_.to_numpy(), atol=TOL, rtol=0)
        np.testing.assert_allclose(fit.loglik[i], ref.loglik_, atol=TOL, rtol=0)
        z_ref = ref.params_.to_numpy() / ref.se_.to_numpy()
        np.testing.assert_allclose(fit.z[i], z_ref, atol=TOL, rtol=0)


def test_cox_groups_batch_matches_coxph_and_general_engine(trials):
    days, event, arm, *_ = trials
    ties = tie_structure(days, event)
    fast = cox_groups_batch(ties, arm, 3)
    general = cox_batch(ties, np.stack([arm == 1, arm == 2], axis=2).astype(float))
    np.testing.assert_allclose(fast.coef, general.coef, atol=1e-9, rtol=0)
    np.testing.assert_allclose(fast.se, general.se, atol=1e-9, rtol=0)
    for i in range(days.shape[0]):
        ref = CoxPH().fit(frame(days[i], event[i], arm[i]), "t", "e", covariates=["arm"])
        np.testing.assert_allclose(fast.coef[i], ref.params_.to_numpy(), atol=TOL, rtol=0)
        np.testing.assert_allclose(fast.se[i], ref.se_.to_numpy(), atol=TOL, rtol=0)
        np.testing.assert_allclose(fast.loglik[i], ref.loglik_, atol=TOL, rtol=0)
        p_ref = ref.summary["p"].to_numpy()
        np.testing.assert_allclose(2 * stats.norm.cdf(-np.abs(fast.z[i])), p_ref, atol=TOL)


def test_logrank_batch_matches_survdiff(trials):
    days, event, arm, *_ = trials
    ties = tie_structure(days / 7, event)
    chisq, dof = logrank_batch(ties, arm, 3, [(0, 1, 2), (0, 1), (0, 2), (1, 2)])
    for i in range(days.shape[0]):
        t, e, g = days[i] / 7, event[i], arm[i]
        ref, ref_df = survdiff(t, e, g)
        assert abs(chisq[i, 0] - ref) < TOL and dof[i, 0] == ref_df == 2
        for j, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)], start=1):
            sel = (g == a) | (g == b)
            ref, ref_df = survdiff(t[sel], e[sel], (g[sel] == b).astype(np.intp))
            assert abs(chisq[i, j] - ref) < TOL and dof[i, j] == ref_df == 1


def test_logrank_default_is_all_groups_and_handles_an_empty_group():
    days, event, arm, *_ = make_trials(n_trials=3, seed=11)
    arm = np.where(arm == 1, 2, arm)  # group 1 has no rows: it does not count
    chisq, dof = logrank_batch(tie_structure(days, event), arm, 3)
    for i in range(3):
        ref, ref_df = survdiff(days[i] / 7.0, event[i], arm[i])
        assert dof[i, 0] == ref_df == 1
        assert abs(chisq[i, 0] - ref) < TOL


def test_integer_days_and_weeks_give_the_same_fits(trials):
    days, event, arm, *_ = trials
    a = cox_groups_batch(tie_structure(days, event), arm, 3)
    b = cox_groups_batch(tie_structure(days / 7, event), arm, 3)
    np.testing.assert_array_equal(a.coef, b.coef)


def test_tie_structure_efron_fractions():
    t = np.array([[2, 1, 2, 2, 3, 1]])
    e = np.array([[1, 1, 1, 0, 1, 0]])
    ties = tie_structure(t, e)
    np.testing.assert_array_equal(ties.time[0], [1, 1, 2, 2, 2, 3])
    np.testing.assert_array_equal(ties.is_first[0], [True, False, True, False, False, True])
    # time 1: one event of one; time 2: two events (fractions 0, 1/2) and a censored row
    np.testing.assert_allclose(ties.frac[0], [0, 0, 0, 0.5, 0, 0])
    assert ties.event[0].tolist() == [1, 0, 1, 1, 0, 1]


def test_a_group_without_events_is_flagged_not_converged():
    days, event, arm, *_ = make_trials(n_trials=4, seed=3)
    event = np.where(arm == 1, 0, event)  # stretching has no events in any trial
    fit = cox_groups_batch(tie_structure(days, event), arm, 3)
    assert not fit.converged.any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        ref = CoxPH().fit(frame(days[0], event[0], arm[0]), "t", "e", covariates=["arm"],
                          group_col=None)
    assert ref.params_.iloc[0] < -5 and fit.coef[0, 0] < -5  # both diverge to -infinity


def test_holm_rows_match_holm():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, (200, 3))
    expected = np.array([holm(row) for row in p]) < 0.05
    np.testing.assert_array_equal(holm_reject(p, 0.05), expected)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        tie_structure(np.ones(5), np.ones(5))
    ties = tie_structure(np.ones((2, 5)), np.ones((2, 5)))
    with pytest.raises(ValueError, match="trials × n × p"):
        cox_batch(ties, np.ones((2, 4, 1)))
