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
# # 2. Kaplan–Meier curves and the log-rank test
#
# How long does it take a runner with knee pain to run pain-free again, and does the treatment
# arm matter? This notebook introduces the two classic tools for such *time-to-event* questions:
#
# * the **Kaplan–Meier** (KM) estimator of the share of runners not yet pain-free at each time,
#   computed first **by hand** on eight runners and then with the package;
# * the **log-rank test** of whether curves differ: overall, pairwise (with Holm's correction)
#   and stratified by clinic site.

# %%
# %matplotlib inline

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import norm

from rehab_outcomes.contract import derive_outcomes
from rehab_outcomes.reporting.figures import plot_km, show
from rehab_outcomes.simulation import load_params, simulate_cohort
from rehab_outcomes.survival import CoxPH, KaplanMeier, holm, logrank_table

pd.set_option("display.precision", 3)
pd.set_option("display.width", 120)



# %% [markdown]
# ## Censoring
#
# Suppose a runner was last seen 10 weeks after the first visit and was not yet running
# pain-free. We do **not** know when (or whether) they became pain-free; we only know it took
# *more than* 10 weeks. That observation is **censored** (right-censored). In clinic records
# censoring happens when a runner is lost to follow-up, withdraws, reaches the end of the study
# window, or is still in care at the data cut.
#
# Two tempting shortcuts are both wrong:
#
# * **dropping** censored runners keeps only those who became pain-free, and the ones who drop
#   out early are often the slow cases: the result is too optimistic;
# * **treating the censoring time as the event time** pretends that every censored runner became
#   pain-free on the day of last contact: also too optimistic.
#
# The Kaplan–Meier estimator uses each runner for exactly as long as we watched them.

# %% [markdown]
# ## The estimator by hand
#
# Eight runners; `event = 1` means pain-free running was reached at `weeks`, `event = 0` means
# the runner was censored then.

# %%
tiny = pd.DataFrame({
    "weeks": [2, 3, 3, 5, 6, 8, 8, 12],
    "event": [1, 1, 0, 1, 0, 1, 1, 0],
})
tiny

# %% [markdown]
# At each distinct time $t_j$ count the runners still **at risk** $n_j$ (not yet pain-free and
# still followed just before $t_j$) and the **events** $d_j$. The chance of *not* becoming
# pain-free at $t_j$, given that you got that far, is $1 - d_j / n_j$; the KM estimate multiplies
# these conditional chances:
#
# $$\hat S(t) = \prod_{t_j \le t} \left(1 - \frac{d_j}{n_j}\right).$$
#
# A runner censored at $t_j$ still counts as at risk at $t_j$ (by convention events come first),
# and leaves afterwards. Greenwood's formula gives the variance of $\log \hat S(t)$ as
# $\sum_{t_j \le t} d_j / (n_j (n_j - d_j))$; the default 95 % interval is
# $\hat S(t) \exp(\pm 1.96 \cdot \mathrm{se})$ (the "log" interval, as in R).

# %%
by_time = tiny.groupby("weeks").agg(events=("event", "sum"), leaving=("event", "size"))
# at risk at t_j: everyone whose time is t_j or later (a reverse cumulative sum)
by_time["at_risk"] = by_time["leaving"][::-1].cumsum()[::-1]
by_time["p_not_now"] = 1 - by_time["events"] / by_time["at_risk"]
by_time["survival"] = by_time["p_not_now"].cumprod()
greenwood = by_time["events"] / (by_time["at_risk"] * (by_time["at_risk"] - by_time["events"]))
se_log = np.sqrt(greenwood.cumsum())
by_time["lower"] = by_time["survival"] * np.exp(-1.96 * se_log)
by_time["upper"] = np.minimum(by_time["survival"] * np.exp(1.96 * se_log), 1.0)
by_time

# %% [markdown]
# The same with the package (`group_col=None` fits one curve for everyone):

# %%
km_tiny = KaplanMeier().fit(tiny, "weeks", "event", group_col=None)
km_tiny.table_

# %%
hand = by_time[["at_risk", "survival", "lower", "upper"]].to_numpy(float)
package = km_tiny.table_[["n_at_risk", "survival", "lower", "upper"]].to_numpy(float)
hand_km_matches = bool(np.allclose(hand, package, rtol=0, atol=1e-3))  # 1.96 vs exact z
print("hand calculation matches the package:", hand_km_matches)

# %% [markdown]
# The curve is a staircase that steps down at each event; censored runners are marked with a
# tick. It stops at the last follow-up time: beyond 12 weeks we know nothing.

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
t = np.r_[0, by_time.index.to_numpy(float)]
ax.step(t, np.r_[1, by_time["survival"]], where="post", color="#0072B2", label="KM estimate")
ax.fill_between(t, np.r_[1, by_time["lower"]], np.r_[1, by_time["upper"]], step="post",
                color="#0072B2", alpha=0.2, label="95 % CI")
censored = tiny.loc[tiny["event"] == 0, "weeks"]
ax.plot(censored, by_time.loc[censored, "survival"], "|", color="k", markersize=10,
        label="censored")
ax.set_xlabel("Weeks")
ax.set_ylabel("Not yet pain-free")
ax.set_ylim(0, 1.05)
ax.legend()
plt.show()

# %% [markdown]
# **Median time**: the first time the curve reaches 0.5 or less. Its confidence interval is read
# off the confidence curves in the same way (first time the lower / upper curve reaches 0.5).
# If a curve never gets down to 0.5 the median is "not reached" (`NaN`).

# %%
km_tiny.summary[["n", "events", "median", "median_lower", "median_upper"]]

# %% [markdown]
# ## A simulated cohort
#
# Now 900 runners, randomised to the three arms (`default` scenario: the true hazard ratio of
# strength + graded running versus rest is 1.5, an assumption consistent with exercise therapy
# beating wait-and-see in patellofemoral pain reviews; stretching 1.05).

# %%
cohort = simulate_cohort(900, seed=7, params=load_params("default"), visits=False)
df = derive_outcomes(cohort.episodes)
df.groupby("arm")["pain_free_event"].agg(["size", "sum", "mean"]).rename(
    columns={"size": "runners", "sum": "pain-free", "mean": "share pain-free"})

# %%
km = KaplanMeier().fit(df, "pain_free_weeks", "pain_free_event", group_col="arm")
km.table_.head()

# %% [markdown]
# `summary` gives per arm the median time with its CI and the share **not yet** pain-free at 4,
# 8, 12, 26 and 52 weeks:

# %%
km.summary

# %%
show(plot_km, km.table_, "Not yet running pain-free", title="Time to pain-free running")

# %% [markdown]
# Any time point can be read off with `survival_at`; for instance the share still not pain-free
# after a year, with its confidence interval:

# %%
km.survival_at([52])

# %% [markdown]
# ### Other confidence intervals
#
# The "log" interval is R's default. The "log-log" interval (Stata's and SAS's default) stays
# inside [0, 1] by construction and is a little asymmetric; "plain" is the naive ± 1.96 SE. With
# hundreds of runners they hardly differ:

# %%
pd.concat({
    conf: KaplanMeier(conf_type=conf).fit(df).survival_at([26]).set_index("arm")
    for conf in ("log", "log-log", "plain")
}, names=["interval"])

# %% [markdown]
# ## The log-rank test
#
# At every event time, if the arms did not differ, the events would be shared among the arms in
# proportion to their numbers at risk. The log-rank test adds up **observed minus expected**
# events per arm over all event times and compares the total with its variance: a chi-square
# statistic with (number of arms − 1) degrees of freedom.
#
# `logrank_table` runs three kinds of test:
#
# * `overall`: do the three curves differ at all?
# * `pairwise`: each pair of arms; with three comparisons the chance of at least one false alarm
#   grows, so `p_holm` applies **Holm's** step-down correction;
# * `stratified_site`: observed minus expected computed **within** each clinic site and then
#   summed, so differences between sites (some clinics see faster recoveries) do not blur the
#   comparison of arms.

# %%
lr = logrank_table(df, "pain_free_weeks", "pain_free_event", group_col="arm", strata_col="site")
lr

# %% [markdown]
# Holm's rule by hand: sort the *m* p-values, multiply the smallest by *m*, the next by *m − 1*,
# and so on, never letting an adjusted value fall below the previous one. The package's `holm`
# does that (it matches R's `p.adjust(p, "holm")`):

# %%
pairwise = lr[lr["test"] == "pairwise"]
pd.DataFrame({"pair": pairwise["group_a"] + " vs " + pairwise["group_b"],
              "p": pairwise["p"].to_numpy(),
              "p_holm": holm(pairwise["p"].to_numpy())})

# %% [markdown]
# **Reading the results.** A small p-value says the curves are unlikely to be this different by
# chance alone; it does not say *how much* faster one arm is (that is the job of the hazard
# ratio, notebook 3, and of the restricted mean time, notebook 4). The log-rank test is most
# powerful when the hazards are proportional, and it can miss curves that cross.

# %% [markdown]
# ### Stretching looks *worse* than rest here: is the simulator wrong?
#
# The true hazard ratio of stretching versus rest is 1.05: slightly *faster* to pain-free
# running. Yet in this sample the stretching arm's median is later than rest's and its curve sits
# above. That is **sampling variation**, not a contradiction. With about 300 runners an arm, the
# estimated log hazard ratio has a standard error of about 0.1, twice the true effect
# (log 1.05 ≈ 0.05): roughly one sample in three of this size shows stretching behind rest.
#
# The estimate with its 95 % interval says how far the data pin the effect down. A Cox model
# with the arm only (notebook 3 explains it) estimates the **marginal** hazard ratio, which the
# simulator also reports (`truth["pain_free"]["marginal"]`, 1.04 here: slightly closer to 1 than
# the conditional 1.05, see notebook 3). Its interval is wide and reaches just past the truth:

# %%
true_hr_stretching = cohort.truth["pain_free"]["hr"]["arm:stretching_only"]
marginal_hr_stretching = cohort.truth["pain_free"]["marginal"]["hr"]["arm:stretching_only"]
stretch = CoxPH().fit(df, "pain_free_weeks", "pain_free_event", covariates=["arm"])
stretch = stretch.summary.set_index("term").loc["arm:stretching_only"]
stretching_ci_covers_truth = bool(stretch["hr_lower"] <= marginal_hr_stretching <= stretch["hr_upper"])
# chance that a sample of this size shows stretching behind rest although the truth is above 1
chance_looks_worse = float(norm.cdf(-np.log(marginal_hr_stretching) / stretch["se"]))
print(f"stretching vs rest: HR {stretch['hr']:.3f} (95 % CI {stretch['hr_lower']:.3f} to "
      f"{stretch['hr_upper']:.3f}); true marginal HR {marginal_hr_stretching:.3f}, "
      f"conditional {true_hr_stretching:.2f}")
print(f"the interval covers the marginal truth: {stretching_ci_covers_truth}")
print(f"chance that a sample of {len(df)} shows stretching behind rest: {chance_looks_worse:.0%}")

# %% [markdown]
# Only just: this sample is an unlucky one, about two standard errors below the truth
# (a 95 % interval misses its truth in 5 % of samples, and this one nearly does; the
# covariate-adjusted model of notebook 3 gives 0.84, 0.69 to 1.03, which just misses the
# conditional 1.05). Repeating the study shows what "sampling variation" means: 20 cohorts of
# 900 runners from the same world, each with its own seed.

# %%
repeated = []
for rep_seed in range(20):
    rep_df = derive_outcomes(simulate_cohort(900, seed=1000 + rep_seed, params=load_params("default"),
                                             visits=False).episodes)
    repeated.append(CoxPH().fit(rep_df, "pain_free_weeks", "pain_free_event",
                                covariates=["arm"]).summary.set_index("term").loc["arm:stretching_only"])
repeated = pd.DataFrame(repeated).reset_index(drop=True)
print(f"stretching HR over 20 cohorts: from {repeated['hr'].min():.2f} to {repeated['hr'].max():.2f}, "
      f"{int((repeated['hr'] < 1).sum())} of 20 below 1, geometric mean "
      f"{np.exp(np.log(repeated['hr']).mean()):.2f}; intervals covering the marginal truth: "
      f"{int(((repeated['hr_lower'] <= marginal_hr_stretching) & (marginal_hr_stretching <= repeated['hr_upper'])).sum())} of 20")

# %% [markdown]
# One sample is one draw. A small true effect needs many more runners than this to show its
# direction reliably, which is why a verdict should rest on the interval, not on which curve
# happens to be lower.

# %% [markdown]
# ## Exercises
#
# Try each one before you look at the solutions below; open a hint if you are stuck.
#
# 1. Add a ninth runner to `tiny` who is censored at week 1. Redo the hand calculation: which
#    numbers change, and why does the curve not step down at week 1?
#    <details><summary>Hint</summary>Append a row with <code>pd.concat</code>, then rerun the
#    <code>groupby</code> cell (or fit <code>KaplanMeier</code>) and compare <code>at_risk</code>
#    and <code>survival</code> with the table above.</details>
# 2. Treat every censored time in `df` as if pain-free running had been reached then (set
#    `pain_free_event` to 1) and refit. How much too optimistic are the medians?
#    <details><summary>Hint</summary><code>df.assign(pain_free_event=1)</code>, fit by arm and
#    put the <code>median</code> column of both summaries side by side.</details>
# 3. Simulate the `null` scenario (`load_params("null")`) with the same seed. What do the
#    overall and pairwise log-rank p-values look like now?
#    <details><summary>Hint</summary>Copy the <code>simulate_cohort</code> cell with
#    <code>params=load_params("null")</code>, then call <code>logrank_table</code> as above.</details>
# 4. Reduce the cohort to 150 runners. How wide do the confidence intervals of the medians
#    become, and which pairwise comparisons survive Holm's correction?
#    <details><summary>Hint</summary>Width = <code>median_upper - median_lower</code>; look at
#    <code>p_holm &lt; 0.05</code> in the pairwise rows.</details>
# 5. Fit the KM curves for `site` instead of `arm` (`group_col="site"`). Which site is fastest?
#    Compare with the site frailties in `cohort.truth["pain_free"]["site_frailty"]`.
#    <details><summary>Hint</summary>The fastest site has the smallest median (the curve that
#    drops first); a frailty above 1 multiplies the hazard, so it means faster recovery.</details>

# %% [markdown]
# ## Solutions
#
# The solution cells are collapsed (their code is hidden: click the "..." or the bar left of
# the cell to expand it); their output is shown. The answers in words are behind "Answer".
# Solutions use their own variable names, so the notebook's results above stay as they were.

# %% [markdown]
# ### Solution 1
#
# <details><summary>Answer</summary>The new runner adds one to the number at risk at week 1 only
# (nine instead of eight); from week 2 on everything is as before. At week 1 there is no event,
# so the factor is 1 − 0/9 = 1 and the curve does not step down: a censored runner only leaves
# the risk set. The survival values are unchanged.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
tiny9 = pd.concat([tiny, pd.DataFrame({"weeks": [1], "event": [0]})], ignore_index=True)
KaplanMeier().fit(tiny9, "weeks", "event", group_col=None).table_

# %% [markdown]
# ### Solution 2
#
# <details><summary>Answer</summary>Every median moves earlier, by several weeks in each arm:
# counting censored runners as recovered on their last visit credits them with a recovery that
# never happened (or happened later).</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
optimistic = KaplanMeier().fit(df.assign(pain_free_event=1), "pain_free_weeks", "pain_free_event",
                               group_col="arm")
pd.DataFrame({"KM (censoring respected)": km.summary.set_index("arm")["median"],
              "censored counted as events": optimistic.summary.set_index("arm")["median"]})

# %% [markdown]
# ### Solution 3
#
# <details><summary>Answer</summary>With no true differences the p-values are typically large
# (uniformly spread between 0 and 1 over repeated studies): about one study in twenty still gives
# p &lt; 0.05 by chance.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
null_df = derive_outcomes(simulate_cohort(900, seed=7, params=load_params("null"), visits=False).episodes)
logrank_table(null_df, "pain_free_weeks", "pain_free_event", group_col="arm", strata_col="site")

# %% [markdown]
# ### Solution 4
#
# <details><summary>Answer</summary>With a sixth of the runners the intervals of the medians are
# roughly 2–3 times as wide (standard errors grow like 1/√n), and often a median or its upper limit
# is not reached. Fewer pairwise comparisons, often none, stay below 0.05 after Holm.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
small_df = derive_outcomes(simulate_cohort(150, seed=7, params=load_params("default"), visits=False).episodes)
small_summary = KaplanMeier().fit(small_df, "pain_free_weeks", "pain_free_event").summary
display_cols = ["arm", "n", "median", "median_lower", "median_upper"]
print(small_summary[display_cols].assign(width=small_summary["median_upper"] - small_summary["median_lower"]))
small_lr = logrank_table(small_df, "pain_free_weeks", "pain_free_event", group_col="arm")
small_lr[small_lr["test"] == "pairwise"][["group_a", "group_b", "p", "p_holm"]]

# %% [markdown]
# ### Solution 5
#
# <details><summary>Answer</summary>The site with the largest frailty tends to have the
# smallest median, but with about 150 runners a site the ordering of close sites can swap by
# chance.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
by_site = KaplanMeier().fit(df, "pain_free_weeks", "pain_free_event", group_col="site").summary
by_site = by_site.rename(columns={"arm": "site"}).set_index("site")[["n", "median"]]
by_site["true frailty"] = pd.Series(cohort.truth["pain_free"]["site_frailty"])
by_site.sort_values("median")

# %%
overall_p = float(lr.loc[lr["test"] == "overall", "p"].iloc[0])
print(f"SUMMARY 02 hand_km_matches={hand_km_matches} n={len(df)} overall_p={overall_p:.3g} "
      f"stretching_hr={stretch['hr']:.3f} stretching_ci_covers_truth={stretching_ci_covers_truth}")
