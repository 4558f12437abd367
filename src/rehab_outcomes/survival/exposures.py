"""Per episode-week training exposures from a validated ``sessions`` table (training logs).

:func:`session_steps` marks, for every logged run, whether it was a *step up* and whether that
step up broke the pain rule; :func:`weekly_exposures` aggregates the log to one row per
episode-week (week ``k`` = days ``[7k, 7k + 7)`` from the episode's first visit) with:

- ``run_minutes``: running minutes in the week (0 in a week without a logged run);
- ``run_change``: ``run_minutes`` minus the previous week's (the **primary load exposure**);
- ``acute_load`` and ``chronic_load``: exponentially weighted moving averages of daily run
  minutes with spans of 7 and 28 days (``lambda = 2 / (N + 1)``, Williams et al. 2017), at
  the last day of the week;
- ``acwr_uncoupled``: ``acute_load`` divided by the chronic load at the end of the *previous*
  week, so that the week's own load is not in the denominator ("uncoupled", Windt & Gabbett
  2019); ``NaN`` when that chronic load is 0;
- ``strength_sessions``: strength sessions logged in the week;
- ``cadence_change``: mean cadence of the week's runs minus the mean of the episode's first week
  with a logged cadence (steps per minute; ``NaN`` without a cadence);
- ``step_ups``, ``rule_breaks``, ``at_risk_break``: step ups made, step ups against the rule,
  and whether the week held a run after a rule signal (a step up there would break the rule);
- ``pain_during_max``: the week's highest pain during a session (``NaN`` without one).

**Step up and rule break.** A run is a step up when its run minutes exceed those of the
episode's previous logged run by more than :data:`STEP_TOLERANCE` (10 %: the walk–run stages grow
by at least 10 %, and continuous runs vary by less from session to session). The *rule signal* of
a run is pain during above :data:`PAIN_THRESHOLD` (2/10) or next-day pain worse than the morning
before it (the next-day pain of a session logged the day before that run; the last earlier
logged next-day pain if none). A step up whose previous run carried a rule signal is a *rule
break*. A missing next-day pain is read as "no signal" from that part. Logging gaps make both
counts lower bounds.

**Why weekly change, not the acute:chronic ratio.** The acute:chronic workload ratio (ACWR) has
known problems (Impellizzeri et al. 2020, *Int J Sports Physiol Perform* 15:907–913; Lolli et al.
2019): (1) *mathematical coupling*: in the classic ratio the acute week is part of the chronic
window, so the two are correlated by construction and the ratio is partly a function of itself;
(2) *ratio artefacts*: a ratio does not remove the denominator's influence, its distribution is
skewed, it is undefined or explosive for small chronic loads (the first weeks back from injury,
exactly the return-to-run period), and equal ratios hide very different absolute loads;
(3) *no causal basis*: the "sweet spot" thresholds came from post-hoc categorisation in
observational data, the ratio's association with injury is not robust to re-analysis, and no
mechanism says that capacity follows a 28-day average. The uncoupled version here removes (1)
only. We therefore report the ratio as descriptive and use the absolute **week-to-week change
in running minutes** as the primary load exposure: it is defined for every week, has the units
clinicians prescribe in, and is the quantity the graded programme controls.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from rehab_outcomes.exceptions import AnalysisError

#: Pain during a run above which the rule forbids a step up (NRS).
PAIN_THRESHOLD: Final = 2
#: Relative increase in run minutes over the previous run that counts as a step up.
STEP_TOLERANCE: Final = 0.10
#: Spans (days) of the acute and chronic exponentially weighted averages.
ACUTE_DAYS: Final = 7
CHRONIC_DAYS: Final = 28
DAYS_PER_WEEK: Final = 7

SESSION_COLUMNS: Final = (
    "episode_id", "session_date", "session_type", "run_minutes", "walk_minutes",
    "pain_during_nrs", "pain_next_day_nrs", "cadence_spm",
)
#: Columns of :func:`weekly_exposures`.
WEEKLY_COLUMNS: Final = [
    "episode_id", "week", "run_minutes", "run_change", "acute_load", "chronic_load",
    "acwr_uncoupled", "strength_sessions", "cadence_change", "step_ups", "rule_breaks",
    "at_risk_break", "pain_during_max", "logged",
]


def _check(sessions: pd.DataFrame) -> None:
    missing = [c for c in SESSION_COLUMNS if c not in sessions.columns]
    if missing:
        raise AnalysisError(f"sessions table lacks column(s) {', '.join(missing)}")


def session_steps(sessions: pd.DataFrame) -> pd.DataFrame:
    """The logged runs with their step ups and rule breaks.

    Parameters
    ----------
    sessions
        A validated sessions table (:class:`~rehab_outcomes.contract.schema.Sessions`).

    Returns
    -------
    pandas.DataFrame
        One row per run with run minutes > 0, sorted by episode and date: the session columns
        plus ``signal`` (the run carried a rule signal), ``step_up`` and ``rule_break``.

    Examples
    --------
    >>> s = pd.DataFrame({"episode_id": ["a"] * 3, "session_date": pd.to_datetime(
    ...     ["2024-01-01", "2024-01-03", "2024-01-05"]), "session_type": ["run"] * 3,
    ...     "run_minutes": [8.0, 8.0, 12.0], "walk_minutes": [16.0, 16.0, 12.0],
    ...     "pain_during_nrs": [1, 4, 1], "pain_next_day_nrs": [1, 2, None],
    ...     "cadence_spm": [165.0, None, 166.0]})
    >>> session_steps(s)[["step_up", "rule_break"]].to_numpy().tolist()
    [[False, False], [False, False], [True, True]]
    """
    _check(sessions)
    s = sessions.copy()
    s["session_date"] = pd.to_datetime(s["session_date"])
    s = s.sort_values(["episode_id", "session_date"], kind="mergesort").reset_index(drop=True)
    nd = pd.to_numeric(s["pain_next_day_nrs"], errors="coerce").astype(float)
    # the morning before each session: next-day pain of a session the day before, else the
    # last earlier logged next-day pain of the episode
    prev_nd = nd.groupby(s["episode_id"]).transform(lambda x: x.shift().ffill())
    key = s[["episode_id", "session_date"]].assign(nd=nd.to_numpy())
    day_before = (key.dropna(subset=["nd"]).groupby(["episode_id", "session_date"])["nd"].last()
                  .rename("nd_day_before").reset_index())
    day_before["session_date"] = day_before["session_date"] + pd.Timedelta(days=1)
    morning = s[["episode_id", "session_date"]].merge(day_before, how="left",
                                                      on=["episode_id", "session_date"])
    before = morning["nd_day_before"].to_numpy()
    before = np.where(np.isnan(before), prev_nd.to_numpy(), before)
    runs_mask = (pd.to_numeric(s["run_minutes"], errors="coerce") > 0).to_numpy()
    r = s.loc[runs_mask].copy()
    r["morning_before"] = before[runs_mask]
    pain = pd.to_numeric(r["pain_during_nrs"], errors="coerce").astype(float)
    nxt = pd.to_numeric(r["pain_next_day_nrs"], errors="coerce").astype(float)
    worse = (nxt > r["morning_before"]).fillna(False).to_numpy(dtype=bool)
    r["signal"] = (pain > PAIN_THRESHOLD).to_numpy() | worse
    g = r.groupby("episode_id", sort=False)
    prev_min = g["run_minutes"].shift()
    prev_signal = g["signal"].shift().astype("boolean").fillna(False).to_numpy(dtype=bool)
    r["step_up"] = (r["run_minutes"] > prev_min * (1 + STEP_TOLERANCE)).fillna(False).to_numpy(bool)
    r["rule_break"] = r["step_up"].to_numpy() & prev_signal
    r["after_signal"] = prev_signal
    return r.drop(columns="morning_before").reset_index(drop=True)


def _ewma(x: np.ndarray, span: int) -> np.ndarray:
    """Exponentially weighted average along axis 1 with ``lambda = 2 / (span + 1)``, from 0."""
    lam = 2.0 / (span + 1.0)
    out = np.empty_like(x)
    acc = np.zeros(x.shape[0])
    for j in range(x.shape[1]):
        acc = lam * x[:, j] + (1 - lam) * acc
        out[:, j] = acc
    return out


def weekly_exposures(sessions: pd.DataFrame, episodes: pd.DataFrame,
                     n_weeks: int | None = None) -> pd.DataFrame:
    """One row per episode-week of training exposures (see the module notes).

    Parameters
    ----------
    sessions
        A validated sessions table.
    episodes
        Episodes with ``episode_id``, ``first_visit_date`` and ``last_contact_date``: week 0
        starts at the first visit, the last week holds the last contact.
    n_weeks
        Cap on the weeks per episode (default: up to the last contact).

    Returns
    -------
    pandas.DataFrame
        :data:`WEEKLY_COLUMNS`, sorted by episode and week; every week of follow-up is present
        (weeks without a logged session have zero minutes and ``logged`` False).
    """
    _check(sessions)
    for col in ("episode_id", "first_visit_date", "last_contact_date"):
        if col not in episodes.columns:
            raise AnalysisError(f"episodes lack column {col!r}")
    ep = episodes[["episode_id", "first_visit_date", "last_contact_date"]].copy()
    ep["first"] = pd.to_datetime(ep["first_visit_date"])
    days_fu = (pd.to_datetime(ep["last_contact_date"]) - ep["first"]).dt.days.clip(lower=0)
    weeks_fu = (days_fu.to_numpy() // DAYS_PER_WEEK + 1).astype(int)
    if n_weeks is not None:
        weeks_fu = np.minimum(weeks_fu, n_weeks)
    n_w = int(weeks_fu.max()) if len(ep) else 0
    n_days = n_w * DAYS_PER_WEEK
    ids = ep["episode_id"].astype(str).to_numpy()
    idx = pd.Index(ids)
    s = sessions[sessions["episode_id"].astype(str).isin(idx)].copy()
    row = idx.get_indexer(s["episode_id"].astype(str))
    day = (pd.to_datetime(s["session_date"]).to_numpy() - ep["first"].to_numpy()[row])
    day = (day / np.timedelta64(1, "D")).astype(int)
    ok = (day >= 0) & (day < n_days)
    s, row, day = s[ok], row[ok], day[ok]
    n = len(ids)
    run = pd.to_numeric(s["run_minutes"], errors="coerce").fillna(0).to_numpy(float)
    daily = np.zeros((n, max(n_days, 1)))
    np.add.at(daily, (row, day), run)
    week = day // DAYS_PER_WEEK

    def per_week(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        out = np.zeros((n, max(n_w, 1)))
        m = np.ones(len(values), bool) if mask is None else mask
        np.add.at(out, (row[m], week[m]), values[m])
        return out

    minutes = daily[:, :n_days].reshape(n, n_w, DAYS_PER_WEEK).sum(axis=2) if n_w else daily[:, :0]
    change = np.diff(minutes, axis=1, prepend=0.0)
    acute = _ewma(daily, ACUTE_DAYS)[:, DAYS_PER_WEEK - 1::DAYS_PER_WEEK][:, :n_w]
    chronic = _ewma(daily, CHRONIC_DAYS)[:, DAYS_PER_WEEK - 1::DAYS_PER_WEEK][:, :n_w]
    chronic_prev = np.concatenate([np.zeros((n, 1)), chronic[:, :-1]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        acwr = np.where(chronic_prev > 0, acute / chronic_prev, np.nan)
    is_strength = (s["session_type"] == "strength").to_numpy()
    strength = per_week(np.ones(len(s)), is_strength)
    logged = per_week(np.ones(len(s))) > 0
    cad = pd.to_numeric(s["cadence_spm"], errors="coerce").to_numpy(float)
    has_cad = np.isfinite(cad)
    cad_sum = per_week(np.where(has_cad, cad, 0.0), has_cad)
    cad_n = per_week(np.ones(len(s)), has_cad)
    with np.errstate(divide="ignore", invalid="ignore"):
        cad_mean = np.where(cad_n > 0, cad_sum / cad_n, np.nan)
    first_cad = np.full(n, np.nan)
    for j in range(n_w - 1, -1, -1):
        first_cad = np.where(np.isfinite(cad_mean[:, j]), cad_mean[:, j], first_cad)
    cad_change = cad_mean - first_cad[:, None]
    pain = pd.to_numeric(s["pain_during_nrs"], errors="coerce").to_numpy(float)
    pain_max = np.full((n, max(n_w, 1)), -np.inf)
    np.maximum.at(pain_max, (row, week), np.where(np.isfinite(pain), pain, -np.inf))
    pain_max = np.where(np.isfinite(pain_max), pain_max, np.nan)

    steps = session_steps(s.assign(session_date=pd.to_datetime(s["session_date"])))
    st_row = idx.get_indexer(steps["episode_id"].astype(str))
    st_day = ((pd.to_datetime(steps["session_date"]).to_numpy() - ep["first"].to_numpy()[st_row])
              / np.timedelta64(1, "D")).astype(int)
    st_week = st_day // DAYS_PER_WEEK
    ups = np.zeros((n, max(n_w, 1)))
    brk = np.zeros((n, max(n_w, 1)))
    risk = np.zeros((n, max(n_w, 1)))
    np.add.at(ups, (st_row, st_week), steps["step_up"].to_numpy(float))
    np.add.at(brk, (st_row, st_week), steps["rule_break"].to_numpy(float))
    np.add.at(risk, (st_row, st_week), steps["after_signal"].to_numpy(float))

    wk = np.arange(n_w)
    keep = wk[None, :] < weeks_fu[:, None]
    ii, jj = np.nonzero(keep)
    out = pd.DataFrame({
        "episode_id": ids[ii], "week": jj.astype(int), "run_minutes": minutes[ii, jj],
        "run_change": change[ii, jj], "acute_load": acute[ii, jj], "chronic_load": chronic[ii, jj],
        "acwr_uncoupled": acwr[ii, jj], "strength_sessions": strength[ii, jj].astype(int),
        "cadence_change": cad_change[ii, jj], "step_ups": ups[ii, jj].astype(int),
        "rule_breaks": brk[ii, jj].astype(int), "at_risk_break": risk[ii, jj] > 0,
        "pain_during_max": pain_max[ii, jj], "logged": logged[ii, jj],
    })
    return out[WEEKLY_COLUMNS]
