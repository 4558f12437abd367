"""Time-varying analysis of training logs: re-injury after the pain-free date by week.

- :func:`reinjury_counting_table`: counting-process rows ``(start, stop]`` per episode and week
  from the pain-free date (weeks since the pain-free date), with the weekly exposures of
  :func:`~rehab_outcomes.survival.exposures.weekly_exposures` **lagged by one week** (the row
  for the interval starting in calendar week ``k`` carries the exposures of week ``k - 1``)
  and the cumulative rule breaks through week ``k - 1`` (from the first visit).
- :func:`naive_tv_cox`: Cox model of re-injury on the lagged exposures, stratified by site and
  clustered by episode (table ``tv_cox_reinjury``).
- :func:`msm_rule`: the effect of rule breaking on re-injury, naive time-varying Cox beside a
  marginal structural model (table ``msm_rule``).
- :func:`adherence_table`: how often the graded arm's pain rule was kept, per site and for all
  sites (table ``adherence``): descriptive counts and shares, exact (the dashboard suppresses
  small numbers when it publishes them).

**The MSM.** Restricted to the arm whose programme has the pain rule (strength + graded running;
the other arms have no rule to break). Each week at risk of a rule break (a run after a rule
signal, ``at_risk_break``) is a decision: ``A_k = 1`` if a rule-breaking step up was made.
Denominator: pooled logistic model of ``A_k`` on week, the previous week's highest pain during,
run minutes and their change (past pain and load) and the baseline covariates; numerator: week
and the baseline covariates only. Stabilised weights (cumulative products over each episode's
weeks from the first visit) are truncated at the 1st and 99th percentiles
(:data:`~rehab_outcomes.survival.msm.DEFAULT_TRUNCATION`); the row of interval ``k`` gets the
weight through week ``k - 1``, matching the lagged exposure. The weighted Cox model of re-injury
(clock from the pain-free date, robust SE by episode) includes the numerator's baseline
covariates, as the stabilised weights require. The outcome is **re-injury**, because the policy
truth reports the re-injury hazard ratio among the pain-free of each policy against the
reference (``reinjury_log_hr``); note that the MSM's per-break HR is not the same contrast as a
regime contrast ("next-day rule off" vs the reference), see docs/analysis.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from rehab_outcomes.contract.outcomes import derive_outcomes
from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.survival.cox import CoxPH
from rehab_outcomes.survival.msm import DEFAULT_TRUNCATION, PooledLogistic, stabilized_weights

GRADED_ARM: Final = "strength_graded_running"
#: Lagged time-varying exposures of the naive Cox model (run change per 10 minutes), defined in
#: every logged week.
TV_TERMS: Final = ("run_change_10", "strength_sessions", "cum_rule_breaks")
#: The cadence model: cadence change per 5 spm beside the exposures above, on the weeks with a
#: logged cadence (many runners never log one).
CADENCE_TERMS: Final = ("cadence_change_5", *TV_TERMS)
BASELINE: Final = ("age_years", "weekly_km_before_injury", "baseline_pain_nrs")
COUNTING_COLUMNS: Final = [
    "episode_id", "site", "arm", "start", "stop", "event", "week", "run_minutes", "run_change",
    "run_change_10", "acute_load", "chronic_load", "acwr_uncoupled", "strength_sessions",
    "cadence_change", "cadence_change_5", "rule_breaks", "cum_rule_breaks", "any_rule_break",
    "last_logged_week", "logged_follow_up", *BASELINE,
]
MSM_COLUMNS: Final = ["model", "term", "coef", "se", "hr", "lower", "upper", "p"]
#: ``level`` of the row of all sites together in :func:`adherence_table` (its ``site`` is empty).
ALL_SITES: Final = "all sites"
#: Columns of :func:`adherence_table`.
ADHERENCE_COLUMNS: Final = [
    "level", "site", "arm", "episodes", "episodes_logged", "weeks_logged", "weeks_run",
    "run_share", "weeks_at_risk", "episodes_at_risk", "weeks_break", "episodes_break",
    "break_share", "step_ups", "rule_breaks",
]


def _lagged(weekly: pd.DataFrame) -> pd.DataFrame:
    """Weekly exposures shifted so that week ``k`` carries week ``k - 1``'s, plus cumulative breaks."""
    w = weekly.sort_values(["episode_id", "week"]).copy()
    w["cum_rule_breaks"] = w.groupby("episode_id")["rule_breaks"].cumsum()
    cols = ["run_minutes", "run_change", "acute_load", "chronic_load", "acwr_uncoupled",
            "strength_sessions", "cadence_change", "rule_breaks", "cum_rule_breaks"]
    lag = w[["episode_id", "week", *cols]].copy()
    lag["week"] = lag["week"] + 1
    return lag


def reinjury_counting_table(episodes: pd.DataFrame, weekly: pd.DataFrame) -> pd.DataFrame:
    """Counting-process rows of re-injury after the pain-free date, with lagged exposures.

    Parameters
    ----------
    episodes
        Validated episodes (outcomes are derived here).
    weekly
        :func:`~rehab_outcomes.survival.exposures.weekly_exposures` of the same episodes.

    Returns
    -------
    pandas.DataFrame
        :data:`COUNTING_COLUMNS`: ``start``/``stop`` in weeks since the pain-free date,
        ``week`` the calendar week (from the first visit) in which the interval starts, and the
        exposures of week ``week - 1`` (zero minutes and no breaks before the first week).

    Notes
    -----
    **Logged follow-up.** ``logged_follow_up`` is true while the exposure week is not after the
    episode's last logged week (``last_logged_week``; −1 when nothing was logged). After a runner
    stops logging, zero minutes would be read as "did not happen": the load models
    (:func:`naive_tv_cox`, :func:`cadence_tv_cox`) therefore use the logged follow-up only,
    i.e. censor each episode where its log ends (informative if runners stop logging because
    the knee flares up). The MSM keeps all rows: its exposure, the rule breaks so far, is carried
    forward after the log ends (breaks made after that are not seen). The counts are in
    ``attrs["follow_up_ends_with_log"]`` and the summary.
    """
    df = derive_outcomes(episodes)
    pf = df[(df["pain_free_event"] == 1) & df["reinjury_weeks"].notna()].copy()
    pf = pf[pf["reinjury_weeks"] > 0]
    if pf.empty:
        raise AnalysisError("no episode with a pain-free date and follow-up after it")
    t_end = pf["reinjury_weeks"].to_numpy(float)
    n_rows = np.ceil(t_end).astype(int)
    rep = np.repeat(np.arange(len(pf)), n_rows)
    j = np.concatenate([np.arange(k) for k in n_rows])
    start = j.astype(float)
    stop = np.minimum(start + 1, t_end[rep])
    ev = pf["reinjury_event"].to_numpy(float)[rep]
    event = ((ev == 1) & (stop >= t_end[rep])).astype(int)
    pf_weeks = pf["pain_free_weeks"].to_numpy(float)[rep]
    out = pd.DataFrame({"episode_id": pf["episode_id"].to_numpy()[rep],
                        "start": start, "stop": stop, "event": event,
                        "week": np.floor(pf_weeks + start + 1e-9).astype(int)})
    for c in ("site", "arm", *BASELINE):
        out[c] = pf[c].to_numpy()[rep]
    out = out.merge(_lagged(weekly), on=["episode_id", "week"], how="left")
    logged = weekly.loc[weekly["logged"].astype(bool), ["episode_id", "week"]]
    last = logged.groupby("episode_id")["week"].max().rename("last_logged_week")
    out = out.merge(last, left_on="episode_id", right_index=True, how="left")
    out["last_logged_week"] = out["last_logged_week"].fillna(-1).astype(int)
    out["logged_follow_up"] = out["week"] - 1 <= out["last_logged_week"]
    kept = out[out["logged_follow_up"]]
    log_end = {"episodes": int(out["episode_id"].nunique()), "events": int(out["event"].sum()),
               "episodes_logged_follow_up": int(kept["episode_id"].nunique()),
               "events_logged_follow_up": int(kept["event"].sum())}
    zero = ["run_minutes", "run_change", "strength_sessions", "rule_breaks"]
    out[zero] = out[zero].fillna(0)
    out["cum_rule_breaks"] = out.groupby("episode_id")["cum_rule_breaks"].ffill().fillna(0)
    out["run_change_10"] = out["run_change"] / 10.0
    out["cadence_change_5"] = out["cadence_change"] / 5.0
    out["any_rule_break"] = (out["cum_rule_breaks"] > 0).astype(int)
    out = out[COUNTING_COLUMNS].reset_index(drop=True)
    out.attrs["follow_up_ends_with_log"] = log_end
    return out


def naive_tv_cox(counting: pd.DataFrame, terms: Sequence[str] = TV_TERMS,
                 strata_col: str | None = "site", alpha: float = 0.05,
                 min_clusters: int = 30) -> CoxPH:
    """Time-varying Cox model of re-injury on the lagged exposures (Efron ties, robust SE by
    episode), on the logged follow-up (``logged_follow_up``), where the default terms are
    defined on every row; :func:`cadence_tv_cox` adds the cadence."""
    counting = counting[counting["logged_follow_up"]]
    if counting.empty:
        raise AnalysisError("no follow-up after the pain-free date while training was logged")
    strata = strata_col if strata_col and counting[strata_col].nunique() > 1 else None
    return CoxPH(alpha=alpha, min_clusters=min_clusters).fit(
        counting, duration_col="stop", event_col="event", covariates=tuple(terms),
        entry_col="start", strata_col=strata, cluster_col="episode_id", group_col=None,
        outcome="reinjury")


def cadence_tv_cox(counting: pd.DataFrame, strata_col: str | None = "site", alpha: float = 0.05,
                   min_clusters: int = 30) -> CoxPH:
    """The cadence model: :data:`CADENCE_TERMS` on the rows whose previous week has a cadence
    change (the runner logged a cadence then and in an earlier week)."""
    rows = counting[counting["cadence_change"].notna()]
    if rows.empty:
        raise AnalysisError("no week after the pain-free date with a logged cadence change")
    return naive_tv_cox(rows, CADENCE_TERMS, strata_col, alpha, min_clusters)


def adherence_weights(episodes: pd.DataFrame, weekly: pd.DataFrame,
                      truncate: tuple[float, float] | None = DEFAULT_TRUNCATION
                      ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Stabilised inverse probability of adherence weights per episode-week (graded arm).

    Returns
    -------
    tuple
        The weekly rows with ``sw`` (weight through that week), and a summary of the models.
    """
    ep = episodes[episodes["arm"] == GRADED_ARM]
    w = weekly[weekly["episode_id"].isin(ep["episode_id"])].sort_values(["episode_id", "week"]).copy()
    if w.empty:
        raise AnalysisError(f"no logged weeks in the {GRADED_ARM} arm")
    g = w.groupby("episode_id")
    w["prev_pain"] = g["pain_during_max"].shift().fillna(-1.0)
    w["prev_no_pain"] = (w["prev_pain"] < 0).astype(float)
    w["prev_pain"] = w["prev_pain"].clip(lower=0)
    w["prev_minutes"] = g["run_minutes"].shift().fillna(0.0)
    w["prev_change"] = g["run_change"].shift().fillna(0.0)
    w["a"] = (w["rule_breaks"] > 0).astype(int)
    w = w.merge(ep[["episode_id", *BASELINE]], on="episode_id", how="left")
    base = ["week", *BASELINE]
    # history before the week's decisions only: the week's own pain includes the runs at and
    # after a step up, a consequence of the decision
    den_terms = [*base, "prev_pain", "prev_no_pain", "prev_minutes", "prev_change"]
    risk = w[w["at_risk_break"]]
    num = PooledLogistic().fit(risk, "a", base)
    den = PooledLogistic().fit(risk, "a", den_terms)
    sw = stabilized_weights(w, "episode_id", "week", "a", num, den,
                            at_risk_col="at_risk_break", truncate=truncate)
    w["sw"] = sw.to_numpy()
    info = {"weeks_at_risk": int(len(risk)), "breaks": int(risk["a"].sum()),
            "numerator": base, "denominator": den_terms,
            "truncation_percentiles": list(truncate) if truncate else None,
            "truncation_bounds": [sw.attrs["lower"], sw.attrs["upper"]],
            "n_truncated": sw.attrs["n_truncated"],
            "mean_untruncated_weight": sw.attrs["mean_untruncated"]}
    return w[["episode_id", "week", "sw"]], info


def _rows(fit: CoxPH, model: str, terms: Sequence[str]) -> pd.DataFrame:
    s = fit.summary.set_index("term")
    se_col = "robust_se" if fit.ci_se_ == "robust" else "se"
    out = pd.DataFrame({"model": model, "term": list(terms),
                        "coef": [float(s.loc[t, "coef"]) for t in terms],
                        "se": [float(s.loc[t, se_col]) for t in terms],
                        "hr": [float(s.loc[t, "hr"]) for t in terms],
                        "lower": [float(s.loc[t, "hr_lower"]) for t in terms],
                        "upper": [float(s.loc[t, "hr_upper"]) for t in terms],
                        "p": [float(s.loc[t, "p"]) for t in terms]})
    return out[MSM_COLUMNS]


def msm_rule(episodes: pd.DataFrame, weekly: pd.DataFrame, counting: pd.DataFrame,
             exposure: str = "cum_rule_breaks", alpha: float = 0.05,
             truncate: tuple[float, float] | None = DEFAULT_TRUNCATION
             ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Naive and MSM hazard ratios of re-injury for rule breaking (graded arm).

    Parameters
    ----------
    episodes, weekly, counting
        Validated episodes, their weekly exposures and :func:`reinjury_counting_table`.
    exposure
        ``cum_rule_breaks`` (per rule break so far, lagged one week) or ``any_rule_break``.

    Returns
    -------
    tuple
        The ``msm_rule`` table (:data:`MSM_COLUMNS`: rows ``naive`` and ``msm``) and a summary.
    """
    sw, info = adherence_weights(episodes, weekly, truncate)
    cp = counting[counting["arm"] == GRADED_ARM].copy()
    lagged = sw.assign(week=sw["week"] + 1)
    cp = cp.merge(lagged, on=["episode_id", "week"], how="left")
    cp["sw"] = cp.groupby("episode_id")["sw"].ffill().fillna(1.0)
    terms = (exposure, *BASELINE)
    fit_args = dict(duration_col="stop", event_col="event", covariates=terms, entry_col="start",
                    cluster_col="episode_id", group_col=None, outcome="reinjury")
    naive = CoxPH(alpha=alpha, min_clusters=30).fit(cp, **fit_args)
    msm = CoxPH(alpha=alpha, min_clusters=30).fit(cp, weights_col="sw", **fit_args)
    table = pd.concat([_rows(naive, "naive", [exposure]), _rows(msm, "msm", [exposure])],
                      ignore_index=True)
    info.update({"episodes": int(cp["episode_id"].nunique()), "events": int(cp["event"].sum()),
                 "exposure": exposure, "outcome": "re-injury, clock from the pain-free date",
                 "arm": GRADED_ARM})
    return table, info


def adherence_table(episodes: pd.DataFrame, weekly: pd.DataFrame) -> pd.DataFrame:
    """How often the pain rule was kept in the graded arm, per site and for all sites.

    Parameters
    ----------
    episodes
        Validated episodes (``episode_id``, ``site``, ``arm``).
    weekly
        :func:`~rehab_outcomes.survival.exposures.weekly_exposures` of the same episodes (one
        row per week of follow-up from the first visit).

    Returns
    -------
    pandas.DataFrame
        :data:`ADHERENCE_COLUMNS`, one row per site of ``episodes`` (every site, in alphabetical
        order, also a site without graded episodes) and a last row of all sites
        (``level`` :data:`ALL_SITES`, empty ``site``), all for the arm :data:`GRADED_ARM`:

        - ``episodes``: its episodes; ``episodes_logged``: those with at least one session
          logged during follow-up;
        - ``weeks_logged``: weeks with a logged session; ``weeks_run``: those with a run;
          ``run_share = weeks_run / weeks_logged``;
        - ``weeks_at_risk``: weeks with a run after a rule signal (pain during above 2/10 or
          next-day pain worse than the morning before), in which the rule forbade a step up
          (``at_risk_break``); ``episodes_at_risk``: episodes with such a week;
        - ``weeks_break``: those weeks in which the runner stepped up anyway (a rule break);
          ``episodes_break``: episodes with a rule break;
          ``break_share = weeks_break / weeks_at_risk``;
        - ``step_ups`` and ``rule_breaks``: the step ups and the rule-breaking step ups (runs).

        Shares are ``NaN`` when their denominator is 0. Counts are exact: this table is for
        researchers; the dashboard publishes it with small numbers suppressed. Logging gaps
        make the week counts lower bounds (see :mod:`~rehab_outcomes.survival.exposures`).

    Examples
    --------
    >>> ep = pd.DataFrame({"episode_id": ["a", "b"], "site": ["x", "x"],
    ...                    "arm": [GRADED_ARM, "rest_only"]})
    >>> wk = pd.DataFrame({"episode_id": ["a", "a", "b"], "week": [0, 1, 0],
    ...                    "run_minutes": [16.0, 0.0, 8.0], "logged": [True, True, True],
    ...                    "at_risk_break": [True, False, False], "rule_breaks": [1, 0, 0],
    ...                    "step_ups": [1, 0, 0]})
    >>> adherence_table(ep, wk)[["level", "episodes_logged", "weeks_run", "run_share",
    ...                          "weeks_at_risk", "break_share"]].to_numpy().tolist()
    [['site', 1, 1, 0.5, 1, 1.0], ['all sites', 1, 1, 0.5, 1, 1.0]]
    """
    for col in ("episode_id", "site", "arm"):
        if col not in episodes.columns:
            raise AnalysisError(f"episodes lack column {col!r}")
    need = ("episode_id", "run_minutes", "logged", "at_risk_break", "rule_breaks", "step_ups")
    missing = [c for c in need if c not in weekly.columns]
    if missing:
        raise AnalysisError(f"weekly exposures lack column(s) {', '.join(missing)}")
    sites = sorted({str(s) for s in episodes["site"]}, key=lambda s: (s.casefold(), s))
    ep = pd.DataFrame({"episode_id": episodes["episode_id"].astype(str).to_numpy(),
                       "site": episodes["site"].astype(str).to_numpy(),
                       "arm": episodes["arm"].astype(str).to_numpy()})
    ep = ep[ep["arm"] == GRADED_ARM]
    w = weekly[weekly["episode_id"].astype(str).isin(set(ep["episode_id"]))]
    logged = w["logged"].to_numpy(dtype=bool)
    risk = w["at_risk_break"].to_numpy(dtype=bool)
    brk = risk & (pd.to_numeric(w["rule_breaks"]).to_numpy() > 0)
    weeks = pd.DataFrame({
        "episode_id": w["episode_id"].astype(str).to_numpy(),
        "logged": logged.astype(int),
        "run": (logged & (pd.to_numeric(w["run_minutes"]).to_numpy() > 0)).astype(int),
        "risk": risk.astype(int), "brk": brk.astype(int),
        "step_ups": pd.to_numeric(w["step_ups"]).to_numpy().astype(int),
        "rule_breaks": pd.to_numeric(w["rule_breaks"]).to_numpy().astype(int)})
    per = weeks.groupby("episode_id").sum()
    per = ep.set_index("episode_id").join(per, how="left").fillna(
        {c: 0 for c in per.columns}).astype({c: int for c in per.columns})
    agg = {"episodes": ("site", "size"),
           "episodes_logged": ("logged", lambda x: int((x > 0).sum())),
           "weeks_logged": ("logged", "sum"), "weeks_run": ("run", "sum"),
           "weeks_at_risk": ("risk", "sum"),
           "episodes_at_risk": ("risk", lambda x: int((x > 0).sum())),
           "weeks_break": ("brk", "sum"),
           "episodes_break": ("brk", lambda x: int((x > 0).sum())),
           "step_ups": ("step_ups", "sum"), "rule_breaks": ("rule_breaks", "sum")}
    by_site = per.groupby("site").agg(**agg).reindex(sites, fill_value=0)
    total = by_site.sum(axis=0).to_frame().T
    out = pd.concat([by_site.reset_index().assign(level="site"),
                     total.assign(site="", level=ALL_SITES)], ignore_index=True)
    counts = [c for c in agg]
    out[counts] = out[counts].astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["run_share"] = np.where(out["weeks_logged"] > 0,
                                    out["weeks_run"] / out["weeks_logged"].clip(lower=1), np.nan)
        out["break_share"] = np.where(out["weeks_at_risk"] > 0,
                                      out["weeks_break"] / out["weeks_at_risk"].clip(lower=1),
                                      np.nan)
    out["arm"] = GRADED_ARM
    return out[ADHERENCE_COLUMNS].reset_index(drop=True)
