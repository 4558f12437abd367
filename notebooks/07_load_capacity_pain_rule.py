# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. Load, capacity and the pain rule
#
# Notebook 6 ended with three claims that clinic records cannot assess: *injury comes from load
# exceeding the tissue's capacity* (claim 5), *return with walk–run intervals and progress only
# while pain stays ≤ 2/10* (claim 4), and the cadence claim. They are about what happens day by
# day, session by session, which visits and episode dates do not record.
#
# The package has a second simulator for exactly this: a **mechanistic load–capacity model** that
# follows every runner day by day, runs, strength sessions, pain and all, and writes a training
# log (`sessions`) beside the episodes. In this notebook you will
#
# * read the model in words: capacity, irritability, load, pain and the **pain rule**,
# * simulate a few runners day by day and watch one of them under the graded programme and under
#   rest only,
# * use the **policy simulator**: the same runners under different rules (common random
#   numbers), with your own choice of pain threshold, next-day rule and strength dose, and
# * see why a naive analysis of **training logs** is biased (time-varying confounding), how a
#   **marginal structural model** (MSM) with inverse probability weights addresses it, and why
#   its hazard ratio is not the same quantity as the policy truth.
#
# **Model-based, not evidence.** Everything below follows from the model's assumptions. No
# published computational load–capacity model of patellofemoral pain with parameter values was
# found; the structure of this one is an assumption, and several of its parameters are
# calibrated to the same targets as the Weibull simulator of notebooks 1–6, others are guesses
# (`docs/load-capacity.md` lists each one with its source or the word "assumption"). What the
# simulator can show is what a policy does *if the world works like the model*, and how an
# analysis behaves on data whose truth is known. It cannot show that the pain rule works for real
# runners, and it cannot test claim 5 at all: the model *assumes* that injury comes from load
# exceeding capacity.

# %%
# %matplotlib inline
from dataclasses import asdict, replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from rehab_outcomes.reporting.style import (
    ALL_COLOUR,
    ARM_COLOURS,
    ARM_LINESTYLES,
    EXTRA_COLOURS,
    arm_label,
)
from rehab_outcomes.simulation.loadcap import (
    ARM_POLICIES,
    WALK_RUN_STAGES,
    LoadCapParams,
    draw_runners,
    simulate_days,
)
from rehab_outcomes.simulation.loadcap_outputs import simulate_loadcap_cohort
from rehab_outcomes.simulation.loadcap_truth import REFERENCE, policy_set, policy_truth
from rehab_outcomes.survival.exposures import weekly_exposures
from rehab_outcomes.survival.tv_analysis import (
    GRADED_ARM,
    adherence_weights,
    msm_rule,
    naive_tv_cox,
    reinjury_counting_table,
)

pd.set_option("display.precision", 3)
pd.set_option("display.width", 140)
pd.set_option("display.max_colwidth", 80)
params = LoadCapParams()  # the calibrated defaults
REST, _, GRADED = ARM_POLICIES  # the arms' policies (rest, stretching, graded), as in ARMS

# %% [markdown]
# ## 1. The model in words
#
# Every runner is simulated for 728 days (104 weeks), one step per day. The full equations are in
# `docs/load-capacity.md`; in words:
#
# * **Capacity** is how much running load the knee tolerates in one session. It starts near the
#   load of the runner's sessions before the injury (some runners start below it: they will not
#   recover by rest alone), grows with **strength** training (diminishing returns, lost again
#   after weeks without it) and with running the tissue *tolerates*, and shrinks without running.
# * **Load** of a session is the running minutes weighted by the runner's intensity (a higher
#   cadence lowers the load per minute), plus a little for the walking minutes.
# * **Irritability** rises whenever a session's load exceeds capacity (more than proportionally
#   to the excess) and settles within days. A slower **sensitisation** starts at the baseline pain
#   and heals at the runner's own rate; repeated overload keeps it up.
# * **Pain** in the morning, during a run and the next morning follows from sensitisation plus
#   irritability (and, during a run, from the load relative to capacity), with noise, on the
#   0–10 scale. A run with high pain is a **flare**.
# * **Pain-free running** is reached after a few runs in a row of continuous running with little
#   pain; a **re-injury** is the first flare after that date. The exact definitions, with their
#   thresholds, are written into the truth of every simulated cohort (section 4 prints them).
#
# Every number of the model is a field of `LoadCapParams`; `docs/load-capacity.md` gives the
# source of each one (or the word "assumption"), and says which are *calibrated*. The defaults:

# %%
pd.Series(asdict(params), name="default").to_frame()

# %% [markdown]
# ### The policies and the pain rule
#
# The three arms are three policies. Rest only and stretching only stop running for a few weeks
# (`rest_weeks`) and then return at the earlier session length, three times a week, ungraded.
# Strength + graded running does strength training (`strength_per_week`) and returns through a
# **walk–run programme** with the **pain rule**: after a few sessions at a stage the runner steps
# up to the next stage only if
#
# 1. pain *during* the run was ≤ 2/10 (`pain_threshold`), and
# 2. pain the *next morning* was not worse than the morning before the run (`next_day_rule`).
#
# Otherwise the runner stays at the stage; after a flare they step back one stage and skip a run.
# The stages of the programme (run and walk minutes per repeat, repeats):

# %%
pd.DataFrame(WALK_RUN_STAGES, columns=["run min", "walk min", "repeats"],
             index=pd.RangeIndex(1, len(WALK_RUN_STAGES) + 1, name="stage"))

# %% [markdown]
# After the 30-minute stage each stage adds 10 % up to the runner's earlier session length. The
# policies are `Policy` objects; each field is one thing a clinician could prescribe:

# %%
pd.DataFrame([asdict(pol) for pol in ARM_POLICIES]).set_index("name")

# %% [markdown]
# The policy table above is the arms' prescription. `adherence=True` means runners sometimes
# **break the rule**: at a step-up the rule forbids, a runner steps up anyway with a probability
# that is higher for eager runners (more km before the injury) and for runners who *felt good
# recently* (recent runs with pain ≤ 2/10). This is what makes the training logs hard to analyse
# (section 4).

# %% [markdown]
# ## 2. A few runners, day by day
#
# `draw_runners` draws runners (the same covariates as the Weibull simulator, plus latent traits:
# capacity, intensity, healing rate). `simulate_days` runs them through a policy;
# `record=True` keeps the day-by-day sessions (`Trajectory.log`) and weekly summaries
# (`Trajectory.weekly`).
#
# The random numbers of every day are drawn for every runner in a fixed order, whatever the
# policy. Simulating the **same runners** under two policies therefore gives each runner the same
# luck under both (**common random numbers**): the difference between the two runs is the
# policy, not the noise. We follow six runners under the graded programme with the rule followed
# exactly (`adherence=False`) and under rest only.

# %%
runners = draw_runners(6, seed=3, p=params)
graded_exact = replace(GRADED, adherence=False)
traj = {
    GRADED.name: simulate_days(runners, params, (graded_exact,), record=True),
    REST.name: simulate_days(runners, params, (REST,), record=True),
}


def weeks_or_nan(days: np.ndarray) -> np.ndarray:
    """Days to weeks; NaN where the event did not happen within 104 weeks (day -1)."""
    return np.where(days >= 0, days / 7, np.nan)


overview_runners = pd.DataFrame({
    "weekly km before": runners.cov.weekly_km,
    "baseline pain": runners.cov.baseline_pain,
    "symptom weeks": runners.cov.symptom_weeks,
    "earlier session (min)": runners.target_minutes,
    "capacity at first visit": runners.capacity0,
})
for arm, tr in traj.items():
    overview_runners[f"pain-free week, {arm_label(arm)}"] = weeks_or_nan(tr.pain_free_day)
    overview_runners[f"re-injury week, {arm_label(arm)}"] = weeks_or_nan(tr.reinjury_day)
overview_runners.round(1)

# %% [markdown]
# (NaN: not within 104 weeks.) Runners differ a lot: the same policy can suit one and not another.
# We pick the first runner who becomes pain-free within a year under both policies and look at
# the first three weeks of their graded log. On days without a run, `pain_during` holds the
# morning pain; strength sessions have no running minutes.

# %%
pf_graded, pf_rest = traj[GRADED.name].pain_free_day, traj[REST.name].pain_free_day
both = np.flatnonzero((pf_graded >= 0) & (pf_graded <= 364) & (pf_rest >= 0) & (pf_rest <= 364))
runner = int(both[0]) if len(both) else 0
kinds = {0: "run", 1: "strength", 2: "cross-training"}
log_graded = pd.DataFrame(traj[GRADED.name].log)
(log_graded[(log_graded["runner"] == runner) & (log_graded["day"] < 21)]
 .assign(kind=lambda d: d["kind"].map(kinds))
 .drop(columns=["runner", "cadence"]).reset_index(drop=True))

# %% [markdown]
# Now the runner's running minutes per week (`Trajectory.weekly`) and the pain during each run
# (from the day-by-day log) over the first year, under both policies. Dotted vertical lines mark
# the pain-free date, crosses a re-injury. Colours and line styles are the package's arm colours
# (`rehab_outcomes.reporting.style`), as in every figure of the package.

# %%
SHOWN_WEEKS = 52
fig, axes = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
for arm, tr in traj.items():
    style = {"color": ARM_COLOURS[arm], "linestyle": ARM_LINESTYLES[arm], "label": arm_label(arm)}
    minutes = tr.weekly["run_minutes"][:SHOWN_WEEKS, runner]
    axes[0].step(np.arange(SHOWN_WEEKS), minutes, where="post", **style)
    day_log = pd.DataFrame(tr.log)
    runs = day_log[(day_log["runner"] == runner) & (day_log["kind"] == 0)
                   & (day_log["day"] < 7 * SHOWN_WEEKS)]
    axes[1].plot(runs["day"] / 7, runs["pain_during"], marker="o", markersize=3, linewidth=0.8, **style)
    pf, re = tr.pain_free_day[runner], tr.reinjury_day[runner]
    if 0 <= pf < 7 * SHOWN_WEEKS:
        for ax in axes:
            ax.axvline(pf / 7, color=ARM_COLOURS[arm], linestyle=":", linewidth=1.2)
    if 0 <= re < 7 * SHOWN_WEEKS:
        axes[1].plot(re / 7, runs.loc[runs["day"] == re, "pain_during"].max(), "x",
                     color=ARM_COLOURS[arm], markersize=10, mew=2)
axes[0].set_ylabel("Running minutes per week")
axes[1].set_ylabel("Pain during each run (0–10)")
axes[1].axhline(2, color=ALL_COLOUR, linewidth=0.6, alpha=0.5)
axes[1].set_xlabel("Weeks since the first visit")
axes[0].set_title(f"Runner {runner}: graded programme vs rest only (same runner, same luck)")
axes[0].legend()
plt.show()

# %% [markdown]
# Under rest only there is no running for the first weeks, then the full earlier session length
# at once; a flare means a pause. Under the graded programme the minutes rise in small steps, and
# stall whenever the pain rule says no. Once a runner is back at the full session length under
# both policies, the two lines can run together: same runner, same random numbers. Set `runner`
# to another number (0–5) and re-run the plot cell to see the others: some do better under one
# policy, some under the other. A single runner is an anecdote; the policy simulator below
# answers the question for many runners.

# %% [markdown]
# ## 3. The policy simulator
#
# `policy_truth(n, seed, p, policies)` simulates the **same** `n` runners under each policy,
# with the rule followed exactly (`adherence=False`) unless a policy says otherwise, and
# reports for each policy
#
# * `p_pain_free_12w`: the share running pain-free by 12 weeks (higher is a faster return),
# * `rmst_26w_weeks`: the restricted mean time to pain-free running up to 26 weeks, in weeks
#   (**lower is better**: notebook 4 explained RMST),
# * `p_pain_free_not_reinjured_52w`: the share running pain-free *and* not re-injured at 52 weeks
#   (where a runner wants to be after a year),
# * `reinjury_hr`: the marginal re-injury hazard ratio against the first policy (among each
#   policy's pain-free runners, clock from the pain-free date),
#
# each with its **Monte Carlo standard error** (`*_mc_se`): the runners are split into 20
# interleaved batches and the spread of the 20 batch results gives the SE (batch means). These
# are *latent* outcomes: no loss to follow-up, no missing logs. They are the truth of the model,
# up to Monte Carlo error.
#
# We run the reference (the graded programme with the rule followed: threshold 2, next-day rule,
# strength 2/week) and some of the package's alternatives (`policy_set()`: one factor changed at a
# time), on 2,000 runners (`N_POLICY`) to keep this quick.

# %%
N_POLICY, SEED_POLICY = 2000, 11
by_name = {pol.name: pol for pol in policy_set()}
OVERVIEW_NAMES = [REFERENCE.name, "pain threshold 4", "no pain rule", "next-day rule off",
                  "strength 0/week", "natural course (rule breaks)", "rest_only"]
overview = policy_truth(N_POLICY, SEED_POLICY, params, tuple(by_name[name] for name in OVERVIEW_NAMES))
OUTCOMES = {"p_pain_free_12w": "P(pain-free by 12 weeks)",
            "rmst_26w_weeks": "RMST to pain-free, 26 weeks\n(weeks; lower is better)",
            "p_pain_free_not_reinjured_52w": "P(pain-free and not\nre-injured at 52 weeks)"}
shown_columns = [c for o in OUTCOMES for c in (o, f"{o}_mc_se")]
overview.set_index("policy")[[*shown_columns, "reinjury_hr", "rule_break_share"]]


# %%
SHORT_NAMES = {REFERENCE.name: "reference (threshold 2, next-day rule, strength 2)"}


def policy_colour(name: str) -> str:
    """The arm colour of a policy: rest only and stretching as their arms, every variant of the
    graded programme the graded arm's green."""
    if name in ARM_COLOURS:
        return ARM_COLOURS[name]
    return ARM_COLOURS[GRADED.name]


def plot_policies(table: pd.DataFrame, title: str, highlight: tuple[str, ...] = ()) -> None:
    """One panel per outcome: each policy's value with its 95 % Monte Carlo interval."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.45 * len(table) + 1.4), sharey=True)
    y = np.arange(len(table))[::-1]
    for ax, (col, label) in zip(axes, OUTCOMES.items(), strict=True):
        for yi, (_, row) in zip(y, table.iterrows(), strict=True):
            colour = EXTRA_COLOURS[0] if row["policy"] in highlight else policy_colour(row["policy"])
            ax.errorbar(row[col], yi, xerr=1.96 * row[f"{col}_mc_se"], fmt="o", color=colour, capsize=3)
        ax.set_title(label, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [SHORT_NAMES.get(name, name) for name in table["policy"]])
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()


plot_policies(overview, f"Policy truth, {N_POLICY:,} runners (error bars: 95 % Monte Carlo interval)")

# %% [markdown]
# Reading the rows against the reference (top): a looser rule (threshold 4, the next-day rule
# off, no rule at all) lets runners step up sooner, so more are pain-free early; but stepping up
# while the knee is irritated means more overload, and the documentation expects fewer runners
# pain-free *and not re-injured* at a year. Strength training builds capacity, so dropping it
# should hurt the one-year outcome. The "natural course" row is the same programme with the rule
# breaks that real runners make. The cell below checks these statements on the numbers above
# (the simulator's calibrated defaults may change; the check recomputes them):

# %%
truth_rows = overview.set_index("policy")
ref = truth_rows.loc[REFERENCE.name]
pd.Series({
    "no pain rule: more pain-free by 12 weeks than the reference":
        truth_rows.loc["no pain rule", "p_pain_free_12w"] > ref["p_pain_free_12w"],
    "no pain rule: fewer pain-free and not re-injured at 52 weeks":
        truth_rows.loc["no pain rule", "p_pain_free_not_reinjured_52w"] < ref["p_pain_free_not_reinjured_52w"],
    "no pain rule: re-injury HR above 1":
        truth_rows.loc["no pain rule", "reinjury_hr"] > 1,
    "strength 0/week: fewer pain-free and not re-injured at 52 weeks":
        truth_rows.loc["strength 0/week", "p_pain_free_not_reinjured_52w"] < ref["p_pain_free_not_reinjured_52w"],
    "natural course: some forbidden step-ups are taken":
        truth_rows.loc["natural course (rule breaks)", "rule_break_share"] > 0,
}, name="holds").to_frame()

# %% [markdown]
# ### Your own policy
#
# Change the three settings at the top of the next cell and re-run it. Your policy is simulated
# on the **same 2,000 runners with the same random numbers** as the reference and rest only
# above, so the rows are directly comparable (and their difference is estimated more precisely
# than the two separate SEs suggest: the noise is shared). Each run takes about a second.
#
# * `PAIN_THRESHOLD`: step up only if pain during the run was at most this (`2` or `4`), or
#   `None` for no limit on pain during.
# * `NEXT_DAY_RULE`: also require next-morning pain not worse than the morning before the run.
#   (`PAIN_THRESHOLD = None` with `NEXT_DAY_RULE = False` is "no pain rule" at all.)
# * `STRENGTH_PER_WEEK`: strength sessions per week, `0` to `3`.

# %%
# ==================== change these, then re-run this cell ====================
PAIN_THRESHOLD = 4        # 2, 4 or None (no limit on pain during the run)
NEXT_DAY_RULE = False     # True or False
STRENGTH_PER_WEEK = 3     # 0, 1, 2 or 3
# =============================================================================
if PAIN_THRESHOLD not in (2, 4, None) or NEXT_DAY_RULE not in (True, False) \
        or STRENGTH_PER_WEEK not in (0, 1, 2, 3):
    raise ValueError("PAIN_THRESHOLD must be 2, 4 or None, NEXT_DAY_RULE True or False, "
                     "STRENGTH_PER_WEEK 0, 1, 2 or 3")
my_name = (f"your policy (threshold {PAIN_THRESHOLD}, next-day rule "
           f"{'on' if NEXT_DAY_RULE else 'off'}, strength {STRENGTH_PER_WEEK})")
my_policy = replace(REFERENCE, name=my_name,
                    pain_threshold=None if PAIN_THRESHOLD is None else float(PAIN_THRESHOLD),
                    next_day_rule=NEXT_DAY_RULE, strength_per_week=STRENGTH_PER_WEEK)
mine = policy_truth(N_POLICY, SEED_POLICY, params, (my_policy,))  # same runners as the overview
compare = pd.concat([overview[overview["policy"] == REFERENCE.name], mine,
                     overview[overview["policy"] == "rest_only"]], ignore_index=True)
display(compare.set_index("policy")[shown_columns])
plot_policies(compare, "Your policy against the reference and rest only", highlight=(my_name,))

# %% [markdown]
# Your policy is drawn in the first of the package's extra colours (pink), the reference in the
# graded arm's green and rest only in its vermillion. Try `PAIN_THRESHOLD = 2, NEXT_DAY_RULE =
# True, STRENGTH_PER_WEEK = 2`: you get the reference row exactly, because the same runners meet
# the same random numbers. Whichever policy you choose, remember that the answer is the model's:
# a different (equally plausible) structure could rank the policies differently.

# %% [markdown]
# ## 4. Why the naive analysis of training logs is biased
#
# In the real world nobody observes the policy truth. A clinic that wants to know whether
# breaking the pain rule is harmful has **training logs**: runners' own records of their
# sessions, with pain during and the next day, and gaps. We simulate a randomised cohort of
# 3,000 runners (`N_COHORT`) in which everyone follows their arm's policy **with** rule breaks
# (`simulate_loadcap_cohort`): episodes in the data contract's format, and a `sessions` log.
# Below: the outcome definitions from the cohort's truth, the first logged sessions, and what the
# truth knows per arm (latent outcomes, and the share of forbidden step-ups taken anyway).

# %%
N_COHORT, SEED_COHORT = 3000, 7
cohort = simulate_loadcap_cohort(N_COHORT, seed=SEED_COHORT, lc=params, policy_truth_n=None)
display(pd.Series(cohort.truth["definitions"], name="definition").to_frame())
display(cohort.sessions.head(8))
pd.DataFrame(cohort.truth["latent_by_arm"]).T

# %% [markdown]
# The `rule_break_share` in the truth is the share of forbidden step-ups that were taken anyway
# (only the graded arm has a rule). The log records only some sessions (each runner logs a share
# of them, stops logging at some point, often leaves next-day pain empty), so everything measured
# from it is an undercount.
#
# ### From sessions to weeks
#
# `weekly_exposures` turns the log into one row per episode-week: running minutes, their change
# from the previous week (the primary load exposure), strength sessions, **step-ups** (a run more
# than 10 % longer than the previous logged run), **rule breaks** (a step-up after a run whose pain
# during was above 2/10 or whose next-day pain was worse) and whether the week was **at risk** of
# a break (it held a run after such a signal).

# %%
weekly = weekly_exposures(cohort.sessions, cohort.episodes)
graded_ids = cohort.episodes.loc[cohort.episodes["arm"] == GRADED_ARM, "episode_id"]
weekly[weekly["episode_id"] == graded_ids.iloc[0]].head(10)

# %% [markdown]
# `reinjury_counting_table` then builds **counting-process** rows of re-injury (the second clock
# of notebook 4, split into weeks so that exposures can change): one row per week after the
# pain-free date, `(start, stop]` in weeks since that date, the exposures **lagged by one week**
# (the row of week *k* carries what happened in week *k − 1*, so the exposure precedes the
# outcome) and `cum_rule_breaks`, the rule breaks so far.

# %%
counting = reinjury_counting_table(cohort.episodes, weekly)
print(f"{len(counting):,} episode-weeks of {counting['episode_id'].nunique():,} episodes that became "
      f"pain-free, {int(counting['event'].sum())} re-injuries")
counting[["episode_id", "arm", "start", "stop", "event", "week", "run_change", "strength_sessions",
          "rule_breaks", "cum_rule_breaks"]].head(6)

# %% [markdown]
# ### The naive time-varying Cox model
#
# A Cox model on these rows (`naive_tv_cox`: stratified by site, robust SE by episode) relates
# the hazard of re-injury each week to the lagged exposures. It is "naive" because it treats the
# exposures as if they had been assigned at random given the other terms in the model. It uses
# only the **logged follow-up** (`logged_follow_up`), so it has fewer rows than the table holds
# (more on that below).

# %%
tv_fit = naive_tv_cox(counting)
print(f"rows used: {tv_fit.n_:,} of {len(counting):,}; re-injuries: {tv_fit.n_events_}")
tv_fit.summary

# %% [markdown]
# ### Time-varying confounding
#
# Take the graded arm and the decision at each week at risk: step up against the rule, or not.
# In the model, the runners who **felt good recently** (recent runs with little pain) break the
# rule more often. Feeling good also reflects low irritability, which **lowers** their risk of a
# flare. So recent pain is a common cause of the decision and of the outcome: a **confounder**.
# The programme adds to it by itself: after a flare the runner steps back a stage, so a painful
# stretch rarely holds a step-up, and a painful stretch also signals an irritated knee. And the
# confounder changes over time: a rule break today changes tomorrow's load, irritability and pain,
# which then affect the next decision. Recent pain is therefore also on the path from earlier
# breaks to re-injury.
#
# That double role is the trap. Leave recent pain out of the model and the breakers look
# healthier than they are because of *who* breaks the rule (confounding: the harm of breaking is
# underestimated). Put it in as a covariate and you adjust away part of the very effect you want
# (the extra pain that earlier breaks caused) and can open biased paths. Neither a simple nor an
# adjusted Cox model answers "what if they had followed the rule".
#
# The logs let us look at both arrows. The decision: the share of weeks at risk with a rule break,
# by the highest pain during of the previous week. The outcome: re-injuries per 100 weeks after
# the pain-free date, by the previous week's highest pain.

# %%
graded_weeks = weekly[weekly["episode_id"].isin(graded_ids)].sort_values(["episode_id", "week"]).copy()
graded_weeks["pain_previous_week"] = graded_weeks.groupby("episode_id")["pain_during_max"].shift()
bands = {"bins": [-0.5, 2.5, 4.5, 10.5], "labels": ["0–2", "3–4", "5–10"]}
at_risk = graded_weeks[graded_weeks["at_risk_break"]].copy()
at_risk["recent pain"] = pd.cut(at_risk["pain_previous_week"], **bands)
decision = at_risk.groupby("recent pain", observed=False).agg(
    weeks_at_risk=("rule_breaks", "size"), share_with_break=("rule_breaks", lambda x: (x > 0).mean()))
pain_lagged = weekly[["episode_id", "week", "pain_during_max"]].assign(week=lambda d: d["week"] + 1)
graded_rows = counting[counting["arm"] == GRADED_ARM].merge(pain_lagged, on=["episode_id", "week"],
                                                              how="left")
graded_rows["recent pain"] = pd.cut(graded_rows["pain_during_max"], **bands)
outcome = graded_rows.groupby("recent pain", observed=False).agg(
    weeks=("event", "size"), reinjuries=("event", "sum"))
outcome["per_100_weeks"] = 100 * outcome["reinjuries"] / outcome["weeks"]
pd.concat({"decision (weeks at risk of a break)": decision,
           "outcome (weeks after pain-free)": outcome}, axis=1)

# %% [markdown]
# If the mechanism shows in the logs, the share of breaks falls as recent pain rises and the
# re-injury rate rises with it (rows with few weeks are noisy; weeks with no logged run have no
# pain and are left out). Logged pain is only a noisy trace of what the model's runners feel, so
# no analysis of the logs can remove the confounding completely.
#
# The naive Cox model above has a second problem you can see in its row count. After a runner
# stops logging, every week would hold zero minutes: "not logged" read as "did not run". So the
# load models keep only the weeks up to the end of each runner's log (`logged_follow_up`), which
# censors each runner where the log ends. Many runners stop logging long before a re-injury, so
# most re-injuries drop out (compare `tv_fit.n_events_` with the re-injuries of the counting
# table), and the censoring is harmless only if runners do not stop logging *because* the knee
# flares up. The cadence model (`cadence_tv_cox`, claim 6) loses more: many runners never log a
# cadence. The MSM below keeps all follow-up, carrying the rule breaks so far forward.
#
# ### Inverse probability of adherence weights
#
# A **marginal structural model** removes the dependence of the decision on the past instead of
# conditioning on it. At each week at risk, two pooled logistic models predict the probability
# of a rule break:
#
# * the **denominator** from the week, the baseline covariates **and** the time-varying history
#   (this and the previous week's highest pain, last week's minutes and their change);
# * the **numerator** from the week and the baseline covariates only.
#
# Each week's factor is numerator / denominator probability of what the runner actually did; the
# **stabilised weight** of a week is the product of the factors so far. A runner who broke the
# rule although their recent pain made that unlikely gets a large weight: they stand in for the
# many similar runners who did not. In the weighted data the decisions no longer depend on the
# recorded history (notebook 5 did the same for a single decision at baseline). The weights are
# **truncated** at their 1st and 99th percentiles, trading a little bias for stability.
#
# `adherence_weights` computes the weights; we ask for them untruncated, to see the whole
# distribution. `msm_rule` computes them again, truncated, fits the MSM (next section) and
# reports the weight models and the truncation in its summary.

# %%
weights_raw, _ = adherence_weights(cohort.episodes, weekly, truncate=None)
msm_table, msm_info = msm_rule(cohort.episodes, weekly, counting)
pd.Series(msm_info, name="msm_rule summary").to_frame()

# %% [markdown]
# The mean of the untruncated weights should be near 1: far from 1 points to a misspecified
# denominator model or to runners whose decisions were almost certain (no overlap). The
# distribution, on a log scale, with the truncation bounds:

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
log_weights = np.log10(weights_raw["sw"])
ax.hist(log_weights, bins=np.linspace(log_weights.min(), log_weights.max(), 60),
        color=ARM_COLOURS[GRADED_ARM], alpha=0.7, label="stabilised weights, untruncated")
for i, bound in enumerate(msm_info["truncation_bounds"]):
    ax.axvline(np.log10(bound), color=ALL_COLOUR, linestyle="--", linewidth=1.2,
               label="1st/99th percentiles: weights beyond are set to these" if i == 0 else None)
ax.set_yscale("log")
ax.set_xlabel("log10 stabilised weight (episode-weeks of the graded arm)")
ax.set_ylabel("Episode-weeks")
ax.legend(loc="upper left", fontsize=8)
plt.show()
print(f"untruncated: mean {weights_raw['sw'].mean():.3f}, largest {weights_raw['sw'].max():.1f}; "
      f"truncation moves {msm_info['n_truncated']:,} of {len(weights_raw):,} episode-weeks to the bounds")

# %% [markdown]
# ### Naive, MSM and the policy truth side by side
#
# `msm_rule` (called above) fits two Cox models of re-injury on the graded arm's counting rows,
# both with the baseline covariates and robust SEs by episode: the **naive** one unweighted, the
# **MSM** with the weights through the previous week. The exposure is `cum_rule_breaks`, so each
# hazard ratio is **per rule-breaking step-up so far**.

# %%
print(f"{msm_info['episodes']:,} graded episodes that became pain-free, {msm_info['events']} re-injuries")
msm_table

# %% [markdown]
# The policy truth (section 3) holds re-injury hazard ratios of whole **regimes** against the
# reference (the rule followed exactly). We put them next to the two estimates, with their
# 95 % Monte Carlo intervals:

# %%
est = msm_table.set_index("model")
TRUTH_ROWS = {"next-day rule off": "truth: next-day rule off vs rule followed",
              "no pain rule": "truth: no pain rule vs rule followed",
              "natural course (rule breaks)": "truth: natural course vs rule followed"}
side_by_side = pd.DataFrame(
    [{"estimate": "naive Cox: per rule break (logs)", "log_hr": est.loc["naive", "coef"],
      "se": est.loc["naive", "se"], "kind": "estimate from the logs"},
     {"estimate": "MSM: per rule break (logs)", "log_hr": est.loc["msm", "coef"],
      "se": est.loc["msm", "se"], "kind": "estimate from the logs"}]
    + [{"estimate": label, "log_hr": truth_rows.loc[name, "reinjury_log_hr"],
        "se": truth_rows.loc[name, "reinjury_log_hr_mc_se"], "kind": "policy truth (Monte Carlo SE)"}
       for name, label in TRUTH_ROWS.items()])
side_by_side["hr"] = np.exp(side_by_side["log_hr"])
side_by_side["lower"] = np.exp(side_by_side["log_hr"] - 1.96 * side_by_side["se"])
side_by_side["upper"] = np.exp(side_by_side["log_hr"] + 1.96 * side_by_side["se"])
side_by_side = side_by_side.set_index("estimate")
display(side_by_side)

fig, ax = plt.subplots(figsize=(8, 3.2))
y = np.arange(len(side_by_side))[::-1]
for yi, (_, r) in zip(y, side_by_side.iterrows(), strict=True):
    colour = ARM_COLOURS[GRADED_ARM] if r["kind"].startswith("estimate") else ALL_COLOUR
    marker = "o" if r["kind"].startswith("estimate") else "s"
    ax.errorbar(r["hr"], yi, xerr=[[r["hr"] - r["lower"]], [r["upper"] - r["hr"]]], fmt=marker,
                color=colour, capsize=3)
ax.axvline(1, color=ALL_COLOUR, linewidth=0.8)
ax.set_yticks(y, side_by_side.index)
ax.set_xlabel("Re-injury hazard ratio (95 % interval)")
ax.set_title("Estimates from the logs (green) and policy truth (grey): different questions")
plt.show()

# %% [markdown]
# **How to read this.**
#
# *Naive against MSM.* Both answer the same question (the hazard ratio per rule break so far,
# given the baseline covariates) and differ only in the weights. If the confounding described
# above is at work, the naive estimate is pulled towards "breaking the rule is harmless", and the
# MSM corrects part of that. But look at the interval widths: with the pain-free runners of one
# arm of a modest cohort (counted above), both estimates are **noisy**, and the difference between
# them is typically well inside either interval. One cohort of this size cannot tell you the
# direction or the size of the bias; exercise 3 switches off the runners' choice to see what
# changes, and larger cohorts narrow the intervals (raise `N_COHORT` if you can wait a few
# minutes).
#
# *MSM against the policy truth.* These are **related but different estimands**
# (`rehab_outcomes.survival.tv_analysis`, docs/analysis.md), and no number here is "the truth of
# the MSM":
#
# * the MSM estimates the effect **per rule-breaking step-up**, assuming each break multiplies the
#   hazard by the same factor; the truth compares two **whole regimes**, in which a looser rule
#   changes every decision, not only the ones runners break;
# * the MSM's population is the runners who **reached pain-free running under the observed
#   adherence**, a group selected after the breaks started; each row of the truth compares the
#   pain-free runners of two regimes, which are different runners becoming pain-free at different
#   times;
# * the MSM's breaks are **measured from the logs**: a lower bound (missing sessions, missing
#   next-day pain), with some false step-ups from the day-to-day variation in run length; the
#   truth uses the model's own decisions;
# * the MSM is unbiased only if the denominator model captures everything that drives both the
#   decision and the outcome. In the model the decision depends on "felt good recently", which the
#   logs record only partly; and the denominator uses the week's own highest pain, which includes
#   the runs at and after the step-up, so part of it is measured *after* the decision.
#
# What can be compared is the **direction**: do both say that stepping up against the rule
# raises the risk of re-injury? The sizes need not agree, and the pipeline reports the comparison
# without tuning either side (`analyse --sessions --policy-truth`).

# %% [markdown]
# ## Exercises
#
# Try each one before you look at the solutions below; open a hint if you are stuck.
#
# 1. With the policy simulator, compare all six combinations of pain threshold (2, 4, none) and
#    next-day rule (on, off) at strength 2/week. Which gives the highest P(pain-free and not
#    re-injured at 52 weeks), and what does it cost in P(pain-free by 12 weeks)? Then try
#    strength 0, 1 and 3/week in the simulator cell: does the dose matter as much as the rule?
#    <details><summary>Hint</summary>Four of the six combinations are already in <code>overview</code>. Build the other two with <code>replace(REFERENCE, name=..., pain_threshold=..., next_day_rule=...)</code> and pass them to <code>policy_truth(N_POLICY, SEED_POLICY, params, policies)</code> with the reference first: the same <code>n</code> and seed give the same runners, so the rows can be put together.</details>
# 2. Re-run `msm_rule` with `truncate=None` and with `truncate=(5, 95)`. How do the MSM's hazard
#    ratio and its standard error change, and why does heavier truncation move the MSM towards the
#    naive estimate?
#    <details><summary>Hint</summary><code>msm_rule(cohort.episodes, weekly, counting, truncate=None)</code>; compare the <code>msm</code> rows. What is a weighted model with every weight equal to 1?</details>
# 3. Switch off the runners' *choice*: simulate the same cohort with
#    `replace(params, break_per_felt_good=0.0)`, so that whether a runner breaks the rule no longer
#    depends on how they felt recently (only on their km before the injury, which both models
#    include). Does recent pain still predict a logged rule break? How far apart are naive and
#    MSM now?
#    <details><summary>Hint</summary><code>simulate_loadcap_cohort(N_COHORT, seed=SEED_COHORT, lc=replace(params, break_per_felt_good=0.0), policy_truth_n=None)</code>. The MSM uses the graded arm only, so you can keep only its episodes and sessions before <code>weekly_exposures</code> (faster), then <code>reinjury_counting_table</code> and <code>msm_rule</code>. For the decision table copy the grouping of section 4; the summary returned by <code>msm_rule</code> gives the truncation bounds, a measure of the spread of the weights. What does the programme do after a flare?</details>
# 4. Use `exposure="any_rule_break"` (ever broken the rule so far, lagged one week) instead of
#    the count. What question does this hazard ratio answer, and how does it compare with the
#    per-break estimate?
#    <details><summary>Hint</summary><code>msm_rule(cohort.episodes, weekly, counting, exposure="any_rule_break")</code>; how many rule breaks does a runner who ever broke the rule have on average (look at <code>counting["cum_rule_breaks"]</code> among the graded arm's rows with <code>any_rule_break == 1</code>)?</details>

# %% [markdown]
# ## Solutions
#
# The solution cells are collapsed (their code is hidden: click the "..." or the bar left of
# the cell to expand it); their output is shown. The answers in words are behind "Answer".
# Solutions use their own variable names, so the notebook's results above stay as they were.

# %% [markdown]
# ### Solution 1
#
# <details><summary>Answer</summary>The table below puts the six combinations (and rest only) side by side, sorted by the one-year outcome. The two columns pull in opposite directions: the looser the rule, the more runners are back pain-free by 12 weeks; the documentation (docs/load-capacity.md) expects the stricter rules to keep more runners pain-free <em>and</em> free of re-injury at a year, a trade-off between speed and durability; check in the table whether the current parameters still say so, and whether the differences are large against the Monte Carlo SEs. The reference row is computed a second time and is identical to the overview's: same runners, same random numbers. For the strength dose, the overview's "strength 0/week" row is in the table; try 1 and 3 sessions in the simulator cell. The model's strength gain has diminishing returns, so expect none at all to stand out and 1 against 2 against 3 to differ much less; check the gaps against their SEs. Which policy is "best" depends on how you weigh a faster return against a later re-injury, and on whether the model is right.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
missing_pairs = [(4, False), (None, True)]  # the other four combinations are in the overview
grid = [replace(REFERENCE, name=f"threshold {thr}, next-day rule {'on' if nd else 'off'}",
                pain_threshold=None if thr is None else float(thr), next_day_rule=nd)
        for thr, nd in missing_pairs]
grid_truth = policy_truth(N_POLICY, SEED_POLICY, params, (REFERENCE, *grid))
reference_matches = bool(np.allclose(grid_truth.iloc[0][list(OUTCOMES)].to_numpy(float),
                                     overview.iloc[0][list(OUTCOMES)].to_numpy(float)))
print(f"reference row identical to the overview's: {reference_matches}")
from_overview = [REFERENCE.name, "pain threshold 4", "next-day rule off", "no pain rule",
                 "strength 0/week", "rest_only"]  # strength 0/week: the dose, for comparison
all_policies = pd.concat([overview[overview["policy"].isin(from_overview)], grid_truth.iloc[1:]],
                         ignore_index=True)
all_policies.set_index("policy")[shown_columns].sort_values("p_pain_free_not_reinjured_52w",
                                                             ascending=False)

# %% [markdown]
# ### Solution 2
#
# <details><summary>Answer</summary>Truncation pulls the extreme weights to the bounds. Without truncation a few episode-weeks with very large weights carry much of the weighted data: the standard error is usually larger and the estimate less stable. With heavier truncation (5th/95th) the weights move closer to 1, and a weighted model with all weights equal to 1 <em>is</em> the naive model, so the MSM drifts towards the naive estimate: less variance, more of the confounding left in. Compare the three MSM rows below with the naive row, and the shifts with the standard errors: at this cohort size they are of the same order.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
truncation_rows = {"naive": est.loc["naive", ["coef", "se", "hr"]].to_dict()}
for label, trunc in [("none", None), ("1st/99th (default)", (1.0, 99.0)), ("5th/95th", (5.0, 95.0))]:
    if trunc == (1.0, 99.0):
        table_t, info_t = msm_table, msm_info  # fitted above
    else:
        table_t, info_t = msm_rule(cohort.episodes, weekly, counting, truncate=trunc)
    msm_row = table_t.set_index("model").loc["msm"]
    truncation_rows[f"MSM, truncation {label}"] = {
        "coef": msm_row["coef"], "se": msm_row["se"], "hr": msm_row["hr"],
        "largest weight": info_t["truncation_bounds"][1] if trunc else weights_raw["sw"].max()}
pd.DataFrame(truncation_rows).T

# %% [markdown]
# ### Solution 3
#
# <details><summary>Answer</summary>Recent pain still predicts a logged break: the share of weeks with a break still falls as the previous week's pain rises (first table), although no runner now chooses by how they feel. The programme itself does it: after a flare the runner steps back a stage and skips a run, so a painful stretch rarely holds a step-up; and a painful stretch also signals an irritated knee, which raises the risk of re-injury. The confounding by the history is built into the programme, not only into the runners' choices, so the weights still have work to do and are about as spread out as before (compare the 1st–99th percentile ranges), and naive and MSM still need not agree. Within one cohort of this size the gap between them is, in any case, of the order of its noise (second table): to see a systematic difference you would repeat the simulation over many seeds.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
no_choice = simulate_loadcap_cohort(N_COHORT, seed=SEED_COHORT, lc=replace(params, break_per_felt_good=0.0),
                                    policy_truth_n=None)
nc_episodes = no_choice.episodes[no_choice.episodes["arm"] == GRADED_ARM]
nc_sessions = no_choice.sessions[no_choice.sessions["episode_id"].isin(nc_episodes["episode_id"])]
nc_weekly = weekly_exposures(nc_sessions, nc_episodes)
nc_counting = reinjury_counting_table(nc_episodes, nc_weekly)
nc_table, nc_info = msm_rule(nc_episodes, nc_weekly, nc_counting)

nc_weeks = nc_weekly.sort_values(["episode_id", "week"]).copy()
nc_weeks["pain_previous_week"] = nc_weeks.groupby("episode_id")["pain_during_max"].shift()
nc_at_risk = nc_weeks[nc_weeks["at_risk_break"]].copy()
nc_at_risk["recent pain"] = pd.cut(nc_at_risk["pain_previous_week"], **bands)
display(pd.concat({
    "felt good drives breaks (section 4)": decision["share_with_break"],
    "break_per_felt_good = 0": nc_at_risk.groupby("recent pain", observed=False)["rule_breaks"].agg(
        lambda x: (x > 0).mean()),
}, axis=1).rename_axis("share of weeks at risk with a break, by recent pain"))
nc_est = nc_table.set_index("model")
pd.DataFrame({
    "naive log HR": [est.loc["naive", "coef"], nc_est.loc["naive", "coef"]],
    "MSM log HR": [est.loc["msm", "coef"], nc_est.loc["msm", "coef"]],
    "MSM - naive": [est.loc["msm", "coef"] - est.loc["naive", "coef"],
                    nc_est.loc["msm", "coef"] - nc_est.loc["naive", "coef"]],
    "MSM se": [est.loc["msm", "se"], nc_est.loc["msm", "se"]],
    "1st-99th percentile range of the weights": [
        "{:.2f}–{:.2f}".format(*msm_info["truncation_bounds"]),
        "{:.2f}–{:.2f}".format(*nc_info["truncation_bounds"])],
}, index=["felt good drives breaks (section 4)", "break_per_felt_good = 0"])

# %% [markdown]
# ### Solution 4
#
# <details><summary>Answer</summary>With <code>any_rule_break</code> the hazard ratio compares weeks after a runner has broken the rule at least once with weeks before (or of runners who never did): "ever versus never", whatever the number of breaks. Each coding carries its own assumption: the count assumes that every break multiplies the hazard by the same factor, "ever" that the first break does it all. If the per-break model were right, the ever-versus-never log HR would be roughly the per-break log HR times the typical number of breaks of a breaker (printed below as "implied"). Compare it with the estimate, in units of its standard error: a large gap would say that the two assumptions cannot both hold; with this few re-injuries the intervals are usually too wide to choose between them. A different exposure coding answers a different question: say which one you estimate.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
ever_table, _ = msm_rule(cohort.episodes, weekly, counting, exposure="any_rule_break")
graded_counting = counting[counting["arm"] == GRADED_ARM]
breakers = graded_counting.loc[graded_counting["any_rule_break"] == 1, "cum_rule_breaks"]
print(f"rows after a first break: mean rule breaks so far {breakers.mean():.2f}")
for model in ("naive", "msm"):
    print(f"{model}: implied ever-vs-never log HR {est.loc[model, 'coef'] * breakers.mean():.3f}, "
          f"estimated {ever_table.set_index('model').loc[model, 'coef']:.3f} "
          f"(se {ever_table.set_index('model').loc[model, 'se']:.3f})")
pd.concat({"per break (cum_rule_breaks)": msm_table.set_index("model"),
           "ever broken (any_rule_break)": ever_table.set_index("model")})

# %%
pol = overview.set_index("policy")
mc_se_cols = [f"{o}_mc_se" for o in OUTCOMES if o.startswith("p_")]
print(
    f"SUMMARY 07 pf12_reference={pol.loc[REFERENCE.name, 'p_pain_free_12w']:.3f} "
    f"pf12_no_rule={pol.loc['no pain rule', 'p_pain_free_12w']:.3f} "
    f"ok52_reference={pol.loc[REFERENCE.name, 'p_pain_free_not_reinjured_52w']:.3f} "
    f"ok52_strength0={pol.loc['strength 0/week', 'p_pain_free_not_reinjured_52w']:.3f} "
    f"max_mc_se={pol[mc_se_cols].to_numpy().max():.4f} "
    f"break_share_reference={pol.loc[REFERENCE.name, 'rule_break_share']:.3f} "
    f"break_share_natural={pol.loc['natural course (rule breaks)', 'rule_break_share']:.3f} "
    f"reference_matches={reference_matches} "
    f"mean_untruncated_weight={msm_info['mean_untruncated_weight']:.3f} "
    f"n_truncated={msm_info['n_truncated']} "
    f"naive_log_hr={est.loc['naive', 'coef']:.3f} msm_log_hr={est.loc['msm', 'coef']:.3f} "
    f"msm_se={est.loc['msm', 'se']:.3f} "
    f"truth_next_day_off_log_hr={pol.loc['next-day rule off', 'reinjury_log_hr']:.3f} "
    f"graded_pain_free={msm_info['episodes']} graded_reinjuries={msm_info['events']}"
)
