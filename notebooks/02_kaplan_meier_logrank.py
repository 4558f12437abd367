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

from rehab_outcomes.contract import derive_outcomes
from rehab_outcomes.reporting.figures import plot_km, show
from rehab_outcomes.simulation import load_params, simulate_cohort
from rehab_outcomes.survival import KaplanMeier, holm, logrank_table

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
# ## Exercises
#
# 1. Add a ninth runner to `tiny` who is censored at week 1. Redo the hand calculation: which
#    numbers change, and why does the curve not step down at week 1?
# 2. Treat every censored time in `df` as if pain-free running had been reached then (set
#    `pain_free_event` to 1) and refit. How much too optimistic are the medians?
# 3. Simulate the `null` scenario (`load_params("null")`) with the same seed. What do the
#    overall and pairwise log-rank p-values look like now?
# 4. Reduce the cohort to 150 runners. How wide do the confidence intervals of the medians
#    become, and which pairwise comparisons survive Holm's correction?
# 5. Fit the KM curves for `site` instead of `arm` (`group_col="site"`). Which site is fastest?
#    Compare with the site frailties in `cohort.truth["pain_free"]["site_frailty"]`.

# %%
overall_p = float(lr.loc[lr["test"] == "overall", "p"].iloc[0])
print(f"SUMMARY 02 hand_km_matches={hand_km_matches} n={len(df)} overall_p={overall_p:.3g}")
