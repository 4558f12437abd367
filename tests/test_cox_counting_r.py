"""Counting-process Cox ``(start, stop]`` against R's ``coxph`` (tests/r/cox_counting_reference.R).

The data are episode-weeks with time-varying covariates (the week's change in running minutes,
strength sessions), a fixed one (age), ties (whole weeks), delayed entry, four strata (site),
non-integer case weights that vary within an episode, and the episode as cluster. ``cox_zph``
of counting-process fits is compared with R's ``cox.zph`` on these data, on data with
non-integer late entries (tests/r/zph_reference.R), and on right-censored data split into
``(start, stop]`` pieces, where R gives the unsplit result. The R tests skip without Rscript
outside CI; with ``CI`` set they fail instead. The splitting test of the fit needs no R.
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
from rehab_outcomes.survival import CoxPH, cox_zph

R_SCRIPT = Path(__file__).parent / "r" / "cox_counting_reference.R"
R_ZPH = Path(__file__).parent / "r" / "zph_reference.R"
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


def _whole_and_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Right-censored data (whole weeks, strata, weights) and the same follow-up cut in pieces."""
    rng = np.random.default_rng(3)
    n = 300
    x1, x2 = rng.normal(size=n), rng.binomial(1, 0.4, n).astype(float)
    df = pd.DataFrame({
        "id": np.arange(n), "site": rng.choice(["a", "b", "c"], n),
        "time": np.ceil(rng.exponential(10 * np.exp(-0.5 * x1 + 0.3 * x2))),
        "event": rng.binomial(1, 0.7, n), "x1": x1, "x2": x2,
        "w": rng.uniform(0.5, 2.0, n),
    })
    return df, _split(df, rng)


def test_splitting_follow_up_leaves_the_fit_unchanged():
    df, split = _whole_and_split()
    n = len(df)
    kw = {"covariates": ["x1", "x2"], "strata_col": "site", "cluster_col": "id",
          "weights_col": "w", "group_col": None}
    whole = CoxPH().fit(df, "time", "event", **kw)
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


ZPH_MODELS = {  # tests/r/zph_reference.R model tag -> CoxPH.fit keywords
    "plain": {},
    "full": {"strata_col": "site", "weights_col": "w", "cluster_col": "id"},
}


def _zph_both(df: pd.DataFrame, tmp: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """``cox_zph`` of the ``ZPH_MODELS`` fits of ``df`` and R's ``cox.zph`` of the same fits."""
    path = tmp / "data.csv"
    df.to_csv(path, index=False, lineterminator="\n", float_format="%.17g")
    subprocess.run(["Rscript", str(R_ZPH), str(path), str(tmp / "zph.csv")],
                   check=True, capture_output=True, text=True, timeout=120)
    entry = "start" if "start" in df.columns else None
    ours = {}
    for tag, kw in ZPH_MODELS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = CoxPH().fit(df, "time", "event", covariates=["x1", "x2"], entry_col=entry,
                              group_col=None, **kw)
        ours[tag] = cox_zph(fit)
    return ours, pd.read_csv(tmp / "zph.csv")


def _assert_zph_equal(z: pd.DataFrame, r: pd.DataFrame, rtol: float = 1e-6) -> None:
    assert z["term"].tolist() == r["term"].tolist()
    np.testing.assert_array_equal(z["df"].to_numpy(), r["df"].to_numpy())
    np.testing.assert_allclose(z["chisq"].to_numpy(), r["chisq"].to_numpy(), rtol=rtol)
    np.testing.assert_allclose(z["p"].to_numpy(), r["p"].to_numpy(), rtol=rtol)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.r
@requires_r
def test_counting_cox_zph_matches_r(weeks, model):
    """Late entries, whole-week ties, time-varying covariates, strata and weights."""
    df, ref = weeks
    z = cox_zph(_fit(df, **MODELS[model]))
    _assert_zph_equal(z, ref["zph"][ref["zph"]["model"] == model].reset_index(drop=True))
    assert z["outcome"].eq("stop").all()


def _late_entries(seed: int, n: int = 250) -> pd.DataFrame:
    """One row per subject, most entering late, some at non-integer times; half-week ties."""
    rng = np.random.default_rng(seed)
    start = np.where(rng.random(n) < 0.6, rng.integers(0, 8, n).astype(float), 0.0)
    start = np.where(rng.random(n) < 0.3, start + rng.uniform(0, 1, n).round(2), start)
    x1, x2 = rng.normal(size=n), rng.binomial(1, 0.5, n).astype(float)
    return pd.DataFrame({
        "id": np.arange(n), "site": rng.choice(["a", "b"], n), "start": start,
        "time": start + np.ceil(rng.exponential(6 * np.exp(-0.4 * x1), n) * 2) / 2,
        "event": rng.binomial(1, 0.75, n), "x1": x1, "x2": x2,
        "w": rng.uniform(0.3, 3.0, n).round(3),
    })


@pytest.mark.r
@requires_r
def test_counting_cox_zph_matches_r_with_non_integer_late_entries(tmp_path):
    ours, r = _zph_both(_late_entries(11), tmp_path)
    for tag, z in ours.items():
        _assert_zph_equal(z, r[r["model"] == tag].reset_index(drop=True))


@pytest.mark.r
@requires_r
def test_cox_zph_of_split_follow_up_is_the_unsplit_result_as_in_r(tmp_path):
    """R's ``cox.zph`` of right-censored data cut into ``(start, stop]`` pieces (covariates
    unchanged) equals that of the unsplit data: the risk sets, the Kaplan–Meier transform and
    the events are the same. ``cox_zph`` does the same and agrees with R on both."""
    df, split = _whole_and_split()
    (tmp_path / "whole").mkdir()
    (tmp_path / "split").mkdir()
    ours_whole, r_whole = _zph_both(df, tmp_path / "whole")
    ours_split, r_split = _zph_both(split, tmp_path / "split")
    np.testing.assert_allclose(r_split["chisq"], r_whole["chisq"], rtol=1e-10)
    for tag in ZPH_MODELS:
        rw = r_whole[r_whole["model"] == tag].reset_index(drop=True)
        rs = r_split[r_split["model"] == tag].reset_index(drop=True)
        _assert_zph_equal(ours_whole[tag], rw)
        _assert_zph_equal(ours_split[tag], rs)
        np.testing.assert_allclose(ours_split[tag]["chisq"], ours_whole[tag]["chisq"],
                                   rtol=1e-10)
