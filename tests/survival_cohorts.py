"""Small synthetic episode cohorts for the survival tests.

:func:`make_cohort` builds a frame with every column of the ``Episodes`` contract (arm and sex
categorical with the contract's levels, dates in whole days so that times in weeks are
``days / 7`` and ties are common), then passes it through ``derive_outcomes``. Effects are
"known-ish": the strength arm recovers faster, older runners and long symptom histories slower.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rehab_outcomes.contract.outcomes import derive_outcomes
from rehab_outcomes.contract.schema import ARMS, DIAGNOSES, EXIT_REASONS, SEXES

_STR = pd.StringDtype("pyarrow")


def make_cohort(
    n: int,
    seed: int,
    *,
    missing_bmi: float = 0.1,
    sites: tuple[str, ...] = ("north", "south", "east", "tiny"),
    site_probs: tuple[float, ...] = (0.4, 0.35, 0.23, 0.02),
    arm_probs: tuple[float, ...] = (0.35, 0.3, 0.35),
    hr_arm: tuple[float, ...] = (1.0, 1.05, 1.6),
    hr_reinjury_arm: tuple[float, ...] = (1.0, 0.96, 0.7),
    follow_up_days: int = 728,
) -> pd.DataFrame:
    """A contract-shaped cohort of ``n`` episodes with derived outcomes.

    Parameters
    ----------
    n, seed
        Number of episodes and random seed.
    missing_bmi
        Share of episodes with missing BMI.
    sites, site_probs
        Site labels and their shares (the default has one tiny site).
    arm_probs, hr_arm, hr_reinjury_arm
        Arm shares (in ``ARMS`` order) and hazard ratios for recovery and re-injury.
    follow_up_days
        Administrative end of follow-up after the first visit.

    Returns
    -------
    pandas.DataFrame
        Episodes plus ``pain_free_weeks``, ``pain_free_event``, ``reinjury_weeks``,
        ``reinjury_event``.
    """
    rng = np.random.default_rng(seed)
    arm_idx = rng.choice(len(ARMS), size=n, p=np.asarray(arm_probs))
    sex = rng.choice(SEXES, size=n, p=[0.6, 0.36, 0.04])
    age = np.clip(np.round(rng.normal(33, 9, n)), 16, 70).astype(int)
    bmi = np.round(np.clip(rng.normal(23.3, 2.8, n), 15, 45), 1)
    bmi[rng.random(n) < missing_bmi] = np.nan
    km = np.round(np.exp(rng.normal(np.log(20), 0.5, n)), 1)
    symptom = np.round(np.clip(rng.lognormal(np.log(16), 0.8, n), 0, 500), 1)
    pain = rng.integers(2, 10, n)
    kujala = np.clip(np.round(95 - 4 * pain + rng.normal(0, 6, n)), 0, 100)
    site = rng.choice(sites, size=n, p=np.asarray(site_probs))
    site_effect = {s: np.exp(0.15 * (i - len(sites) / 2)) for i, s in enumerate(sites)}

    lin = (
        np.log(np.asarray(hr_arm))[arm_idx]
        - 0.015 * (age - 33)
        - 0.3 * (symptom > 16)
        + 0.1 * (sex == "male")
        + np.log(np.array([site_effect[s] for s in site]))
    )
    base_rate = np.log(2) / 70.0  # median 10 weeks in the reference arm
    t_pf = rng.exponential(1.0 / (base_rate * np.exp(lin)))
    cured = rng.random(n) < 0.3 / np.exp(lin) ** 0.5  # some never reach pain-free running
    t_pf = np.where(cured, np.inf, t_pf)
    t_cens = np.minimum(rng.exponential(900.0, n), follow_up_days)
    t_pf_days = np.ceil(t_pf).clip(1, None)
    reached = t_pf_days <= t_cens
    lin_re = np.log(np.asarray(hr_reinjury_arm))[arm_idx] + 0.01 * (km - 20)
    t_re = np.ceil(rng.exponential(1.0 / (np.log(2) / 250.0 * np.exp(lin_re)))).clip(1, None)
    t_cens_days = np.floor(t_cens).astype(int)
    has_re = reached & (t_pf_days + t_re <= t_cens_days)

    first = pd.Timestamp("2022-01-03") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    pf_date = first + pd.to_timedelta(np.where(reached, t_pf_days, 0), unit="D")
    re_date = pf_date + pd.to_timedelta(np.where(has_re, t_re, 0), unit="D")
    last = first + pd.to_timedelta(t_cens_days, unit="D")
    exit_reason = np.where(t_cens_days >= follow_up_days, "completed", "lost_to_follow_up")
    assert set(exit_reason) <= set(EXIT_REASONS)

    episodes = pd.DataFrame(
        {
            "episode_id": pd.array([f"EP{i:06d}" for i in range(n)], dtype=_STR),
            "patient_key": pd.array([f"PK{seed:03d}x{i:07d}" for i in range(n)], dtype=_STR),
            "site": pd.array(site, dtype=_STR),
            "arm": pd.Categorical(np.asarray(ARMS)[arm_idx], categories=list(ARMS)),
            "diagnosis": pd.array(rng.choice(DIAGNOSES, size=n), dtype=_STR),
            "age_years": pd.array(age, dtype="Int64"),
            "sex": pd.Categorical(sex, categories=list(SEXES)),
            "bmi": bmi,
            "weekly_km_before_injury": km,
            "symptom_weeks": symptom,
            "baseline_pain_nrs": pd.array(pain, dtype="Int64"),
            "baseline_kujala": pd.array(kujala.astype(int), dtype="Int64"),
            "first_visit_date": first,
            "pain_free_run_date": pd.Series(pf_date).where(reached),
            "reinjury_date": pd.Series(re_date).where(has_re),
            "last_contact_date": last,
            "exit_reason": pd.array(exit_reason, dtype=_STR),
        }
    )
    return derive_outcomes(episodes)
