"""Parameters of the cohort simulator: nested frozen dataclasses, every number overridable.

Defaults follow ``clinical-defaults.md`` (see ``docs/simulation.md`` for each source and which
numbers are assumptions). :func:`params_from_dict` applies a nested mapping (e.g. a YAML file)
on top of a parameter set and refuses unknown keys; :func:`check_params` refuses incoherent sets.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import pandas as pd
import pydantic

from rehab_outcomes.contract.schema import ARMS, DIAGNOSES, SEXES, today
from rehab_outcomes.exceptions import ConfigError

#: Weeks in 6 and 12 months.
WEEKS_6_MONTHS = 365.25 / 2 / 7
WEEKS_12_MONTHS = 365.25 / 7

#: Cox terms of the default analysis, in the analysis' naming, and the effect field of each.
TERMS: tuple[tuple[str, str], ...] = (
    ("arm:stretching_only", "arm_stretching_only"),
    ("arm:strength_graded_running", "arm_strength_graded_running"),
    ("age_years", "age_years"),
    ("sex:male", "sex_male"),
    ("sex:other", "sex_other"),
    ("bmi", "bmi"),
    ("weekly_km_before_injury", "weekly_km_before_injury"),
    ("symptom_weeks", "symptom_weeks"),
    ("baseline_pain_nrs", "baseline_pain_nrs"),
)


#: How :func:`params_from_dict` validates overrides: unknown keys refused, types strict.
PARAMS_CONFIG = pydantic.ConfigDict(extra="forbid", strict=True)

#: Field types with a range, checked when a parameter file is validated (the dataclasses
#: themselves do not check them when built from Python).
Probability = Annotated[float, pydantic.Field(ge=0, le=1)]
PositiveFloat = Annotated[float, pydantic.Field(gt=0)]
NonNegativeFloat = Annotated[float, pydantic.Field(ge=0)]
PositiveInt = Annotated[int, pydantic.Field(ge=1)]
NonNegativeInt = Annotated[int, pydantic.Field(ge=0)]


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class CohortParams:
    """Baseline covariates at the first visit."""

    age_mean: float = 31.0
    age_sd: float = 7.0
    age_min: int = 16
    age_max: int = 70
    #: Shares of female, male, other (order of ``SEXES``).
    sex_shares: tuple[float, ...] = (0.62, 0.37, 0.01)
    bmi_mean: float = 23.3
    bmi_sd: float = 2.8
    bmi_min: float = 15.0
    bmi_max: float = 45.0
    #: Share of episodes with BMI missing (completely at random).
    bmi_missing: float = 0.05
    weekly_km_median: float = 20.0
    weekly_km_sigma: float = 0.5
    weekly_km_min: float = 2.0
    weekly_km_max: float = 150.0
    #: Median symptom duration, weeks (4 months).
    symptom_weeks_median: float = 52.0 / 3.0
    symptom_weeks_sigma: float = 0.7
    symptom_weeks_min: float = 1.0
    symptom_weeks_max: float = 156.0
    #: Shares of the diagnoses, in the order of ``DIAGNOSES``.
    diagnosis_shares: tuple[float, ...] = (0.55, 0.30, 0.15, 0.0, 0.0)
    pain_mean: float = 5.0
    pain_sd: float = 1.5
    pain_min: int = 2
    pain_max: int = 9
    kujala_mean: float = 75.0
    #: Kujala points lost per NRS point of baseline pain above ``pain_mean``.
    kujala_per_pain_point: float = 5.0
    kujala_sd: float = 8.0
    kujala_missing: float = 0.02


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class SiteParams:
    """Clinic sites and their frailty (a multiplicative site effect on each hazard)."""

    names: tuple[str, ...] = ("site_A", "site_B", "site_C", "site_D", "site_E", "site_F")
    shares: tuple[float, ...] = (0.30, 0.22, 0.16, 0.14, 0.10, 0.08)
    #: ``gamma`` or ``lognormal``; mean 1 on the hazard scale.
    frailty_distribution: str = "gamma"
    pain_free_frailty_variance: float = 0.15
    reinjury_frailty_variance: float = 0.10
    #: ``balanced``: site frailties are fixed quantiles of the distribution (same every seed);
    #: ``random``: drawn afresh for every seed.
    frailty_mode: str = "balanced"


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class Effects:
    """Conditional log hazard ratios per unit of each Cox term (reference: rest_only, female)."""

    arm_stretching_only: float = 0.0
    arm_strength_graded_running: float = 0.0
    age_years: float = 0.0
    sex_male: float = 0.0
    sex_other: float = 0.0
    bmi: float = 0.0
    weekly_km_before_injury: float = 0.0
    symptom_weeks: float = 0.0
    baseline_pain_nrs: float = 0.0

    def as_terms(self) -> dict[str, float]:
        """The effects keyed by the analysis' Cox term names."""
        return {term: float(getattr(self, name)) for term, name in TERMS}


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class PainFreeParams:
    """Time to pain-free running: Weibull proportional hazards on the weekly scale."""

    #: Rest-only share not pain-free by 52 weeks (marginal over covariates and frailty).
    target_not_pain_free_52w: float = 0.35
    #: Rest-only median weeks to pain-free among those pain-free by 52 weeks.
    target_median_recovered_weeks: float = 10.0
    #: Weibull shape; ``None`` calibrates it jointly with the scale to the median target.
    shape: float | None = None
    effects: Effects = field(default_factory=lambda: Effects(
        arm_stretching_only=math.log(1.05),
        arm_strength_graded_running=math.log(1.5),
        age_years=-0.01,
        weekly_km_before_injury=0.01,
        symptom_weeks=-0.0156,
        baseline_pain_nrs=-0.17,
    ))


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class ReinjuryParams:
    """Re-injury after the pain-free date (its own clock): Weibull proportional hazards."""

    target_6_months: float = 0.29
    target_12_months: float = 0.50
    shape: float | None = None
    effects: Effects = field(default_factory=lambda: Effects(
        arm_stretching_only=math.log(0.96),
        arm_strength_graded_running=math.log(0.85),
        weekly_km_before_injury=0.015,
        symptom_weeks=0.005,
        baseline_pain_nrs=0.05,
    ))


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class AllocationParams:
    """Arm allocation: fixed probabilities (randomised) or a multinomial logit (observational).

    The logit gives the log-odds of each arm against rest_only as
    ``intercept + km * (weekly_km - median) + symptom * (symptom_weeks - median)
    + pain * (baseline_pain - mean)``.
    """

    #: Probabilities of rest_only, stretching_only, strength_graded_running (randomised design).
    randomised_probabilities: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)
    stretching_intercept: float = 0.0
    stretching_km: float = 0.01
    stretching_symptom: float = 0.01
    stretching_pain: float = 0.10
    strength_intercept: float = -0.2
    strength_km: float = 0.04
    strength_symptom: float = 0.03
    strength_pain: float = 0.25


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class FollowUpParams:
    """Recruitment, censoring and exit reasons."""

    recruitment_start: str = "2022-01-03"
    recruitment_weeks: int = 104
    #: Follow-up ends this many weeks after the first visit (exit ``completed``).
    admin_end_weeks: int = 104
    #: Date of the data extract: episodes still followed then are ``ongoing``. ``None``: no cut.
    data_cut: str | None = "2025-06-30"
    #: Share lost by 12 months (exponential, from the first visit).
    lost_by_12_months: float = 0.25
    #: Share of those lost whose exit reason is ``withdrew``.
    withdrew_share: float = 0.2


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class VisitParams:
    """Clinic visits while in care and the graded return to running."""

    #: Days between visits and the share of weekly (rest fortnightly) intervals.
    interval_days: tuple[int, ...] = (7, 14)
    weekly_share: float = 0.5
    #: Active care ends at the pain-free date or after this many weeks.
    max_care_weeks: int = 26
    pain_threshold: int = 2
    #: Running minutes per session at walk–run stages 1..S; stage S is continuous running.
    stage_run_minutes: tuple[float, ...] = (8.0, 12.0, 15.0, 18.0, 21.0, 24.0, 27.0, 30.0)
    run_sessions_per_week: int = 3
    strength_sessions_per_week: int = 2
    missed_session_probability: float = 0.15
    #: Share of the way to the pain-free date spent without running (rest, stretching, strength).
    rest_share_before_running: tuple[float, ...] = (0.5, 0.3, 0.0)


@pydantic.with_config(PARAMS_CONFIG)
@dataclass(frozen=True)
class SimulationParams:
    """All parameters of a simulated cohort."""

    cohort: CohortParams = field(default_factory=CohortParams)
    sites: SiteParams = field(default_factory=SiteParams)
    pain_free: PainFreeParams = field(default_factory=PainFreeParams)
    reinjury: ReinjuryParams = field(default_factory=ReinjuryParams)
    allocation: AllocationParams = field(default_factory=AllocationParams)
    follow_up: FollowUpParams = field(default_factory=FollowUpParams)
    visits: VisitParams = field(default_factory=VisitParams)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), fit for JSON or YAML."""
        return _plain(dataclasses.asdict(self))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------------------------
# overrides


_T = TypeVar("_T")


@functools.cache
def _adapter(root: type[_T]) -> pydantic.TypeAdapter[_T]:
    return pydantic.TypeAdapter(root)


def merge_overrides(base: dict[str, Any], overrides: dict[Any, Any]) -> dict[Any, Any]:
    """``base`` with ``overrides`` laid over it, section by section (unknown keys kept, refused later)."""
    merged: dict[Any, Any] = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_overrides(merged[key], value)
        else:
            merged[key] = value
    return merged


def _jsonable(value: Any, path: str) -> Any:
    """``value`` as JSON types (a YAML date becomes its ``YYYY-MM-DD`` text)."""
    if isinstance(value, dict):
        return {k: _jsonable(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, _dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float):
        return value
    raise ConfigError(f"parameter '{path}' cannot be set from {value!r}")


#: How each pydantic error type is told, after "parameter 'path' ".
_EXPECTED = {
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "string_type": "must be text",
    "tuple_type": "must be a list",
    "bool_type": "must be true or false",
}
#: Range errors: pydantic error type -> (its context key, how it is told).
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


def _fields_at(loc: tuple[Any, ...], root: type) -> list[str]:
    """Field names of the parameter section at ``loc`` (for the message of an unknown key)."""
    cls: Any = root
    for key in loc:
        cls = typing.get_type_hints(cls)[key]
    return sorted(f.name for f in dataclasses.fields(cls))


def _message(error: Any, root: type) -> str:
    loc = tuple(error["loc"])
    path = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in loc).lstrip(".")
    kind = error["type"]
    if kind == "unexpected_keyword_argument":
        return f"unknown parameter '{path}' (known here: {', '.join(_fields_at(loc[:-1], root))})"
    if kind == "dataclass_type":
        return f"'{path}' must be a mapping of parameters"
    if kind in _EXPECTED:
        return f"parameter '{path}' {_EXPECTED[kind]}, got {error['input']!r}"
    if kind in _BOUNDS:
        key, told = _BOUNDS[kind]
        return f"parameter '{path}' must be {told} {error['ctx'][key]}, got {error['input']!r}"
    return f"parameter '{path}': {error['msg']}"


def validate_sections(root: type[_T], sections: dict[Any, Any]) -> _T:
    """Validate a complete nested mapping of parameters as the dataclass ``root``.

    Strict pydantic validation against the dataclasses' types and ranges (no text for numbers,
    no numbers for text; lists become tuples; a YAML date becomes its ``YYYY-MM-DD`` text);
    unknown keys are refused.

    Raises
    ------
    ConfigError
        One message per error, each naming the full key (``section.field``).
    """
    try:
        # JSON mode: the dataclasses' own strict types
        return _adapter(root).validate_json(json.dumps(_jsonable(sections, "")))
    except pydantic.ValidationError as exc:
        raise ConfigError("; ".join(_message(e, root) for e in exc.errors())) from None


def params_from_dict(overrides: dict[str, Any], base: SimulationParams | None = None) -> SimulationParams:
    """Apply a nested mapping of overrides to ``base`` (default parameters) and check the result.

    The overrides are laid over ``base`` and the whole set is validated by pydantic against the
    dataclasses' types (strictly: no text for numbers, no numbers for text; lists become tuples;
    a YAML date becomes its ``YYYY-MM-DD`` text); unknown keys are refused.

    Raises
    ------
    ConfigError
        For unknown keys, values of the wrong type, or an incoherent parameter set, naming the key.

    Examples
    --------
    >>> p = params_from_dict({"follow_up": {"lost_by_12_months": 0.1}})
    >>> p.follow_up.lost_by_12_months
    0.1
    >>> params_from_dict({"cohort": {"age_mena": 30}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rehab_outcomes.exceptions.ConfigError: unknown parameter 'cohort.age_mena' (known here: ...)
    """
    overrides = {} if overrides is None else overrides
    if not isinstance(overrides, dict):
        raise ConfigError("'config' must be a mapping of parameters")
    merged = merge_overrides((base or SimulationParams()).to_dict(), overrides)
    params = validate_sections(SimulationParams, merged)
    check_params(params)
    return params


# ----------------------------------------------------------------------------------------------
# coherence


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _shares(values: tuple[float, ...], n: int, name: str) -> None:
    _require(len(values) == n, f"{name} needs {n} values, got {len(values)}")
    _require(all(v >= 0 for v in values), f"{name} must not be negative")
    _require(abs(sum(values) - 1.0) < 1e-6, f"{name} must sum to 1 (they sum to {sum(values):.6g})")


def _date(text: str, name: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(_dt.date.fromisoformat(text))
    except ValueError:
        raise ConfigError(f"{name} must be a date YYYY-MM-DD, got {text!r}") from None


def last_possible_date(params: SimulationParams) -> pd.Timestamp:
    """The latest date the cohort can contain (data cut, or last first visit + follow-up)."""
    fu = params.follow_up
    if fu.data_cut is not None:
        return _date(fu.data_cut, "follow_up.data_cut")
    start = _date(fu.recruitment_start, "follow_up.recruitment_start")
    return start + pd.Timedelta(days=7 * (fu.recruitment_weeks + fu.admin_end_weeks) - 1)


def check_params(params: SimulationParams) -> None:
    """Refuse incoherent parameters (shares not summing to 1, future dates, bad targets...).

    Raises
    ------
    ConfigError
        With a message naming the parameter at fault.
    """
    c, s, v, fu = params.cohort, params.sites, params.visits, params.follow_up
    _shares(c.sex_shares, len(SEXES), "cohort.sex_shares")
    _shares(c.diagnosis_shares, len(DIAGNOSES), "cohort.diagnosis_shares")
    _require(12 <= c.age_min <= c.age_max <= 90, "cohort.age_min/age_max must lie within 12–90")
    _require(14 <= c.bmi_min <= c.bmi_max <= 50, "cohort.bmi_min/bmi_max must lie within 14–50")
    _require(0 <= c.weekly_km_min <= c.weekly_km_max <= 250,
             "cohort.weekly_km_min/max must lie within 0–250")
    _require(0 <= c.symptom_weeks_min <= c.symptom_weeks_max <= 520,
             "cohort.symptom_weeks_min/max must lie within 0–520")
    _require(0 <= c.pain_min <= c.pain_max <= 10, "cohort.pain_min/pain_max must lie within 0–10")
    for name in ("age_sd", "bmi_sd", "weekly_km_sigma", "symptom_weeks_sigma", "pain_sd", "kujala_sd"):
        _require(getattr(c, name) >= 0, f"cohort.{name} must not be negative")
    for name in ("bmi_missing", "kujala_missing"):
        _require(0 <= getattr(c, name) < 1, f"cohort.{name} must be in [0, 1)")
    _require(c.weekly_km_median > 0 and c.symptom_weeks_median > 0,
             "cohort medians of weekly km and symptom weeks must be positive")
    _require(len(s.names) >= 1 and len(set(s.names)) == len(s.names), "sites.names must be unique")
    _require(all(1 <= len(n) <= 32 for n in s.names), "sites.names must have 1–32 characters")
    _shares(s.shares, len(s.names), "sites.shares")
    _require(s.frailty_distribution in ("gamma", "lognormal"),
             "sites.frailty_distribution must be 'gamma' or 'lognormal'")
    _require(s.frailty_mode in ("balanced", "random"), "sites.frailty_mode must be 'balanced' or 'random'")
    _require(s.pain_free_frailty_variance >= 0 and s.reinjury_frailty_variance >= 0,
             "sites frailty variances must not be negative")
    pf, re = params.pain_free, params.reinjury
    _require(0 < pf.target_not_pain_free_52w < 1, "pain_free.target_not_pain_free_52w must be in (0, 1)")
    _require(0 < pf.target_median_recovered_weeks < 52,
             "pain_free.target_median_recovered_weeks must be in (0, 52)")
    _require(0 < re.target_6_months < re.target_12_months < 1,
             "reinjury targets must satisfy 0 < target_6_months < target_12_months < 1")
    for name, shape in (("pain_free", pf.shape), ("reinjury", re.shape)):
        _require(shape is None or 0.05 <= shape <= 20, f"{name}.shape must be in [0.05, 20] or null")
    a = params.allocation
    _shares(a.randomised_probabilities, len(ARMS), "allocation.randomised_probabilities")
    _require(fu.recruitment_weeks >= 1, "follow_up.recruitment_weeks must be at least 1")
    _require(fu.admin_end_weeks >= 1, "follow_up.admin_end_weeks must be at least 1")
    _require(0 <= fu.lost_by_12_months < 1, "follow_up.lost_by_12_months must be in [0, 1)")
    _require(0 <= fu.withdrew_share <= 1, "follow_up.withdrew_share must be in [0, 1]")
    start = _date(fu.recruitment_start, "follow_up.recruitment_start")
    last_first = start + pd.Timedelta(days=7 * fu.recruitment_weeks - 1)
    if fu.data_cut is not None:
        _require(_date(fu.data_cut, "follow_up.data_cut") >= last_first,
                 f"follow_up.data_cut must not be before the last first visit ({last_first.date()})")
    last = last_possible_date(params)
    _require(last <= today(), f"parameters would produce dates after today ({today().date()}): "
             f"latest possible date {last.date()}; move follow_up.recruitment_start or data_cut")
    _require(len(v.interval_days) >= 1 and all(d >= 1 for d in v.interval_days),
             "visits.interval_days must be positive")
    _require(len(v.interval_days) <= 2, "visits.interval_days takes one or two intervals")
    _require(0 <= v.weekly_share <= 1, "visits.weekly_share must be in [0, 1]")
    _require(v.max_care_weeks >= 1, "visits.max_care_weeks must be at least 1")
    _require(0 <= v.pain_threshold < 10, "visits.pain_threshold must be in 0–9")
    _require(1 <= len(v.stage_run_minutes) <= 20, "visits.stage_run_minutes needs 1–20 stages")
    _require(all(m >= 0 for m in v.stage_run_minutes), "visits.stage_run_minutes must not be negative")
    _require(1 <= v.run_sessions_per_week <= 14, "visits.run_sessions_per_week must be in 1–14")
    _require(0 <= v.strength_sessions_per_week <= 14, "visits.strength_sessions_per_week must be in 0–14")
    _require(0 <= v.missed_session_probability < 1, "visits.missed_session_probability must be in [0, 1)")
    _require(len(v.rest_share_before_running) == len(ARMS)
             and all(0 <= r < 1 for r in v.rest_share_before_running),
             "visits.rest_share_before_running needs one value in [0, 1) per arm")
