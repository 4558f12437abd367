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
# 1. Simulate the same cohort twice with the same seed and check that the episodes are identical
#    (`DataFrame.equals`). Then change the seed: what changes, what does not?
# 2. Break a row in another way: a re-injury date without a pain-free date, or a
#    `last_contact_date` before the pain-free date. Which rule catches it?
# 3. Write a YAML file that sets `follow_up: {lost_by_12_months: 0.45}` (closer to clinic
#    records) and load it with `load_params("default", path)`. How does the share of
#    `lost_to_follow_up` change?
# 4. Simulate with `design="observational"` and compare the mean weekly km by arm with this
#    cohort. What does `truth["allocation"]` say about why they differ?
# 5. Look at `cohort.visits` for one episode: how do `walk_run_stage` and `pain_nrs` change from
#    visit to visit?

# %%
shutil.rmtree(WORKDIR)
print(
    f"SUMMARY 01 n_in={checked.n_in} n_valid={checked.n_valid} "
    f"n_quarantined={checked.n_quarantined} expected_quarantined={expected_rows} "
    f"clean_quarantined={clean.n_quarantined}"
)
