"""Each rule of the data contract catches a row that breaks it and passes one that doesn't."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import make_clean_export

from rehab_outcomes.contract import derive_outcomes, validate_episodes, validate_visits
from rehab_outcomes.contract.schema import Episodes

# (column, bad value, expected rule, a good value at the edge of the rule)
ROW_DEFECTS = [
    ("episode_id", "EP 01", "episode_id:pattern", "EP-01_x"),
    ("episode_id", "E" * 65, "episode_id:pattern", "E" * 64),
    ("episode_id", "EP01\n", "episode_id:pattern", "EP01"),
    ("episode_id", None, "episode_id:not_nullable", "EP9"),
    ("patient_key", "short", "patient_key:pattern", "abcdEFGH"),
    ("patient_key", "jane.doe@example.org", "patient_key:pattern", "janedoe_example_org"),
    ("patient_key", "4010232137", "patient_key:not_identifying", "4010232138"),  # NHS check digit
    ("patient_key", "07700900123", "patient_key:not_identifying", "K07700900123"),  # UK phone
    ("patient_key", "123-45-6789", "patient_key:not_identifying", "123-45-678X"),  # US SSN
    ("site", None, "site:not_nullable", "s"),
    ("site", "", "site:str_length(1, 32)", "s"),
    ("site", "x" * 33, "site:str_length(1, 32)", "x" * 32),
    ("site", "clinic@example.org", "site:not_identifying", "clinic_example"),
    ("arm", "Rest", "arm:isin(['rest_only', 'stretching_only', 'strength_graded_running'])", "rest_only"),
    ("diagnosis", "pfps", "diagnosis:isin(['patellofemoral_pain', 'itb_syndrome', "
     "'patellar_tendinopathy', 'meniscal_irritation', 'other_knee'])", "other_knee"),
    ("age_years", "91", "age_years:less_than_or_equal_to(90)", "90"),
    ("age_years", "11", "age_years:greater_than_or_equal_to(12)", "12"),
    ("age_years", "31.5", "age_years:type:integer", "31.0"),
    ("age_years", "thirty", "age_years:type:integer", "30"),
    ("sex", "F", "sex:isin(['female', 'male', 'other'])", "other"),
    ("bmi", "13.9", "bmi:greater_than_or_equal_to(14)", "14"),
    ("bmi", "50.1", "bmi:less_than_or_equal_to(50)", None),
    ("weekly_km_before_injury", "-1", "weekly_km_before_injury:greater_than_or_equal_to(0)", "0"),
    ("weekly_km_before_injury", "251", "weekly_km_before_injury:less_than_or_equal_to(250)", "250"),
    ("symptom_weeks", "521", "symptom_weeks:less_than_or_equal_to(520)", "520"),
    ("symptom_weeks", None, "symptom_weeks:not_nullable", "0"),
    ("baseline_pain_nrs", "11", "baseline_pain_nrs:less_than_or_equal_to(10)", "10"),
    ("baseline_kujala", "101", "baseline_kujala:less_than_or_equal_to(100)", None),
    ("first_visit_date", "08/01/2024", "first_visit_date:type:iso_date", "2024-01-08"),
    ("first_visit_date", "2024-02-30", "first_visit_date:type:iso_date", "2024-02-29"),
    ("first_visit_date", "2099-01-01", "first_visit_date:not_in_future", "2024-01-01"),
    ("last_contact_date", "2099-01-01", "last_contact_date:not_in_future", "2025-01-06"),
    ("exit_reason", "lost", "exit_reason:isin(['completed', 'lost_to_follow_up', 'withdrew', "
     "'ongoing'])", "withdrew"),
]


def _one_row(**changes: object) -> pd.DataFrame:
    from conftest import CLEAN_ROW

    row = {**CLEAN_ROW, **changes}
    return pd.DataFrame([row]).astype(pd.StringDtype("pyarrow"))


@pytest.mark.parametrize(("column", "bad", "rule", "good"), ROW_DEFECTS)
def test_rule_catches_bad_and_passes_good(column: str, bad: object, rule: str, good: object) -> None:
    res = validate_episodes(_one_row(**{column: bad}))
    assert res.n_quarantined == 1 and res.n_valid == 0
    assert rule in set(res.quarantine["rule"]), res.quarantine.to_dict("records")
    assert column in set(res.quarantine["column"])
    ok = validate_episodes(_one_row(**{column: good}))
    assert ok.n_valid == 1, ok.quarantine.to_dict("records")


CROSS_DEFECTS = [
    ({"pain_free_run_date": "2024-01-07"}, "pain_free_run_date:pain_free_on_or_after_first_visit"),
    ({"pain_free_run_date": None}, "reinjury_date:reinjury_requires_pain_free"),
    ({"reinjury_date": "2024-03-04"}, "reinjury_date:reinjury_after_pain_free"),
    ({"reinjury_date": "2024-03-01"}, "reinjury_date:reinjury_after_pain_free"),
    ({"last_contact_date": "2024-09-01"}, "last_contact_date:last_contact_not_before_other_dates"),
    ({"last_contact_date": "2024-01-07", "pain_free_run_date": None, "reinjury_date": None},
     "last_contact_date:last_contact_not_before_other_dates"),
]


@pytest.mark.parametrize(("changes", "rule"), CROSS_DEFECTS)
def test_cross_column_rules(changes: dict[str, object], rule: str) -> None:
    res = validate_episodes(_one_row(**changes))
    assert res.n_quarantined == 1
    assert rule in set(res.quarantine["rule"])


def test_cross_column_edges_pass() -> None:
    # pain-free on the first visit day; re-injury one day later; last contact that same day
    res = validate_episodes(_one_row(pain_free_run_date="2024-01-08", reinjury_date="2024-01-09",
                                     last_contact_date="2024-01-09"))
    assert res.n_valid == 1, res.quarantine.to_dict("records")


def test_every_failure_of_every_row_is_reported() -> None:
    df = _one_row(age_years="95", sex="F", bmi="9", first_visit_date="1/1/2024")
    res = validate_episodes(df)
    assert res.n_quarantined == 1
    assert set(res.quarantine["column"]) == {"age_years", "sex", "bmi", "first_visit_date"}
    # a parse failure is reported once, not again as a missing value
    assert "first_visit_date:not_nullable" not in set(res.quarantine["rule"])


def test_every_copy_of_a_duplicated_id_is_quarantined(clean_export: pd.DataFrame) -> None:
    df = clean_export.copy()
    df.loc[3, "episode_id"] = df.loc[7, "episode_id"]
    res = validate_episodes(df)
    dup = res.quarantine[res.quarantine["rule"] == "episode_id:field_uniqueness"]
    assert sorted(dup["row"]) == [4, 8]
    assert res.n_valid == len(df) - 2


def test_valid_rows_have_proper_dtypes(clean_export: pd.DataFrame) -> None:
    res = validate_episodes(clean_export)
    assert res.n_valid == len(clean_export) and res.n_quarantined == 0
    v = res.valid
    assert isinstance(v["arm"].dtype, pd.CategoricalDtype)
    assert list(v["arm"].cat.categories) == ["rest_only", "stretching_only", "strength_graded_running"]
    assert str(v["age_years"].dtype) == "Int64"
    assert str(v["first_visit_date"].dtype) == "datetime64[ns]"
    assert v["bmi"].dtype == "float64"
    Episodes.validate(v.assign(**{c: v[c].astype(str).astype("string[pyarrow]")
                                  for c in ("arm", "sex", "diagnosis", "exit_reason")}))


def test_missing_nullable_values_are_fine() -> None:
    res = validate_episodes(_one_row(bmi=None, baseline_kujala=None, pain_free_run_date=None,
                                     reinjury_date=None))
    assert res.n_valid == 1
    assert pd.isna(res.valid.loc[0, "bmi"]) and pd.isna(res.valid.loc[0, "baseline_kujala"])


def test_visits_rules(clean_export: pd.DataFrame) -> None:
    ep = validate_episodes(clean_export).valid
    first = ep.loc[0]
    visits = pd.DataFrame({
        "episode_id": [first.episode_id, first.episode_id, "NOPE", first.episode_id, first.episode_id],
        "visit_date": [first.first_visit_date.strftime("%Y-%m-%d"), "2000-01-01",
                       first.first_visit_date.strftime("%Y-%m-%d"),
                       first.last_contact_date.strftime("%Y-%m-%d"),
                       first.first_visit_date.strftime("%Y-%m-%d")],
        "pain_nrs": ["3", "3", "3", "11", "2"],
        "run_minutes_week": ["0", "10", "10", "10", "-5"],
        "strength_sessions_week": ["2", "2", "2", "2", "15"],
    }).astype(pd.StringDtype("pyarrow"))
    res = validate_visits(visits, ep)
    rules = res.quarantine.groupby("row")["rule"].apply(set).to_dict()
    assert res.n_valid == 1
    assert rules[2] == {"visit_date:visit_within_episode"}
    assert rules[3] == {"episode_id:episode_exists"}
    assert rules[4] == {"pain_nrs:less_than_or_equal_to(10)"}
    assert rules[5] == {"run_minutes_week:greater_than_or_equal_to(0)",
                        "strength_sessions_week:less_than_or_equal_to(14)"}


def test_derived_outcomes() -> None:
    ep = validate_episodes(make_clean_export(20)).valid
    out = derive_outcomes(ep)
    has_pf = ep["pain_free_run_date"].notna()
    end = ep["pain_free_run_date"].where(has_pf, ep["last_contact_date"])
    expected = (end - ep["first_visit_date"]).dt.days / 7
    pd.testing.assert_series_equal(out["pain_free_weeks"], expected, check_names=False)
    assert (out["pain_free_event"] == has_pf.astype(int)).all()
    assert out.loc[~has_pf, "reinjury_weeks"].isna().all()
    assert out.loc[~has_pf, "reinjury_event"].isna().all()
    re_end = ep["reinjury_date"].where(ep["reinjury_date"].notna(), ep["last_contact_date"])
    exp_re = ((re_end - ep["pain_free_run_date"]).dt.days / 7)[has_pf]
    pd.testing.assert_series_equal(out.loc[has_pf, "reinjury_weeks"], exp_re, check_names=False)
    assert (out.loc[has_pf, "reinjury_event"] == ep.loc[has_pf, "reinjury_date"].notna().astype(int)).all()
