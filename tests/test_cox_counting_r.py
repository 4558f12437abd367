"""Counting-process Cox ``(start, stop]`` against R's ``coxph`` (tests/r/cox_counting_reference.R).

The data are episode-weeks with time-varying covariates (the week's change in running minutes,
strength sessions), a fixed one (age), ties (whole weeks), delayed entry, four strata (site),
non-integer case weights that vary within an episode, and the episode as cluster. The R tests
skip without Rscript outside CI; with ``CI`` set they fail instead. The splitting test needs no R.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.survival import CoxPH

R_SCRIPT = Path(__file__).parent / "r" / "cox_counting_reference.R"
requires_r = pytest.mark.skipif(
    shutil.which("Rscript") is None and not os.environ.get("CI"),
    reason="Rscript is not installed (required in CI)",
)
COVS = ["run_change", "strength", "age_years"]
MODELS = {  # R model tag -> CoxPH.fit keywords
    "full": {"strata_col": "site", "cluster_col": "episode_id", "weights_col": "w"},
    "strata_cluster": {"strata_col": "site", "cluster_col": "episode_id"},
    "weights_cluster": {"cluster_col": "episode_id", "weights_col": "w"},
    "plain": {},
}


def make_weeks(n_episodes: int, seed: int, max_weeks: int = 30) -> pd.DataFrame:
    """Episode-weeks ``(start, stop]`` with a weekly re-injury hazard driven by the covariates.

    About 30 % of the episodes enter late (weeks 1–3); follow-up ends at the first event or at
    a random censoring week.
    """
    rng = np.random.default_rng(seed)
    sites = np.array(["north", "south", "east", "west"])
    rows = []
    for i in range(n_episodes):
        site = sites[rng.integers(0, 4)]
        age = float(rng.integers(18, 65))
        entry = int(rng.integers(0, 4)) if rng.random() < 0.3 else 0
        end = int(rng.integers(entry + 1, max_weeks + 1))
        for k in range(entry, end):
            change = float(rng.choice([-10, -5, 0, 0, 5, 10, 15]))
            strength = int(rng.integers(0, 4))
            lp = (-3.0 + 0.04 * change - 0.25 * strength + 0.01 * (age - 40)
                  + (0.3 if site == "east" else 0.0))
            event = rng.random() < 1 / (1 + np.exp(-lp))
            rows.append((f"EP{i:04d}", site, k, k + 1, int(event), change, strength, age,
                         round(float(rng.uniform(0.4, 2.5)), 4)))
            if event:
                break
    return pd.DataFrame(rows, columns=["episode_id", "site", "start", "stop", "event",
                                       "run_change", "strength", "age_years", "w"])


def _fit(df: pd.DataFrame, **kw) -> CoxPH:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPH().fit(df, "stop", "event", covariates=COVS, entry_col="start",
                           group_col=None, **kw)


@pytest.fixture(scope="module", params=[(600, 1), (400, 7)], ids=["n600", "n400"])
def weeks(request, tmp_path_factory):
    """Episode-week data and R's results on it."""
    n, seed = request.param
    df = make_weeks(n, seed)
    tmp = tmp_path_factory.mktemp(f"cc{seed}")
    df.to_csv(tmp / "weeks.csv", index=False, lineterminator="\n", float_format="%.17g")
    subprocess.run(
        ["Rscript", str(R_SCRIPT), str(tmp / "weeks.csv"), str(tmp)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    ref = {p.stem: pd.read_csv(p) for p in tmp.glob("*.csv") if p.stem != "weeks"}
    return df, ref


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.r
@requires_r
def test_counting_cox_matches_coxph(weeks, model):
    df, ref = weeks
    fit = _fit(df, **MODELS[model])
    r = ref["cox"][ref["cox"]["model"] == model]
    assert fit.terms_ == r["term"].tolist()
    assert fit.n_ == r["n"].iloc[0] and fit.n_events_ == r["nevent"].iloc[0]
    np.testing.assert_allclose(fit.params_, r["coef"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.loglik_, r["loglik"].iloc[0], rtol=1e-10)
    np.testing.assert_allclose(fit.se_, r["se"], rtol=1e-6)
    if "cluster_col" in MODELS[model]:
        np.testing.assert_allclose(fit.robust_se_, r["robust_se"], rtol=1e-6)
        assert fit.ci_se_ == "robust"


@pytest.mark.r
@requires_r
def test_counting_score_residuals_match_r(weeks):
    df, ref = weeks
    fit = _fit(df, **MODELS["full"])
    np.testing.assert_allclose(fit.score_residuals_, ref["score_full"].to_numpy(),
                               rtol=1e-6, atol=1e-8)


def _split(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Cut every row's ``(0, time]`` at 0–3 random times (some whole weeks, some not)."""
    pieces = []
    for _, row in df.iterrows():
        t = row["time"]
        cuts = rng.uniform(0, t, rng.integers(0, 4))
        cuts = np.where(rng.random(cuts.size) < 0.5, np.floor(cuts), cuts)
        bounds = np.unique(np.r_[0.0, cuts[(cuts > 0) & (cuts < t)], t])
        n = bounds.size - 1
        part = pd.DataFrame({c: [row[c]] * n for c in df.columns})
        part["start"], part["time"] = bounds[:-1], bounds[1:]
        part["event"] = 0
        part.loc[n - 1, "event"] = row["event"]
        pieces.append(part)
    return pd.concat(pieces, ignore_index=True)


def test_splitting_follow_up_leaves_the_fit_unchanged():
    rng = np.random.default_rng(3)
    n = 300
    x1, x2 = rng.normal(size=n), rng.binomial(1, 0.4, n).astype(float)
    df = pd.DataFrame({
        "id": np.arange(n), "site": rng.choice(["a", "b", "c"], n),
        "time": np.ceil(rng.exponential(10 * np.exp(-0.5 * x1 + 0.3 * x2))),
        "event": rng.binomial(1, 0.7, n), "x1": x1, "x2": x2,
        "w": rng.uniform(0.5, 2.0, n),
    })
    kw = {"covariates": ["x1", "x2"], "strata_col": "site", "cluster_col": "id",
          "weights_col": "w", "group_col": None}
    whole = CoxPH().fit(df, "time", "event", **kw)
    split = _split(df, rng)
    assert len(split) > 1.5 * n
    parts = CoxPH().fit(split, "time", "event", entry_col="start", **kw)
    for attr in ("params_", "se_", "robust_se_"):
        np.testing.assert_allclose(getattr(parts, attr), getattr(whole, attr), rtol=1e-10)
    np.testing.assert_allclose(parts.loglik_, whole.loglik_, rtol=1e-12)
    assert parts.n_events_ == whole.n_events_
    # entry before every time: the right-censored fit
    df["start"] = -1.0
    entered = CoxPH().fit(df, "time", "event", entry_col="start", **kw)
    np.testing.assert_allclose(entered.params_, whole.params_, rtol=1e-12)
    np.testing.assert_allclose(entered.robust_se_, whole.robust_se_, rtol=1e-12)


def test_start_must_precede_stop():
    df = pd.DataFrame({"start": [0.0, 2.0, 1.0], "stop": [1.0, 2.0, 3.0], "event": [1, 0, 1],
                       "x": [0.1, 0.5, 0.3]})
    with pytest.raises(AnalysisError, match="smaller than"):
        CoxPH().fit(df, "stop", "event", covariates=["x"], entry_col="start", group_col=None)


def test_cox_zph_refuses_counting_process_fits() -> None:
    import numpy as np
    import pandas as pd

    from rehab_outcomes.exceptions import AnalysisError
    from rehab_outcomes.survival.cox import CoxPH
    from rehab_outcomes.survival.zph import cox_zph

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"start": np.zeros(60), "stop": rng.exponential(5, 60) + 0.1,
                       "event": rng.integers(0, 2, 60), "x": rng.normal(size=60)})
    fit = CoxPH().fit(df, duration_col="stop", event_col="event", entry_col="start",
                      covariates=["x"])
    with pytest.raises(AnalysisError, match="counting-process"):
        cox_zph(fit)
