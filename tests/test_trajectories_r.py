"""The pain trajectory mixed model against R's lme4 (tests/r/trajectories_reference.R).

Visits of a small simulated cohort (realistic shape: pain falls, runners leave care when they
recover) are written with ``week`` and R fits
``lmer(pain_nrs ~ (first + ns(week, df)) * arm + (1 + week10 | episode_id), REML = TRUE)``
(``first``: the first visit; also without it). Compared:
the natural spline basis and knots, fixed effects and their standard errors, variance
components and the predicted mean curve with its standard error. Without Rscript (and lme4)
these tests skip outside CI; with ``CI`` set they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rehab_outcomes.simulation import simulate_cohort
from rehab_outcomes.survival.trajectories import (
    NaturalSpline,
    PainTrajectoryModel,
    weeks_since_first_visit,
)

R_SCRIPT = Path(__file__).parent / "r" / "trajectories_reference.R"
pytestmark = [
    pytest.mark.r,
    pytest.mark.skipif(
        shutil.which("Rscript") is None and not os.environ.get("CI"),
        reason="Rscript is not installed (required in CI)",
    ),
]
#: Agreement required with lme4 (relative); measured agreement is about 1e-5.
RTOL = 1e-3


@pytest.fixture(scope="module", params=[(300, 4, 3, True), (250, 3, 17, True),
                                        (250, 3, 5, False)],
                ids=["df4", "df3", "df3_no_first_visit"])
def reference(request, tmp_path_factory):
    n, df, seed, first = request.param
    cohort = simulate_cohort(n, seed=seed)
    visits, episodes = cohort.visits, cohort.episodes
    model = PainTrajectoryModel(spline_df=df, first_visit=first).fit(visits, episodes)
    assert model.first_visit_term_ is first
    tmp = tmp_path_factory.mktemp(f"traj{df}")
    d = weeks_since_first_visit(visits, episodes)
    d[["episode_id", "arm", "week", "pain_nrs"]].to_csv(
        tmp / "visits.csv", index=False, lineterminator="\n", float_format="%.17g")
    pd.DataFrame({"week": model.predicted_["week"].unique()}).to_csv(tmp / "grid.csv",
                                                                     index=False)
    proc = subprocess.run(
        ["Rscript", str(R_SCRIPT), str(tmp / "visits.csv"), str(tmp / "grid.csv"), str(tmp),
         str(df), str(int(first))],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = {p.stem: pd.read_csv(p) for p in tmp.glob("*.csv") if p.stem not in ("visits", "grid")}
    return df, d, model, ref


def _r_term(term: str, df: int) -> str:
    term = term.replace("(Intercept)", "intercept").replace(f"ns(week, df = {df})", "week_ns")
    term = re.sub(r"arm(\w+)", r"arm:\1", term)
    return re.sub(r"^first", "first_visit", term)


def test_lme4_converged_cleanly(reference):
    df, d, model, ref = reference
    assert ref["fit"]["messages"].iloc[0] == 0
    assert model.converged_ and not model.boundary_


def test_spline_basis_matches_splines_ns(reference):
    df, d, model, ref = reference
    knots = ref["knots"]["knot"].to_numpy()
    np.testing.assert_allclose(model.spline_.knots_, knots[:-2], rtol=1e-14)
    np.testing.assert_allclose(model.spline_.boundary_knots_, knots[-2:], rtol=1e-14)
    basis = ref["basis"]
    mine = NaturalSpline(df).fit(d["week"].to_numpy()).transform(basis["x"].to_numpy())
    np.testing.assert_allclose(mine, basis.drop(columns="x").to_numpy(), rtol=0, atol=1e-12)


def test_fixed_effects_match_lmer(reference):
    df, d, model, ref = reference
    r = ref["fixef"].assign(term=lambda t: t["term"].map(lambda x: _r_term(x, df)))
    s = model.summary.set_index("term").loc[r["term"]]
    assert sorted(model.summary["term"]) == sorted(r["term"])
    np.testing.assert_allclose(s["coef"], r["estimate"], rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(s["se"], r["se"], rtol=RTOL)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(s["upper"] - s["lower"], 2 * z * r["se"].to_numpy(), rtol=RTOL)


def test_variance_components_match_varcorr(reference):
    df, d, model, ref = reference
    vc = ref["varcorr"].set_index("component")["estimate"]
    mine = model.variance_components_.set_index("component")["estimate"]
    np.testing.assert_allclose(
        [mine["intercept_var"], mine["week_var"] * 100, mine["residual_var"]],
        vc[["intercept_var", "week10_var", "residual_var"]], rtol=RTOL)
    # the covariance may be near 0: compare it on the scale of the correlation
    sd = np.sqrt(vc["intercept_var"] * vc["week10_var"])
    assert abs(mine["intercept_week_cov"] * 10 - vc["intercept_week10_cov"]) < RTOL * sd


def test_predicted_curve_matches_lmer(reference):
    df, d, model, ref = reference
    r = ref["pred"]
    m = model.predicted_.merge(r, on=["arm", "week"], validate="one_to_one")
    assert len(m) == len(model.predicted_) == len(r)
    np.testing.assert_allclose(m["pain_nrs"], m["fit"], rtol=RTOL, atol=1e-6)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose((m["upper"] - m["lower"]) / (2 * z), m["se"], rtol=RTOL)
