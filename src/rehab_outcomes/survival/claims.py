"""The claims table: each clinic claim about runner's knee, its one pre-specified quantity, a verdict.

:func:`evaluate_claims` reads the tidy result tables of the survival analysis and returns one row
per claim (claims 2 and 3 have two rows: two outcomes, two quantities). Every number of a row is
taken from exactly the table it cites (``source``): estimate, interval and p-value are never
recomputed, so the claims use the same standard error and confidence level as the tables
(:func:`evaluate_claims` refuses a table whose intervals are not at its ``alpha``).

The rows with a test form one family (``family = "claims"``); their p-values are Holm-adjusted
over the family (``p_adjusted``). docs/claims.md states each decision rule with its reasoning;
in short, on a *benefit scale* ``b`` (larger = more benefit of the arm the claim is about;
``log HR`` for pain-free running, ``-log HR`` for re-injury, minus the RMST difference, minus
rest only's difference in state occupation) with the worthwhile margin ``m > 0`` and the
table's ``1 - alpha`` interval ``[b_lo, b_hi]``:

- *effect shown*: ``p_adjusted < alpha`` and ``b > 0``; *harm shown*: ``p_adjusted < alpha``
  and ``b < 0``;
- *worthwhile benefit excluded*: ``b_hi < m``; *worthwhile benefit shown*: ``b_lo > m`` and
  ``p_adjusted < alpha``.

Rules: ``no_worthwhile_benefit`` (claim 2, "does not work"): supported if a worthwhile benefit
is excluded, contradicted if it is shown, else inconclusive. ``worthwhile_shortfall`` (claim 1,
"rest does not fix it", i.e. the other arms do worthwhile better than rest): supported if the
worthwhile difference is shown, contradicted if it is excluded, else inconclusive. ``benefit``
(claim 3, "works"): supported if an effect is shown and a worthwhile benefit is not excluded,
partly supported if an effect is shown but a worthwhile one is excluded, contradicted if harm is
shown or a worthwhile benefit is excluded without an effect shown, else inconclusive.
``magnitude`` (claim 7, "up to 50 %"): as ``benefit`` with the claimed size in place of the
worthwhile margin for *supported* / *partly supported*.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.contract.schema import REFERENCE_ARM
from rehab_outcomes.exceptions import AnalysisError

STRENGTH: Final = "strength_graded_running"
STRETCH: Final = "stretching_only"

VERDICTS: Final = ("supported", "partly_supported", "contradicted", "inconclusive",
                   "not_assessable")
#: Family of the claim tests over which p-values are Holm-adjusted.
FAMILY: Final = "claims"
COLUMNS: Final = [
    "claim_id", "claim", "quantity", "estimand", "source", "estimate", "lower", "upper", "p",
    "p_adjusted", "family", "margin", "claimed_size", "rule", "verdict", "statement",
]

#: The clinic claims (see the reference list of seed claims), by number.
CLAIMS: Final = {
    "1": "Rest alone does not fix runner's knee: pain returns when running resumes.",
    "2": "Stretching alone does not fix it either.",
    "3": "Strength training about twice a week plus a graded return to running works.",
    "4": "Return with walk–run intervals and progress only while pain stays at or below 2/10.",
    "5": "Injury comes from load exceeding the tissue's capacity; build capacity, manage load.",
    "6": "Raising cadence 5–10 % lowers knee load.",
    "7": 'Strength training reduces running injuries "by up to 50 %".',
}

_ARM_TEXT: Final = {
    "rest_only": "rest only",
    "stretching_only": "stretching only",
    "strength_graded_running": "strength + graded running",
}
_COX_COLS: Final = ("term", "coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p")
_RMST_COLS: Final = ("outcome", "arm", "tau", "se", "diff_vs_rest", "diff_lower", "diff_upper", "p")
_STATE_COLS: Final = ("arm", "time", "state", "probability", "se")
#: State of claim 1: running pain-free and not re-injured.
CLAIM1_STATE: Final = "running_pain_free"

#: Default estimand of each cited table (the pipeline passes the precise ones).
DEFAULT_ESTIMANDS: Final = {
    "cox_pain_free": "hazard ratio of the Cox model of time to pain-free running, conditional on "
                     "the model's covariates; population: all episodes (clock from the first visit)",
    "cox_reinjury": "hazard ratio of the Cox model of re-injury, conditional on the model's "
                    "covariates; population: episodes that became pain-free (clock from the "
                    "pain-free date), a subset selected after treatment",
    "rmst": "difference in restricted mean weeks from Kaplan–Meier curves (unadjusted); "
            "population: all episodes",
    "state_occupation": "difference in Aalen–Johansen state-occupation probability "
                        "(unadjusted); population: all episodes from the first visit",
}


@dataclass(frozen=True)
class Margins:
    """The margins of the decision rules (docs/claims.md gives their sources).

    Attributes
    ----------
    no_benefit_hr
        Smallest worthwhile hazard ratio of pain-free running (> 1); for re-injury its inverse
        (1.25 → 0.80). An assumption (clinical-defaults.md has no minimal important difference).
    rmst_weeks
        Smallest worthwhile difference in restricted mean weeks not yet pain-free (> 0): what
        ``no_benefit_hr`` gives to 26 weeks under the default rest-only curve (1.56, rounded).
    state_probability
        Smallest worthwhile difference in the probability of running pain-free and not
        re-injured at ``claim1_week`` (> 0): what ``no_benefit_hr`` on either outcome gives under
        the default curves (0.042 each, rounded).
    claim7_hr
        The re-injury hazard ratio claim 7 states ("up to 50 %" → 0.50).
    claim1_week
        Week of claim 1's state-occupation probability.
    """

    no_benefit_hr: float = 1.25
    rmst_weeks: float = 1.5
    state_probability: float = 0.04
    claim7_hr: float = 0.5
    claim1_week: float = 52.0

    def __post_init__(self) -> None:
        if not self.no_benefit_hr > 1:
            raise AnalysisError("the no-benefit margin (hazard ratio) must exceed 1.")
        if not self.rmst_weeks > 0 or not 0 < self.state_probability < 1:
            raise AnalysisError("the RMST margin must be positive and the state-probability "
                                "margin between 0 and 1.")
        if not 0 < self.claim7_hr < 1:
            raise AnalysisError("the claimed re-injury hazard ratio of claim 7 must lie in (0, 1).")
        if not self.claim1_week > 0:
            raise AnalysisError("claim 1's week must be positive.")


@dataclass(frozen=True)
class ClaimSource:
    """A table a claim cites: the table, its name (file stem) and the estimand of its numbers."""

    table: pd.DataFrame
    name: str
    estimand: str


def _source(x: pd.DataFrame | ClaimSource, name: str) -> ClaimSource:
    if isinstance(x, ClaimSource):
        return x
    if not isinstance(x, pd.DataFrame):
        raise AnalysisError(f"{name} must be a table or a ClaimSource.")
    return ClaimSource(x, name, DEFAULT_ESTIMANDS[name])


def _require(df: pd.DataFrame, cols: tuple[str, ...], name: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise AnalysisError(f"The {name} table lacks columns {missing}.")


def _num(x: float) -> str:
    """Two decimals, with a proper minus sign."""
    return f"{x:.2f}".replace("-", "−")


def _weeks(x: float) -> str:
    return f"{x:.1f}".replace("-", "−")


def _points(x: float) -> str:
    """A probability difference in percentage points, one decimal."""
    return f"{100 * x:.1f}".replace("-", "−")


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _pval(p: float) -> str:
    """``< 0.001`` or ``= 0.012``: the relation and the value."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _finite(*values: object) -> bool:
    """True if every value is a finite number (empty cells of a table read back are not)."""
    try:
        return all(math.isfinite(float(v)) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def holm(p: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (``NaN`` entries are left out of the family).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, np.nan]).round(3).tolist()[:3]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="mergesort")]
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out[order] = adj
    return out


@dataclass
class _Test:
    """One claim test: reported numbers and the same on the benefit scale."""

    estimate: float
    lower: float
    upper: float
    p: float
    b: float  # benefit scale: larger = more benefit of the arm the claim is about
    b_lo: float
    b_hi: float
    margin_b: float  # worthwhile margin on the benefit scale (> 0)
    claimed_b: float = float("nan")  # claimed size on the benefit scale (claim 7)


@dataclass
class _Pending:
    """A row whose verdict waits for the family's adjusted p-values."""

    row: dict[str, Any]
    test: _Test
    rule: str
    say: Callable[[str, _Test, float], str]


class _Ctx:
    """Confidence level shared by the row builders."""

    def __init__(self, alpha: float, margins: Margins) -> None:
        if not 0 < alpha < 1:
            raise AnalysisError("alpha must lie strictly between 0 and 1.")
        self.alpha = alpha
        self.z = float(stats.norm.ppf(1 - alpha / 2))
        self.ci = f"{100 * (1 - alpha):g} % CI"
        self.m = margins

    def check_level(self, half: float, se: tuple[float, ...], what: str) -> None:
        """Refuse an interval that is not ``estimate ± z se`` for one of the given SEs."""
        ok = [s for s in se if _finite(s) and s > 0]
        if not any(abs(half - self.z * s) <= 1e-6 * max(1.0, abs(self.z * s)) for s in ok):
            raise AnalysisError(
                f"{what}: its interval is not a {self.ci.replace(' CI', '')} interval from its "
                f"standard error; claims take their intervals from the cited table, so the "
                f"table must be computed at alpha = {self.alpha:g}."
            )

    def hr(self, src: ClaimSource, arm: str) -> tuple[float, float, float, float] | None:
        """HR, its interval and p from the Cox table, or None if the term is missing or has no
        interval (the table leaves it empty when the SE is zero or not finite)."""
        rows = src.table[src.table["term"] == f"arm:{arm}"]
        if rows.empty:
            return None
        r = rows.iloc[0]
        if not _finite(r["coef"], r["hr"], r["hr_lower"], r["hr_upper"], r["p"]):
            return None
        half = math.log(float(r["hr_upper"])) - float(r["coef"])
        self.check_level(half, (float(r["se"]), float(r["robust_se"])),
                         f"{src.name}, term arm:{arm}")
        return float(r["hr"]), float(r["hr_lower"]), float(r["hr_upper"]), float(r["p"])

    def rmst(self, src: ClaimSource, outcome: str, arm: str) -> tuple[float, ...] | None:
        t = src.table
        rows = t[(t["outcome"] == outcome) & (t["arm"] == arm)]
        ref = t[(t["outcome"] == outcome) & (t["arm"] == REFERENCE_ARM)]
        if rows.empty or ref.empty:
            return None
        r = rows.iloc[0]
        if not _finite(r["diff_vs_rest"], r["diff_lower"], r["diff_upper"], r["p"]):
            return None
        d, lo, hi = float(r["diff_vs_rest"]), float(r["diff_lower"]), float(r["diff_upper"])
        self.check_level(hi - d, (math.hypot(float(r["se"]), float(ref["se"].iloc[0])),),
                         f"{src.name}, {outcome} {arm}")
        return d, lo, hi, float(r["p"]), float(r["tau"])


def _row(cid: str, quantity: str, estimand: str, source: str, est: float = np.nan,
         lo: float = np.nan, hi: float = np.nan, p: float = np.nan, margin: float = np.nan,
         claimed: float = np.nan, rule: str = "", verdict: str = "", text: str = "") -> dict:
    return {
        "claim_id": cid, "claim": CLAIMS[cid.rstrip("abc")], "quantity": quantity,
        "estimand": estimand, "source": source, "estimate": est, "lower": lo, "upper": hi,
        "p": p, "p_adjusted": np.nan, "family": "", "margin": margin, "claimed_size": claimed,
        "rule": rule, "verdict": verdict, "statement": text,
    }


def _not_assessable(cid: str, quantity: str, why: str, estimand: str = "",
                    source: str = "") -> dict:
    return _row(cid, quantity, estimand, source, rule="none", verdict="not_assessable", text=why)


def _hr_quantity(outcome: str, arm: str) -> str:
    what = "pain-free running" if outcome == "pain_free" else "re-injury"
    return f"hazard ratio of {what}, {_ARM_TEXT.get(arm, arm)} vs rest only (Cox)"


def _missing_hr(cid: str, src: ClaimSource, outcome: str, arm: str) -> dict:
    return _not_assessable(
        cid, _hr_quantity(outcome, arm),
        f"No {_ARM_TEXT.get(arm, arm)} term with a confidence interval in {src.name}, so the "
        "data cannot speak to this claim (see problems and warnings in summary.json).",
        src.estimand, f"{src.name}: arm:{arm}",
    )


def _hr_test(hr: float, lo: float, hi: float, p: float, outcome: str, m: Margins,
             claimed_hr: float = np.nan) -> _Test:
    """HR test on the benefit scale: log HR for pain-free running, −log HR for re-injury."""
    s = 1.0 if outcome == "pain_free" else -1.0
    bound = m.no_benefit_hr if outcome == "pain_free" else 1 / m.no_benefit_hr
    b_lo, b_hi = sorted((s * math.log(lo), s * math.log(hi)))
    # the margins go through the same transformation as the interval, so that an interval
    # ending exactly at a margin (as printed) is judged as touching it
    return _Test(hr, lo, hi, p, s * math.log(hr), b_lo, b_hi, s * math.log(bound),
                 s * math.log(claimed_hr) if _finite(claimed_hr) else np.nan)


# ----------------------------------------------------------------------------- decision rules
@dataclass(frozen=True)
class _Flags:
    shown: bool  # an effect in the claimed direction (p_adjusted < alpha)
    harm: bool  # an effect in the opposite direction (p_adjusted < alpha)
    worth_excluded: bool  # the interval excludes a worthwhile benefit
    worth_shown: bool  # the interval lies beyond the worthwhile margin (and p_adjusted < alpha)


def _flags(t: _Test, p_adj: float, alpha: float) -> _Flags:
    sig = p_adj < alpha
    return _Flags(sig and t.b > 0, sig and t.b < 0, t.b_hi < t.margin_b,
                  sig and t.b_lo > t.margin_b)


def rule_verdict(rule: str, t: _Test, p_adj: float, alpha: float) -> str:
    """The verdict of one rule (see the module notes and docs/claims.md)."""
    f = _flags(t, p_adj, alpha)
    if rule == "no_worthwhile_benefit":
        return "supported" if f.worth_excluded else "contradicted" if f.worth_shown else "inconclusive"
    if rule == "worthwhile_shortfall":
        return "supported" if f.worth_shown else "contradicted" if f.worth_excluded else "inconclusive"
    if rule in ("benefit", "magnitude"):
        size_excluded = f.worth_excluded if rule == "benefit" else t.b_hi < t.claimed_b
        if f.shown:
            return "partly_supported" if size_excluded else "supported"
        if f.harm or f.worth_excluded:
            return "contradicted"
        return "inconclusive"
    raise AnalysisError(f"unknown decision rule {rule!r}")


# ----------------------------------------------------------------------------- claims
def _claim1(ctx: _Ctx, src: ClaimSource | None) -> dict | _Pending:
    week = ctx.m.claim1_week
    quantity = (f"probability of running pain-free and not re-injured at {week:g} weeks from "
                "the first visit, rest only minus the mean of the other arms (Aalen–Johansen "
                "state occupation)")
    if src is None:
        return _not_assessable("1", quantity, "No state-occupation table was computed, so the "
                               "data cannot speak to this claim (see problems in summary.json).")
    _require(src.table, _STATE_COLS, src.name)
    at = src.table[(src.table["state"] == CLAIM1_STATE)
                   & np.isclose(src.table["time"].astype(float), week)]
    by_arm = {str(a): (float(p), float(s)) for a, p, s in
              at[["arm", "probability", "se"]].itertuples(index=False)}
    others = [a for a in by_arm if a != REFERENCE_ARM]
    source = f"{src.name}: {CLAIM1_STATE} at week {week:g}"
    if REFERENCE_ARM not in by_arm or not others or not all(
            _finite(*by_arm[a]) for a in [REFERENCE_ARM, *others]):
        return _not_assessable(
            "1", quantity, f"No state-occupation probability at {week:g} weeks for rest only and "
            "another arm (follow-up ends earlier, or an arm is missing), so the data cannot "
            "speak to this claim.", src.estimand, source)
    p_rest, se_rest = by_arm[REFERENCE_ARM]
    p_other = float(np.mean([by_arm[a][0] for a in others]))
    var_other = float(np.sum([by_arm[a][1] ** 2 for a in others])) / len(others) ** 2
    d = p_rest - p_other
    se = math.sqrt(se_rest**2 + var_other)
    if not se > 0:
        return _not_assessable("1", quantity, f"The state-occupation probabilities at {week:g} "
                               "weeks have no standard error, so no test is possible.",
                               src.estimand, source)
    lo, hi = d - ctx.z * se, d + ctx.z * se
    p = float(2 * stats.norm.sf(abs(d) / se))
    delta = ctx.m.state_probability
    test = _Test(d, lo, hi, p, -d, -hi, -lo, delta)

    def say(verdict: str, t: _Test, p_adj: float) -> str:
        head = (f"At {week:g} weeks, {_pct(p_rest)} of rest-only runners were running pain-free "
                f"and not re-injured, against {_pct(p_other)} on average in the other arms: "
                f"difference {_points(d)} percentage points ({ctx.ci} {_points(lo)} to "
                f"{_points(hi)}; Holm-adjusted p {_pval(p_adj)})")
        if verdict == "supported":
            tail = (f"rest only falls short of the other arms by more than the worthwhile "
                    f"{_points(delta)} points")
        elif verdict == "contradicted":
            tail = (f"a shortfall of rest only as large as the worthwhile {_points(delta)} points "
                    "is ruled out")
        else:
            tail = (f"the data cannot tell whether rest only falls short by the worthwhile "
                    f"{_points(delta)} points or more")
        return f"{head}; {tail}."

    return _Pending(_row("1", quantity, src.estimand, source, d, lo, hi, p, margin=-delta),
                    test, "worthwhile_shortfall", say)


def _claim2(ctx: _Ctx, cid: str, src: ClaimSource, outcome: str) -> dict | _Pending:
    est = ctx.hr(src, STRETCH)
    if est is None:
        return _missing_hr(cid, src, outcome, STRETCH)
    hr, lo, hi, p = est
    test = _hr_test(hr, lo, hi, p, outcome, ctx.m)
    pain_free = outcome == "pain_free"
    bound = ctx.m.no_benefit_hr if pain_free else 1 / ctx.m.no_benefit_hr

    def say(verdict: str, t: _Test, p_adj: float) -> str:
        ci = f"HR {_num(hr)} ({ctx.ci} {_num(lo)}–{_num(hi)}; Holm-adjusted p {_pval(p_adj)})"
        f = _flags(t, p_adj, ctx.alpha)
        if pain_free:
            if verdict == "contradicted":
                return (f"Runners stretching only became pain-free sooner than those resting only "
                        f"by a worthwhile margin: {ci}, entirely above HR {_num(bound)}.")
            if verdict == "supported":
                extra = " (a smaller gain is shown)" if f.shown else ""
                return (f"Stretching only showed no worthwhile gain over rest in time to pain-free "
                        f"running{extra}: {ci}, which excludes an HR of {_num(bound)} or more.")
            return (f"The data cannot tell whether stretching only speeds pain-free running by a "
                    f"worthwhile margin: {ci}; neither an HR of {_num(bound)} or more nor its "
                    "absence is established.")
        if verdict == "contradicted":
            return (f"Runners stretching only re-injured less often than those resting only by a "
                    f"worthwhile margin: {ci}, entirely below HR {_num(bound)}.")
        if verdict == "supported":
            extra = " (a smaller protection is shown)" if f.shown else ""
            return (f"Stretching only gave no worthwhile protection against re-injury compared "
                    f"with rest{extra}: {ci}, which excludes an HR of {_num(bound)} or less.")
        return (f"The data cannot tell whether stretching only protects against re-injury by a "
                f"worthwhile margin: {ci}; neither an HR of {_num(bound)} or less nor its absence "
                "is established.")

    row = _row(cid, _hr_quantity(outcome, STRETCH), src.estimand, f"{src.name}: arm:{STRETCH}",
               hr, lo, hi, p, margin=bound)
    return _Pending(row, test, "no_worthwhile_benefit", say)


def _claim3_hr(ctx: _Ctx, src: ClaimSource) -> dict | _Pending:
    est = ctx.hr(src, STRENGTH)
    if est is None:
        return _missing_hr("3a", src, "pain_free", STRENGTH)
    hr, lo, hi, p = est
    test = _hr_test(hr, lo, hi, p, "pain_free", ctx.m)
    bound = ctx.m.no_benefit_hr

    def say(verdict: str, t: _Test, p_adj: float) -> str:
        ci = f"HR {_num(hr)} ({ctx.ci} {_num(lo)}–{_num(hi)}; Holm-adjusted p {_pval(p_adj)})"
        lead = "Runners in strength + graded running became pain-free"
        if verdict == "supported" and _flags(t, p_adj, ctx.alpha).worth_shown:
            return (f"{lead} sooner than those resting only: {ci}; the whole interval lies above "
                    f"HR {_num(bound)}, so the gain is worthwhile.")
        if verdict == "supported":
            return (f"{lead} sooner than those resting only: {ci}; a worthwhile gain (HR "
                    f"{_num(bound)} or more) is within the interval.")
        if verdict == "partly_supported":
            return (f"{lead} sooner than those resting only, but by less than a worthwhile "
                    f"margin: {ci}, which excludes an HR of {_num(bound)} or more.")
        if verdict == "contradicted" and _flags(t, p_adj, ctx.alpha).harm:
            return f"{lead} later than those resting only: {ci}."
        if verdict == "contradicted":
            return (f"Strength + graded running gave no worthwhile gain in time to pain-free "
                    f"running: {ci}, which excludes an HR of {_num(bound)} or more.")
        return (f"Time to pain-free running did not differ clearly between strength + graded "
                f"running and rest only at the family-wise level: {ci}; a worthwhile gain is "
                "neither shown nor ruled out.")

    row = _row("3a", _hr_quantity("pain_free", STRENGTH), src.estimand,
               f"{src.name}: arm:{STRENGTH}", hr, lo, hi, p, margin=bound)
    return _Pending(row, test, "benefit", say)


def _claim3_rmst(ctx: _Ctx, src: ClaimSource) -> dict | _Pending:
    quantity = ("difference in restricted mean weeks not yet running pain-free, strength + graded "
                "running minus rest only (RMST)")
    est = ctx.rmst(src, "pain_free", STRENGTH)
    source = f"{src.name}: pain_free {STRENGTH}"
    if est is None:
        return _not_assessable("3b", quantity, f"No RMST difference with a confidence interval "
                               f"for strength + graded running in {src.name} (see problems in "
                               "summary.json: a tau beyond an arm's follow-up is refused), so "
                               "the data cannot speak to this claim.", src.estimand, source)
    d, lo, hi, p, tau = est
    m = ctx.m.rmst_weeks
    test = _Test(d, lo, hi, p, -d, -hi, -lo, m)

    def say(verdict: str, t: _Test, p_adj: float) -> str:
        diff = (f"difference {_weeks(d)} weeks ({ctx.ci} {_weeks(lo)} to {_weeks(hi)}; "
                f"Holm-adjusted p {_pval(p_adj)})")
        what = (f"Within {tau:g} weeks, runners in strength + graded running spent on average "
                f"{_weeks(abs(d))} weeks {'fewer' if d < 0 else 'more'} not yet running "
                f"pain-free than those resting only: {diff}")
        if verdict == "supported" and _flags(t, p_adj, ctx.alpha).worth_shown:
            return f"{what}; the whole interval lies beyond {_weeks(m)} weeks, so the gain is worthwhile."
        if verdict == "supported":
            return f"{what}; a worthwhile gain ({_weeks(m)} weeks or more) is within the interval."
        if verdict == "partly_supported":
            return f"{what}; the gain is shown, but one of {_weeks(m)} weeks or more is ruled out."
        if verdict == "contradicted":
            return f"{what}; a worthwhile gain of {_weeks(m)} weeks or more is ruled out."
        return (f"{what}; a gain is not established at the family-wise level, and a "
                "worthwhile one is not ruled out.")

    row = _row("3b", quantity + f", tau {tau:g} weeks", src.estimand, source, d, lo, hi, p,
               margin=-m)
    return _Pending(row, test, "benefit", say)


def _claim4(visits: bool) -> dict:
    quantity = "pain during and the morning after each walk–run session, by progression step"
    context = (" The visit tables (trajectories*.csv: pain NRS 0–10 recorded at clinic visits, "
               "model mean against observed weekly means) describe pain over the weeks of care "
               "as context only; runners leave care when they recover, so later visits are "
               "selected.") if visits else ""
    return _not_assessable(
        "4", quantity,
        "The clinic records cannot test the progression rule: every arm returns to running under "
        "it, and the visits hold pain at clinic visits, not during and after each session. A "
        "training-log table `sessions` (episode_id, session_date, run_minutes, walk_minutes, "
        "repeats, pain_during_nrs, pain_next_morning_nrs, progressed) would make it testable "
        "(for example re-injury after sessions that progressed with pain above 2/10 against "
        "at or below 2/10)." + context,
        "not estimable from these records", "none (needs a sessions table)",
    )


def _claim7(ctx: _Ctx, src: ClaimSource) -> dict | _Pending:
    claimed = ctx.m.claim7_hr
    quantity = _hr_quantity("reinjury", STRENGTH) + f"; claimed HR {_num(claimed)}"
    est = ctx.hr(src, STRENGTH)
    if est is None:
        return _missing_hr("7", src, "reinjury", STRENGTH)
    hr, lo, hi, p = est
    test = _hr_test(hr, lo, hi, p, "reinjury", ctx.m, claimed)
    bound = 1 / ctx.m.no_benefit_hr
    size = f"{100 * (1 - claimed):.0f} % (HR {_num(claimed)})"

    def say(verdict: str, t: _Test, p_adj: float) -> str:
        ci = f"HR {_num(hr)} ({ctx.ci} {_num(lo)}–{_num(hi)}; Holm-adjusted p {_pval(p_adj)})"
        lead = "Re-injury with strength + graded running relative to rest only"
        f = _flags(t, p_adj, ctx.alpha)
        if verdict == "supported":
            how = (f"a reduction larger than {size}" if hi < claimed
                   else f"a reduction, compatible with one of {size}")
            return f"{lead}: {ci}, {how}."
        if verdict == "partly_supported":
            return f"{lead}: {ci}, a reduction, but one as large as {size} is ruled out."
        if verdict == "contradicted" and f.harm:
            return f"{lead}: {ci}, more re-injuries, so a reduction of {size} is ruled out."
        if verdict == "contradicted":
            return (f"{lead}: {ci}, which excludes any worthwhile reduction (HR {_num(bound)} or "
                    f"less), let alone one of {size}.")
        if lo > claimed:
            return (f"{lead}: {ci}; a reduction is not established at the family-wise level, "
                    f"and one as large as {size} is ruled out.")
        return (f"{lead}: {ci}; a reduction is not established at the family-wise level, and "
                f"one of {size} remains compatible with the data.")

    row = _row("7", quantity, src.estimand, f"{src.name}: arm:{STRENGTH}", hr, lo, hi, p,
               margin=bound, claimed=claimed)
    return _Pending(row, test, "magnitude", say)


@dataclass(frozen=True)
class SessionSources:
    """Tables from training logs that make claims 4–6 assessable (``analyse --sessions``).

    Attributes
    ----------
    msm_rule
        ``model, term, coef, se, hr, lower, upper, p`` with the ``msm`` row of rule breaking.
    tv_cox
        The naive time-varying Cox table of re-injury (term ``run_change_10``).
    estimands
        Estimand text per table name.
    policy_note
        The model-based policy simulation shown beside claim 4 ('' without a truth file).
    tv_cox_cadence
        The cadence model (term ``cadence_change_5``, weeks with a logged cadence).
    """

    msm_rule: pd.DataFrame
    tv_cox: pd.DataFrame
    estimands: Mapping[str, str]
    policy_note: str = ""
    tv_cox_cadence: pd.DataFrame | None = None


def _session_hr(ctx: _Ctx, cid: str, quantity: str, table: pd.DataFrame, name: str, term: str,
                estimand: str, sign: float, lead: str, note: str = "") -> dict | _Pending:
    """A claim tested on one hazard ratio of a sessions table; ``sign`` +1 when a higher HR is
    the claimed direction, -1 when a lower one is (rule ``benefit``, margin 1.25 / 0.80)."""
    is_msm = "model" in table.columns
    rows = table[(table["term"] == term) & ((table["model"] == "msm") if is_msm else True)]
    source = f"{name}: {'msm ' if is_msm else ''}{term}"
    cols = ("hr", "lower", "upper", "p") if is_msm else ("hr", "hr_lower", "hr_upper", "p")
    if rows.empty or not _finite(*(rows.iloc[0][c] for c in cols)):
        return _not_assessable(cid, quantity, f"No estimate with an interval for {term} in "
                               f"{name} (see problems in summary.json).", estimand, source)
    hr, lo, hi, p = (float(rows.iloc[0][c]) for c in cols)
    bound = ctx.m.no_benefit_hr if sign > 0 else 1 / ctx.m.no_benefit_hr
    b_lo, b_hi = sorted((sign * math.log(lo), sign * math.log(hi)))
    test = _Test(hr, lo, hi, p, sign * math.log(hr), b_lo, b_hi, sign * math.log(bound))

    def say(verdict: str, t: _Test, p_adj: float) -> str:
        ci = f"HR {_num(hr)} ({ctx.ci} {_num(lo)}–{_num(hi)}; Holm-adjusted p {_pval(p_adj)})"
        words = {"supported": "in the claimed direction, and a worthwhile effect (HR "
                              f"{_num(bound)}) is within the interval",
                 "partly_supported": "in the claimed direction, but smaller than worthwhile",
                 "contradicted": "against the claim, or a worthwhile effect is ruled out",
                 "inconclusive": "not established at the family-wise level either way"}
        return f"{lead}: {ci}; {words[verdict]}.{note}"

    row = _row(cid, quantity, estimand, source, hr, lo, hi, p, margin=bound)
    return _Pending(row, test, "benefit", say)


def _session_claims(ctx: _Ctx, src: SessionSources) -> list[dict | _Pending]:
    est = src.estimands
    return [
        _session_hr(ctx, "4", "hazard ratio of re-injury per rule-breaking step up so far "
                    "(marginal structural model, observational)", src.msm_rule, "msm_rule",
                    "cum_rule_breaks", est.get("msm_rule", ""), 1.0,
                    "Observational (weighted) estimate: each step up against the pain rule "
                    "changed the re-injury hazard by", src.policy_note),
        _session_hr(ctx, "5", "hazard ratio of re-injury per +10 min week-to-week change in "
                    "running minutes (lagged one week; time-varying Cox)", src.tv_cox,
                    "tv_cox_reinjury", "run_change_10", est.get("tv_cox_reinjury", ""), 1.0,
                    "A 10-minute larger weekly increase in running (the load exposure) was "
                    "associated with re-injury as"),
        _session_hr(ctx, "6", "hazard ratio of re-injury per +5 steps/min cadence change from "
                    "the first logged week (lagged one week; time-varying Cox)",
                    src.tv_cox_cadence if src.tv_cox_cadence is not None
                    else pd.DataFrame(columns=["term"]),
                    "tv_cox_cadence", "cadence_change_5", est.get("tv_cox_cadence", ""), -1.0,
                    "Re-injury per 5 steps/min higher cadence than at the start (re-injury as "
                    "the proxy of knee load: the logs hold no load measure)"),
    ]


def evaluate_claims(
    cox_pain_free: pd.DataFrame | ClaimSource,
    cox_reinjury: pd.DataFrame | ClaimSource,
    rmst: pd.DataFrame | ClaimSource,
    state_occupation: pd.DataFrame | ClaimSource | None = None,
    *,
    alpha: float = 0.05,
    margins: Margins | None = None,
    visits: bool = False,
    sessions: SessionSources | None = None,
) -> pd.DataFrame:
    """Map each clinic claim to its quantity, the estimate with its interval and p-value from the
    table it cites, the Holm-adjusted p-value over the family of claim tests, and a verdict.

    Parameters
    ----------
    cox_pain_free, cox_reinjury
        Tidy Cox tables ``term, coef, se, robust_se, hr, hr_lower, hr_upper, p`` with arm terms
        such as ``arm:strength_graded_running``, computed at ``alpha`` (or a
        :class:`ClaimSource` naming the table and its estimand, e.g. the IPTW tables).
    rmst
        ``outcome, arm, tau, rmst, se, diff_vs_rest, diff_lower, diff_upper, p`` at ``alpha``.
    state_occupation
        ``arm, time, state, probability, se, ...`` (Aalen–Johansen) with rows at
        ``margins.claim1_week``; without it claim 1 is not assessable.
    alpha
        Family-wise level of the verdicts and 1 − the confidence level of the tables. An
        interval that is not ``estimate ± z(alpha) SE`` (model or robust) is refused.
    margins
        The margins of the rules (:class:`Margins`; defaults documented in docs/claims.md).
    visits
        Whether visit tables were analysed (mentioned in claim 4's statement).
    sessions
        Tables from training logs (:class:`SessionSources`): claims 4–6 are then tested and
        join the Holm family; without them they stay ``not_assessable``.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; ``verdict`` is one of :data:`VERDICTS`.

    Examples
    --------
    >>> cox = pd.DataFrame({"term": ["arm:strength_graded_running"], "coef": [0.64],
    ...     "se": [0.05], "robust_se": [np.nan], "hr": [np.exp(0.64)],
    ...     "hr_lower": [np.exp(0.64 - 1.959963984540054 * 0.05)],
    ...     "hr_upper": [np.exp(0.64 + 1.959963984540054 * 0.05)], "p": [1e-30]})
    >>> empty_rmst = pd.DataFrame(columns=list(_RMST_COLS))
    >>> out = evaluate_claims(cox, cox, empty_rmst).set_index("claim_id")
    >>> out.loc["3a", "verdict"], out.loc["3a", "statement"]  # doctest: +NORMALIZE_WHITESPACE
    ('supported', 'Runners in strength + graded running became pain-free sooner than those
    resting only: HR 1.90 (95 % CI 1.72–2.09; Holm-adjusted p < 0.001); the whole interval lies
    above HR 1.25, so the gain is worthwhile.')
    """
    m = margins or Margins()
    ctx = _Ctx(alpha, m)
    pf = _source(cox_pain_free, "cox_pain_free")
    re = _source(cox_reinjury, "cox_reinjury")
    rm = _source(rmst, "rmst")
    so = None if state_occupation is None else _source(state_occupation, "state_occupation")
    _require(pf.table, _COX_COLS, pf.name)
    _require(re.table, _COX_COLS, re.name)
    _require(rm.table, _RMST_COLS, rm.name)
    built: list[dict | _Pending] = [
        _claim1(ctx, so),
        _claim2(ctx, "2a", pf, "pain_free"),
        _claim2(ctx, "2b", re, "reinjury"),
        _claim3_hr(ctx, pf),
        _claim3_rmst(ctx, rm),
        *(_session_claims(ctx, sessions) if sessions is not None else [
            _claim4(visits),
            _not_assessable(
                "5", "tissue capacity and training load during the return to running",
                "Clinic records hold neither tissue capacity nor the load during the return; weekly "
                "km before injury is only a baseline covariate, and load versus capacity is an "
                "assumption of the simulator.", "not estimable from these records", "none",
            ),
            _not_assessable(
                "6", "running cadence before and after retraining",
                "Cadence is not recorded in the clinic data; it exists only as an optional "
                "load factor of the simulator.", "not estimable from these records", "none",
            ),
        ]),
        _claim7(ctx, re),
    ]
    pending = [b for b in built if isinstance(b, _Pending)]
    adjusted = holm([b.test.p for b in pending])
    for b, p_adj in zip(pending, adjusted, strict=True):
        verdict = rule_verdict(b.rule, b.test, float(p_adj), alpha)
        b.row.update(p_adjusted=float(p_adj), family=FAMILY, rule=b.rule, verdict=verdict,
                     statement=b.say(verdict, b.test, float(p_adj)))
    rows = [b.row if isinstance(b, _Pending) else b for b in built]
    out = pd.DataFrame(rows, columns=COLUMNS)
    num = ["estimate", "lower", "upper", "p", "p_adjusted", "margin", "claimed_size"]
    out[num] = out[num].astype(float)
    return out


def claims_to_json(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a claims table as JSON-ready dictionaries (missing numbers become ``None``).

    Examples
    --------
    >>> claims_to_json(pd.DataFrame({"claim_id": ["6"], "estimate": [np.nan]}))
    [{'claim_id': '6', 'estimate': None}]
    """
    records: list[dict[str, Any]] = []
    for rec in df.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in rec.items():
            if isinstance(value, (float, np.floating)):
                clean[str(key)] = float(value) if np.isfinite(value) else None
            elif isinstance(value, np.integer):
                clean[str(key)] = int(value)
            elif isinstance(value, np.bool_):
                clean[str(key)] = bool(value)
            elif value is pd.NA or value is None:
                clean[str(key)] = None
            else:
                clean[str(key)] = value
        records.append(clean)
    return records


def verdict_counts(df: pd.DataFrame) -> Mapping[str, int]:
    """Number of rows per verdict, in :data:`VERDICTS` order (zeros included)."""
    counts = df["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in VERDICTS}
