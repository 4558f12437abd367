"""Fair site comparison: case-mix expected shares, funnel limits, Spiegelhalter's overdispersion."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _dashboard_data import make_cohort
from lifelines import KaplanMeierFitter

from rehab_outcomes.contract import derive_outcomes
from rehab_outcomes.survival.casemix import (
    LIMITS,
    compare_sites,
    efron_baseline_cumhaz,
    funnel_limits,
    overdispersion,
)

COVARIATES = ["arm", "age_years", "sex", "weekly_km_before_injury", "baseline_pain_nrs"]


def cohort_with_case_mix(seed: int = 5, n_sites: int = 8, n: int = 4000) -> pd.DataFrame:
    """Sites that differ only in case mix (severity and arm), not in how well they treat."""
    rng = np.random.default_rng(seed)
    site = rng.integers(0, n_sites, n)
    severe = rng.random(n) < 0.15 + 0.6 * site / (n_sites - 1)  # later sites: more severe
    arm = np.where(rng.random(n) < 0.2 + 0.5 * site / (n_sites - 1), "rest_only",
                   "strength_graded_running")
    lp = 0.5 * (arm == "strength_graded_running") - 0.9 * severe
    t = rng.exponential(12.0 / np.exp(lp))
    c = rng.exponential(40.0, n)
    return pd.DataFrame({
        "site": [f"S{k}" for k in site], "arm": arm, "severe": severe.astype(float),
        "pain_free_weeks": np.minimum(t, c), "pain_free_event": (t <= c).astype(int),
    })


def test_case_mix_explains_crude_differences() -> None:
    df = cohort_with_case_mix()
    crude = compare_sites(df, ["arm"], 12.0, method="none")
    fair = compare_sites(df, ["arm", "severe"], 12.0, method="none")
    # without severity the severe sites look worse (and the mild ones better); with it, every
    # site does as expected
    assert (crude.table["band"] != "within").sum() >= 2
    assert crude.table.set_index("site").loc["S7", "z"] < -LIMITS["95"]
    assert (fair.table["band"] == "within").all()
    # Spiegelhalter's overdispersion: the crude z-scores are overdispersed, the fair ones not
    assert compare_sites(df, ["arm"], 12.0).tau2 > 0
    assert compare_sites(df, ["arm", "severe"], 12.0).tau2 == 0
    # observed is the site's own Kaplan–Meier estimate
    s0 = df[df.site == "S0"]
    km = KaplanMeierFitter().fit(s0["pain_free_weeks"], s0["pain_free_event"])
    obs = float(fair.table.set_index("site").loc["S0", "observed"])
    assert obs == pytest.approx(1 - km.predict(12.0), abs=1e-12)


def test_loss_to_follow_up_widens_the_limits() -> None:
    df = cohort_with_case_mix(n=3000)
    lost = df.copy()
    sel = (lost.site == "S3").to_numpy()
    cut = np.minimum(lost.loc[sel, "pain_free_weeks"], 6.0)
    lost.loc[sel, "pain_free_event"] = np.where(lost.loc[sel, "pain_free_weeks"] <= 6.0,
                                                lost.loc[sel, "pain_free_event"], 0)
    lost.loc[sel, "pain_free_weeks"] = cut
    lost.loc[sel & (np.random.default_rng(1).random(len(lost)) < 0.5), "pain_free_weeks"] += 10
    a = compare_sites(df, ["arm", "severe"]).table.set_index("site")
    b = compare_sites(lost, ["arm", "severe"]).table.set_index("site")
    assert b.loc["S3", "effective_n"] < a.loc["S3", "effective_n"]
    assert b.loc["S3", "effective_n"] < b.loc["S3", "n_used"]


def test_efron_baseline_matches_ties_by_hand() -> None:
    t = np.array([1.0, 1.0, 2.0, 3.0])
    e = np.array([1, 1, 1, 0])
    lp = np.zeros(4)
    # time 1: two tied events among 4: 1/4 + 1/(4 - 1/2 * 2); time 2: 1/2
    assert efron_baseline_cumhaz(t, e, lp, 2.0) == pytest.approx(1 / 4 + 1 / 3 + 1 / 2)
    assert efron_baseline_cumhaz(t, e, lp, 0.5) == 0.0


def test_overdispersion_is_winsorised_and_additive() -> None:
    z = np.array([-1.0, 0.5, 0.2, -0.3, 0.8, 12.0])
    se = np.full(6, 0.05)
    phi, tau2 = overdispersion(z, se)
    lo, hi = np.quantile(z, [0.1, 0.9])
    assert phi == pytest.approx(np.mean(np.clip(z, lo, hi) ** 2))
    n, w = 6, 1 / se**2
    assert tau2 == pytest.approx((n * phi - (n - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    assert overdispersion(z[:4], se[:4]) == (pytest.approx(np.nan, nan_ok=True), 0.0)
    phi0, tau0 = overdispersion(np.array([0.1, -0.2, 0.3, -0.1, 0.2]), np.full(5, 0.05))
    assert tau0 == 0.0 and phi0 < 1


def test_funnel_limits_narrow_and_cover() -> None:
    n = np.array([50.0, 500.0, 5000.0])
    lo95, hi95 = funnel_limits(0.4, n, LIMITS["95"])
    lo998, hi998 = funnel_limits(0.4, n, LIMITS["99.8"])
    assert np.all(np.diff(hi95) < 0) and np.all(np.diff(lo95) > 0)
    assert np.all(hi998 > hi95) and np.all(lo998 < lo95)
    assert hi95[-1] == pytest.approx(0.4 + 1.959964 * np.sqrt(0.24 / 5000), abs=1e-6)
    wide = funnel_limits(0.4, n, LIMITS["95"], tau2=0.001)[1]
    assert np.all(wide > hi95)


def test_compare_sites_on_the_dashboard_cohort() -> None:
    d = derive_outcomes(make_cohort())
    res = compare_sites(d, ["arm", "age_years", "sex", "baseline_pain_nrs"])
    assert list(res.table["site"]) == sorted(res.table["site"])
    assert res.n_model + res.n_dropped == len(d)
    assert 0 < res.target < 1


@pytest.mark.r
@pytest.mark.skipif(shutil.which("Rscript") is None and not os.environ.get("CI"),
                    reason="Rscript is not installed (required in CI)")
def test_expected_probability_matches_r_survfit_coxph(tmp_path: Path) -> None:
    df = cohort_with_case_mix(n=1500)
    df["time"] = np.round(df["pain_free_weeks"], 1)  # ties, so Efron's correction matters
    df["pain_free_weeks"] = df["time"]
    df.to_csv(tmp_path / "d.csv", index=False)
    script = tmp_path / "e.R"
    script.write_text(
        'suppressMessages(library(survival))\n'
        'd <- read.csv(commandArgs(TRUE)[1])\n'
        'fit <- coxph(Surv(time, pain_free_event) ~ arm + severe, data = d, ties = "efron")\n'
        'sf <- survfit(fit, newdata = d)\n'
        's <- summary(sf, times = 12)$surv\n'
        'write.csv(data.frame(site = d$site, p = 1 - as.numeric(s)), commandArgs(TRUE)[2], '
        'row.names = FALSE)\n', encoding="utf-8")
    subprocess.run(["Rscript", str(script), str(tmp_path / "d.csv"), str(tmp_path / "r.csv")],
                   check=True, capture_output=True, timeout=300)
    r = pd.read_csv(tmp_path / "r.csv")
    expected_r = r.groupby("site")["p"].mean()
    res = compare_sites(df, ["arm", "severe"], 12.0).table.set_index("site")
    np.testing.assert_allclose(res["expected"].to_numpy(), expected_r.loc[res.index].to_numpy(),
                               rtol=1e-6)
