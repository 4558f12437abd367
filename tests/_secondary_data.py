"""Small simulated inputs for the tests of IPTW, pain trajectories, claims and figures."""

from __future__ import annotations

import numpy as np
import pandas as pd

ARMS3 = ["rest_only", "stretching_only", "strength_graded_running"]

#: True multinomial-logit coefficients (vs rest_only) used by :func:`observational_cohort`.
TRUE_PS = {
    "stretching_only": {"intercept": -0.5, "weekly_km": 0.02, "symptom_weeks": 0.01, "sex:male": 0.3},
    "strength_graded_running": {
        "intercept": -1.5,
        "weekly_km": 0.05,
        "symptom_weeks": 0.03,
        "sex:male": -0.4,
    },
}


def observational_cohort(n: int = 3000, seed: int = 11) -> pd.DataFrame:
    """Episodes whose arm follows a known multinomial logit of weekly km, symptoms and sex."""
    rng = np.random.default_rng(seed)
    km = rng.lognormal(np.log(20), 0.5, n)
    sym = rng.gamma(2.0, 8.0, n)
    sex = np.where(rng.random(n) < 0.62, "female", "male")
    male = (sex == "male").astype(float)
    eta = np.column_stack(
        [np.zeros(n)]
        + [
            c["intercept"] + c["weekly_km"] * km + c["symptom_weeks"] * sym + c["sex:male"] * male
            for c in TRUE_PS.values()
        ]
    )
    p = np.exp(eta - eta.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(n)[:, None]
    code = (u > p.cumsum(axis=1)).sum(axis=1)
    return pd.DataFrame(
        {
            "arm": np.asarray(ARMS3)[code],
            "weekly_km_before_injury": km,
            "symptom_weeks": sym,
            "sex": sex,
        }
    )


#: True fixed effects used by :func:`longitudinal_pain`.
TRUE_TRAJ = {
    "intercept": 6.0,
    "slope": {"rest_only": -0.10, "stretching_only": -0.12, "strength_graded_running": -0.30},
    "shift": {"rest_only": 0.0, "stretching_only": 0.2, "strength_graded_running": -0.3},
}


def longitudinal_pain(
    n_per_arm: int = 60, n_visits: int = 10, seed: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Visits and episodes with linear pain trajectories and random intercepts and slopes."""
    rng = np.random.default_rng(seed)
    arms = np.repeat(ARMS3, n_per_arm)
    n = arms.size
    ids = np.array([f"ep{i:04d}" for i in range(n)])
    first = pd.Timestamp("2023-01-02") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    episodes = pd.DataFrame({"episode_id": ids, "arm": arms, "first_visit_date": first})
    b0 = rng.normal(0, 0.8, n)
    b1 = rng.normal(0, 0.05, n)
    gaps = rng.integers(7, 15, (n, n_visits))
    gaps[:, 0] = 0
    days = gaps.cumsum(axis=1)
    week = days / 7.0
    slope = np.array([TRUE_TRAJ["slope"][a] for a in arms])[:, None]
    shift = np.array([TRUE_TRAJ["shift"][a] for a in arms])[:, None]
    pain = TRUE_TRAJ["intercept"] + shift + b0[:, None] + (slope + b1[:, None]) * week
    pain = pain + rng.normal(0, 0.7, pain.shape)
    visits = pd.DataFrame(
        {
            "episode_id": np.repeat(ids, n_visits),
            "visit_date": np.repeat(first.to_numpy(), n_visits)
            + pd.to_timedelta(days.ravel(), unit="D"),
            "pain_nrs": pd.array(np.clip(np.rint(pain.ravel()), 0, 10).astype(int), dtype="Int64"),
            "run_minutes_week": rng.uniform(0, 120, n * n_visits),
            "strength_sessions_week": pd.array(rng.integers(0, 3, n * n_visits), dtype="Int64"),
        }
    )
    return visits, episodes


def cox_table(hr_strength: tuple[float, float, float], hr_stretch: tuple[float, float, float]) -> pd.DataFrame:
    """A tidy Cox table with the given ``(hr, lower, upper)`` for the two arm terms."""
    rows = []
    for term, (hr, lo, hi) in (
        ("arm:strength_graded_running", hr_strength),
        ("arm:stretching_only", hr_stretch),
    ):
        coef = np.log(hr)
        se = (np.log(hi) - np.log(lo)) / (2 * 1.959963984540054)
        p = float(2 * (1 - _phi(abs(coef / se))))
        rows.append((term, coef, se, se, hr, lo, hi, p))
    rows.append(("age_years", 0.01, 0.005, 0.005, np.exp(0.01), 1.0, 1.02, 0.05))
    return pd.DataFrame(rows, columns=["term", "coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p"])


def _phi(z: float) -> float:
    from math import erf, sqrt

    return 0.5 * (1 + erf(z / sqrt(2)))


def rmst_table(pf_diff: tuple[float, float, float], re_diff: tuple[float, float, float]) -> pd.DataFrame:
    """A tidy RMST table: ``(diff, lower, upper)`` vs rest for strength + graded running."""
    rows = []
    for outcome, tau, base, (d, lo, hi) in (
        ("pain_free", 52.0, 20.0, pf_diff),
        ("reinjury", 52.0, 35.0, re_diff),
    ):
        rows.append((outcome, "rest_only", tau, base, 1.0, 0.0, np.nan, np.nan, np.nan))
        rows.append((outcome, "stretching_only", tau, base - 0.2, 1.0, -0.2, -2.0, 1.6, 0.8))
        rows.append((outcome, "strength_graded_running", tau, base + d, 1.0, d, lo, hi, 0.01))
    return pd.DataFrame(
        rows,
        columns=["outcome", "arm", "tau", "rmst", "se", "diff_vs_rest", "diff_lower", "diff_upper", "p"],
    )


def km_summary_table() -> pd.DataFrame:
    """A tidy KM summary for both outcomes and all arms."""
    rows = []
    for outcome in ("pain_free", "reinjury"):
        for i, arm in enumerate(ARMS3):
            rows.append(
                (outcome, arm, 200, 120 - 10 * i, 10.0 - i, 8.0 - i, 12.0 - i,
                 0.9, 0.7, 0.55, 0.42, 0.35 - 0.05 * i)
            )
    return pd.DataFrame(
        rows,
        columns=["outcome", "arm", "n", "events", "median", "median_lower", "median_upper",
                 "surv_4w", "surv_8w", "surv_12w", "surv_26w", "surv_52w"],
    )


def km_curve_table(seed: int = 3, n_per_arm: int = 80) -> pd.DataFrame:
    """A KM table (``arm, time, n_at_risk, n_events, n_censored, survival, lower, upper``)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, arm in enumerate(ARMS3):
        t_event = rng.exponential(12.0 / (1 + 0.5 * i), n_per_arm)
        t_cens = rng.uniform(4, 60, n_per_arm)
        t = np.round(np.minimum(t_event, t_cens), 1)
        e = (t_event <= t_cens).astype(int)
        d = pd.DataFrame({"t": t, "e": e}).groupby("t")["e"].agg(["sum", "count"])
        times = d.index.to_numpy()
        ev = d["sum"].to_numpy()
        cens = d["count"].to_numpy() - ev
        at_risk = n_per_arm - np.concatenate([[0], np.cumsum(d["count"].to_numpy())[:-1]])
        surv = np.cumprod(1 - ev / at_risk)
        with np.errstate(divide="ignore", invalid="ignore"):
            gw = np.sqrt(np.cumsum(ev / (at_risk * np.maximum(at_risk - ev, 1))))
        frames.append(
            pd.DataFrame(
                {
                    "arm": arm,
                    "time": times,
                    "n_at_risk": at_risk,
                    "n_events": ev,
                    "n_censored": cens,
                    "survival": surv,
                    "lower": np.clip(surv * np.exp(-1.96 * gw), 0, 1),
                    "upper": np.clip(surv * np.exp(1.96 * gw), 0, 1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
