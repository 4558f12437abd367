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
# # 1. Exploring a simulated cohort
#
# This notebook is the starting point of the series. You will
#
# 1. simulate a small cohort of runners with knee pain whose **true** treatment effects are known,
# 2. read the **data contract** that every clinic export must follow,
# 3. validate an export, break a few rows on purpose and look at the **quarantine** table,
# 4. look at the distributions of the baseline covariates and at the follow-up, and
# 5. open `truth.json`, the file that says what the analysis *should* find.
#
# Everything is done by calling the `rehab_outcomes` package; the notebook only shows how the
# pieces fit together. You need basic Python and pandas.

# %% [markdown]
# ## Setup
#
# `%matplotlib inline` draws figures inside the notebook. Nothing is written outside a temporary
# folder that is deleted at the end.

# %%
# %matplotlib inline
import json
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from rehab_outcomes.contract import Episodes, derive_outcomes, read_table, validate_episodes
from rehab_outcomes.simulation import load_params, simulate_cohort

pd.set_option("display.precision", 3)
pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 20)
WORKDIR = Path(tempfile.mkdtemp(prefix="rehab-nb01-"))

# %% [markdown]
# ## A simulated cohort
#
# `simulate_cohort(n, seed, params)` draws `n` treatment episodes (one per runner). The
# parameters come from a named **scenario**; `default` holds conservative effects taken from the
# literature. Each runner gets one of three arms:
#
# | arm | what the runner does |
# |---|---|
# | `rest_only` | rests until the knee settles (the **reference** arm) |
# | `stretching_only` | stretches, no strength work |
# | `strength_graded_running` | strength training twice a week and a graded walk–run return |
#
# The simulator's defaults are *assumptions* anchored on published figures, for example age
# about 31 years and 62 % women (Esculier et al. 2018), 35 % of rest-only runners not pain-free
# after a year (Collins et al. 2013, ≈ 40 % unfavourable outcome at 12 months) and re-injury of
# about 46 % a year after return (Desai et al. 2021). `docs/simulation.md` lists every parameter,
# its source and how confident we are in it.
#
# The same seed always gives the same cohort, so your numbers will match the text.

# %%
params = load_params("default")
cohort = simulate_cohort(1000, seed=2024, params=params, scenario="default")
episodes = cohort.episodes
print(f"{len(episodes)} episodes, {len(cohort.visits)} visits")
# patient_key is a pseudonym; we still keep it out of printed tables by habit
episodes.drop(columns="patient_key").head()

# %% [markdown]
# ## The data contract
#
# A clinic export has one row per treatment episode. The contract is written once, as a
# [pandera](https://pandera.readthedocs.io) model `Episodes`; its fields carry the type, whether
# a value may be missing and a description. The same model drives validation and the docs
# (`docs/data-contract.md`), so they cannot disagree.

# %%
schema = Episodes.to_schema()
contract = pd.DataFrame(
    {
        "type": [str(col.dtype) for col in schema.columns.values()],
        "may be missing": [col.nullable for col in schema.columns.values()],
        "description": [col.description for col in schema.columns.values()],
    },
    index=list(schema.columns),
)
with pd.option_context("display.max_colwidth", 90):
    display(contract)

# %% [markdown]
# Some rules involve several columns at once, for example "a re-injury needs a pain-free date,
# and must come after it". They are the model's *dataframe checks*:

# %%
[check.name for check in schema.checks]

# %% [markdown]
# ## Validation and quarantine
#
# A real export arrives as a file of text. We write the simulated cohort to a temporary folder
# (`cohort.write`) and read it back with `read_table`, exactly as the `rehab-outcomes validate`
# command would. The simulator promises that its output obeys the contract, so nothing should be
# quarantined.

# %%
paths = cohort.write(WORKDIR / "simulated")
raw = read_table(paths["episodes.csv"])
clean = validate_episodes(raw)
print(f"rows in: {clean.n_in}, valid: {clean.n_valid}, quarantined: {clean.n_quarantined}")

# %% [markdown]
# Now we break a few rows on purpose, the way real exports go wrong:
#
# * an impossible age (130),
# * a clinic's own code for an arm (`Rest`) instead of the contract's `rest_only`,
# * a date written the American way (`03/02/2023`),
# * a pain-free date *before* the first visit,
# * an e-mail address typed into the pseudonymous patient key (identifying data!),
# * the same `episode_id` used twice.
#
# Validation never fixes or guesses: every failing row goes to quarantine with the rule it broke,
# and identifying values are masked.

# %%
broken = raw.copy()
broken.loc[3, "age_years"] = "130"
broken.loc[8, "arm"] = "Rest"
broken.loc[15, "first_visit_date"] = "03/02/2023"
broken.loc[21, "pain_free_run_date"] = "2021-12-01"  # before every first visit of the cohort
broken.loc[30, "patient_key"] = "runner.one@example.org"
broken.loc[40, "episode_id"] = broken.loc[41, "episode_id"]
expected_rows = 7  # the duplicated id puts both copies (rows 40 and 41) in quarantine

checked = validate_episodes(broken)
checked.quarantine

# %% [markdown]
# The `row` column counts data rows from 1 (row 1 is the first line after the header), so our
# position `3` is row 4. Per rule:

# %%
pd.Series(checked.rows_by_rule(), name="rows")

# %% [markdown]
# The invariant of validation: **no row disappears silently**,
# `n_in = n_valid + n_quarantined`.

# %%
print(f"n_in = {checked.n_in}, n_valid = {checked.n_valid}, n_quarantined = {checked.n_quarantined}")
assert checked.n_in == checked.n_valid + checked.n_quarantined
valid = checked.valid

# %% [markdown]
# ## Derived outcomes
#
# The analysis never works with dates directly. `derive_outcomes` turns them into the two
# survival times used everywhere in the toolkit:
#
# * `pain_free_weeks`: from the first visit to the pain-free date, or to the last contact if the
#   runner never got there; `pain_free_event` is 1 when the pain-free date is known, 0 when the
#   time is **censored** (we only know the runner was not yet pain-free at last contact);
# * `reinjury_weeks`: a second clock that starts at the pain-free date (notebook 4).

# %%
df = derive_outcomes(valid)
cols = ["arm", "exit_reason", "pain_free_weeks", "pain_free_event", "reinjury_weeks", "reinjury_event"]
df[cols].head(8)

# %% [markdown]
# ## Distributions of the baseline covariates
#
# The simulator draws age from a normal distribution (mean 31, SD 7), weekly running distance
# and symptom duration from right-skewed log-normal distributions (medians 20 km and 4 months)
# and baseline pain around 5/10. Histograms show the shapes.

# %%
fig, axes = plt.subplots(2, 2, figsize=(10, 6), layout="constrained")
specs = [
    ("age_years", "Age (years)", 20),
    ("weekly_km_before_injury", "Weekly km before injury", 30),
    ("symptom_weeks", "Weeks of symptoms before the first visit", 30),
    ("baseline_pain_nrs", "Baseline pain (NRS 0–10)", np.arange(-0.5, 11)),
]
for ax, (col, label, bins) in zip(axes.ravel(), specs, strict=True):
    ax.hist(df[col].astype(float), bins=bins, color="#0072B2", edgecolor="white")
    ax.set_xlabel(label)
    ax.set_ylabel("Episodes")
plt.show()

# %%
df[["age_years", "bmi", "weekly_km_before_injury", "symptom_weeks", "baseline_pain_nrs",
    "baseline_kujala"]].astype(float).describe().T

# %% [markdown]
# Categorical covariates: shares in the cohort against the simulator's settings (sex 62 % female
# after Esculier 2018; diagnoses 55 / 30 / 15 %, a low-confidence assumption).

# %%
pd.DataFrame({
    "cohort share": df["sex"].value_counts(normalize=True),
    "setting": pd.Series(params.cohort.sex_shares, index=["female", "male", "other"]),
})

# %%
pd.concat(
    {col: df[col].value_counts(normalize=True) for col in ("diagnosis", "arm", "site")},
    names=["column", "level"],
).rename("share").to_frame()

# %% [markdown]
# BMI and the Kujala score may be missing (5 % and 2 % by default, completely at random):

# %%
df[["bmi", "baseline_kujala"]].isna().mean().rename("share missing")

# %% [markdown]
# ## Follow-up
#
# Follow-up ends at the first of: re-injury, 104 weeks after the first visit (administrative end,
# `completed`), loss to follow-up (25 % by 12 months; a fifth of those are recorded as
# `withdrew`) or the data cut on 2025-06-30 (`ongoing`). Loss to follow-up is a **medium
# confidence** setting: clinic records lose 35–50 %, trials 10–20 %.

# %%
df["exit_reason"].value_counts()

# %%
follow_up_weeks = (df["last_contact_date"] - df["first_visit_date"]).dt.days / 7
fig, ax = plt.subplots(figsize=(7, 3.5))
for reason, weeks in follow_up_weeks.groupby(df["exit_reason"], observed=True):
    ax.hist(weeks, bins=np.arange(0, 108, 4), alpha=0.6, label=reason)
ax.set_xlabel("Weeks from first visit to last contact")
ax.set_ylabel("Episodes")
ax.legend()
plt.show()

# %% [markdown]
# How many runners were still being followed at 12 months? The censoring of the pain-free clock
# is what later notebooks have to deal with.

# %%
print(f"share followed for at least 52 weeks: {(follow_up_weeks >= 52).mean():.2f}")
print(f"share censored before reaching pain-free running: {1 - df['pain_free_event'].mean():.2f}")

# %% [markdown]
# ## What `truth.json` holds
#
# Because the cohort is simulated, we know the answer the analysis should recover. `truth.json`
# (also `cohort.truth`) records the seed, design, scenario, the calibrated Weibull baselines,
# the site frailties, the allocation model and, most importantly, the **true log hazard ratios**
# of both outcomes, per unit of each Cox term.

# %%
truth = json.loads(paths["truth.json"].read_text(encoding="utf-8"))
list(truth)

# %%
pd.DataFrame({
    "pain_free log HR": truth["pain_free"]["log_hr"],
    "pain_free HR": truth["pain_free"]["hr"],
    "reinjury log HR": truth["reinjury"]["log_hr"],
    "reinjury HR": truth["reinjury"]["hr"],
})

# %% [markdown]
# A hazard ratio of 1.5 for `arm:strength_graded_running` on the pain-free outcome means that, at
# any moment, a runner in that arm reaches pain-free running at 1.5 times the rate of a
# comparable rest-only runner (same age, sex, running volume, symptoms, pain and site). For
# re-injury, a hazard ratio *below* 1 means fewer re-injuries.
#
# The calibration targets and what the calibrated baseline achieves:

# %%
print(json.dumps(truth["calibration_achieved"], indent=2))
print(json.dumps(truth["pain_free"]["site_frailty"], indent=2))

# %% [markdown]
# ## Exercises
#
# Try each one before you look at the solutions below; open a hint if you are stuck.
#
# 1. Simulate the same cohort twice with the same seed and check that the episodes are identical
#    (`DataFrame.equals`). Then change the seed: what changes, what does not?
#    <details><summary>Hint</summary><code>simulate_cohort(..., seed=2024)</code> twice; <code>a.equals(b)</code>. Compare the columns and the number of rows of two seeds.</details>
# 2. Break a row in another way: a re-injury date without a pain-free date, or a
#    `last_contact_date` before the pain-free date. Which rule catches it?
#    <details><summary>Hint</summary>Copy <code>raw</code>, pick a row with a re-injury date, blank its <code>pain_free_run_date</code>; in another row move <code>last_contact_date</code> before the pain-free date; read the <code>rule</code> column of the quarantine.</details>
# 3. Write a YAML file that sets `follow_up: {lost_by_12_months: 0.45}` (closer to clinic
#    records) and load it with `load_params("default", path)`. How does the share of
#    `lost_to_follow_up` change?
#    <details><summary>Hint</summary>Write the YAML text into a file inside <code>WORKDIR</code> with <code>Path.write_text</code>; compare <code>exit_reason.value_counts(normalize=True)</code>.</details>
# 4. Simulate with `design="observational"` and compare the mean weekly km by arm with this
#    cohort. What does `truth["allocation"]` say about why they differ?
#    <details><summary>Hint</summary><code>simulate_cohort(1000, seed=2024, params=params, design="observational")</code>, then <code>groupby("arm")["weekly_km_before_injury"].mean()</code>.</details>
# 5. Look at `cohort.visits` for one episode: how do `walk_run_stage` and `pain_nrs` change from
#    visit to visit?
#    <details><summary>Hint</summary><code>cohort.visits[cohort.visits["episode_id"] == some_id]</code>, sorted by <code>visit_date</code>.</details>

# %% [markdown]
# ## Solutions
#
# The solution cells are collapsed (their code is hidden: click the "..." or the bar left of
# the cell to expand it); their output is shown. The answers in words are behind "Answer".
# Solutions use their own variable names, so the notebook's results above stay as they were.

# %% [markdown]
# ### Solution 1
#
# <details><summary>Answer</summary>Same seed, same cohort: <code>equals</code> is True. Another seed gives other runners (ages, dates, outcomes), but the columns, the number of episodes and the distributions they are drawn from stay the same.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
same_a = simulate_cohort(300, seed=2024, params=params, visits=False).episodes
same_b = simulate_cohort(300, seed=2024, params=params, visits=False).episodes
other = simulate_cohort(300, seed=2025, params=params, visits=False).episodes
print("same seed, identical episodes:", same_a.equals(same_b))
print("other seed, identical episodes:", same_a.equals(other))
print("same columns and size:", list(same_a.columns) == list(other.columns) and len(same_a) == len(other))
pd.DataFrame({"seed 2024": same_a["age_years"].describe(), "seed 2025": other["age_years"].describe()})

# %% [markdown]
# ### Solution 2
#
# <details><summary>Answer</summary>A re-injury without a pain-free date and a last contact before the pain-free date both break the date-order rules of the contract; the quarantine names the rule and the column of each row.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
broken2 = raw.copy()
reinjured_rows = broken2.index[broken2["reinjury_date"].notna() & (broken2["reinjury_date"] != "")]
pain_free_rows = broken2.index[broken2["pain_free_run_date"].notna() & (broken2["pain_free_run_date"] != "")
                               & ~broken2.index.isin(reinjured_rows)]
broken2.loc[reinjured_rows[0], "pain_free_run_date"] = None  # re-injured, never pain-free
broken2.loc[pain_free_rows[0], "last_contact_date"] = "2000-01-01"  # last seen before pain-free
validate_episodes(broken2).quarantine[["row", "rule", "column"]]

# %% [markdown]
# ### Solution 3
#
# <details><summary>Answer</summary>The share <code>lost_to_follow_up</code> rises from about 28 % to about 46 %, and fewer runners complete: more censoring, so later estimates rest on fewer runners.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
loss_yaml = WORKDIR / "more_loss.yaml"
loss_yaml.write_text("follow_up: {lost_by_12_months: 0.45}\n", encoding="utf-8")
shares = {
    label: simulate_cohort(1000, seed=2024, params=p, visits=False).episodes["exit_reason"]
    .value_counts(normalize=True)
    for label, p in [("default", params), ("lost_by_12_months 0.45", load_params("default", loss_yaml))]
}
pd.DataFrame(shares).round(3)

# %% [markdown]
# ### Solution 4
#
# <details><summary>Answer</summary>In the observational design the strength arm has clearly higher weekly km: the allocation log-odds are positive for km (and symptom weeks and pain), so clinicians' choice depends on the runner. Randomised, the arms look alike.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
observational = simulate_cohort(1000, seed=2024, params=params, design="observational", visits=False)
display(pd.DataFrame({
    "randomised": episodes.groupby("arm")["weekly_km_before_injury"].mean(),
    "observational": observational.episodes.groupby("arm")["weekly_km_before_injury"].mean(),
}))
pd.DataFrame(observational.truth["allocation"]["log_odds"])

# %% [markdown]
# ### Solution 5
#
# <details><summary>Answer</summary>The stage moves up one step at a time and can stay put for weeks; pain jumps up and down from visit to visit (visit pain mixes daily life and running), and the stage advances mostly after a low-pain visit. Look at a few other episodes too.</details>

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
visit_counts = cohort.visits["episode_id"].value_counts()
one_episode = visit_counts.index[visit_counts >= 4][0]
cohort.visits.loc[cohort.visits["episode_id"] == one_episode,
                  ["visit_date", "walk_run_stage", "pain_nrs"]].sort_values("visit_date")

# %%
shutil.rmtree(WORKDIR)
print(
    f"SUMMARY 01 n_in={checked.n_in} n_valid={checked.n_valid} "
    f"n_quarantined={checked.n_quarantined} expected_quarantined={expected_rows} "
    f"clean_quarantined={clean.n_quarantined}"
)
