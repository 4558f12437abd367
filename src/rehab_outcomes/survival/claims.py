"""The claims table: each clinic claim about runner's knee, the quantity that tests it, a verdict.

:func:`evaluate_claims` reads the tidy result tables of the survival analysis (Cox models, RMST,
Kaplan–Meier summary and, optionally, pain trajectories) and returns one row per testable
quantity. Direction conventions: for time to pain-free running a hazard ratio above 1 and an RMST
difference below 0 mean benefit; for re-injury a hazard ratio below 1 and an RMST difference above
0 mean benefit; for pain trajectories a negative difference in weekly slope means benefit.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.contract.schema import REFERENCE_ARM
from rehab_outcomes.exceptions import AnalysisError

STRENGTH: Final = "strength_graded_running"
STRETCH: Final = "stretching_only"

VERDICTS: Final = ("supported", "contradicted", "inconclusive", "not_assessable")
COLUMNS: Final = [
    "claim_id", "claim", "quantity", "estimate", "lower", "upper", "verdict", "statement",
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
_Z95: Final = float(stats.norm.ppf(0.975))
_COX_COLS: Final = ("term", "coef", "se", "hr", "hr_lower", "hr_upper")
_RMST_COLS: Final = ("outcome", "arm", "tau", "diff_vs_rest", "diff_lower", "diff_upper")
_KM_COLS: Final = ("outcome", "arm", "surv_52w")


def _require(df: pd.DataFrame, cols: tuple[str, ...], name: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise AnalysisError(f"The {name} table lacks columns {missing}.")


def _num(x: float) -> str:
    """Two decimals, with a proper minus sign."""
    return f"{x:.2f}".replace("-", "−")


def _weeks(x: float) -> str:
    return f"{x:.1f}".replace("-", "−")


def _ci_verdict(lower: float, upper: float, null: float, benefit_above: bool) -> str:
    """Verdict of a claim of benefit: the CI excludes the null on the claimed side, the other, or neither."""
    if benefit_above:
        return "supported" if lower > null else "contradicted" if upper < null else "inconclusive"
    return "supported" if upper < null else "contradicted" if lower > null else "inconclusive"


def _no_benefit_verdict(lower: float, upper: float, benefit_above: bool, margin: float) -> str:
    """Verdict of a claim of *no* benefit (hazard ratios; ``margin`` > 1 is the smallest benefit
    that matters): contradicted when the CI shows benefit, supported when it excludes any benefit
    as large as ``margin``, otherwise inconclusive."""
    if benefit_above:
        return "contradicted" if lower > 1 else "supported" if upper < margin else "inconclusive"
    return "contradicted" if upper < 1 else "supported" if lower > 1 / margin else "inconclusive"


def _finite(*values: object) -> bool:
    """True if every value is a finite number (empty cells of a table read back are not)."""
    try:
        return all(math.isfinite(float(v)) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


class _Ctx:
    """Inputs and confidence level shared by the row builders."""

    def __init__(self, alpha: float) -> None:
        if not 0 < alpha < 1:
            raise AnalysisError("alpha must lie strictly between 0 and 1.")
        self.alpha = alpha
        self.z = float(stats.norm.ppf(1 - alpha / 2))
        self.ci = f"{100 * (1 - alpha):g} % CI"
        self.default_level = math.isclose(alpha, 0.05)

    def hr(self, cox: pd.DataFrame, arm: str) -> tuple[float, float, float] | None:
        """HR and its interval, or None if the term is missing or has no finite interval (its
        SE is zero or not finite: the Cox table leaves the interval empty)."""
        rows = cox[cox["term"] == f"arm:{arm}"]
        if rows.empty or not _finite(rows["hr"].iloc[0], rows["hr_lower"].iloc[0],
                                     rows["hr_upper"].iloc[0]):
            return None
        r = rows.iloc[0]
        if self.default_level:
            return float(r["hr"]), float(r["hr_lower"]), float(r["hr_upper"])
        se = r.get("robust_se", np.nan)
        se = float(se) if pd.notna(se) else float(r["se"])
        coef = float(r["coef"])
        if not (math.isfinite(se) and se > 0):
            return None
        return float(r["hr"]), math.exp(coef - self.z * se), math.exp(coef + self.z * se)

    def rmst(self, rmst: pd.DataFrame, outcome: str, arm: str) -> tuple[float, float, float, float] | None:
        rows = rmst[(rmst["outcome"] == outcome) & (rmst["arm"] == arm)]
        if rows.empty or not _finite(rows["diff_vs_rest"].iloc[0], rows["diff_lower"].iloc[0],
                                     rows["diff_upper"].iloc[0]):
            return None
        r = rows.iloc[0]
        d, lo, hi = float(r["diff_vs_rest"]), float(r["diff_lower"]), float(r["diff_upper"])
        if not self.default_level:  # tables hold 95 % intervals; rescale their half-width
            half = (hi - lo) / 2 * self.z / _Z95
            lo, hi = d - half, d + half
        return d, lo, hi, float(r["tau"])


def _row(cid: str, quantity: str, est: float, lo: float, hi: float, verdict: str, text: str) -> dict:
    return {
        "claim_id": cid, "claim": CLAIMS[cid.rstrip("abc")], "quantity": quantity,
        "estimate": est, "lower": lo, "upper": hi, "verdict": verdict, "statement": text,
    }


def _not_assessable(cid: str, quantity: str, why: str) -> dict:
    return _row(cid, quantity, np.nan, np.nan, np.nan, "not_assessable", why)


def _hr_quantity(outcome: str, arm: str) -> str:
    what = "pain-free running" if outcome == "pain_free" else "re-injury"
    return f"hazard ratio of {what}, {_ARM_TEXT.get(arm, arm)} vs rest only (Cox)"


def _missing_hr(cid: str, outcome: str, arm: str) -> dict:
    return _not_assessable(
        cid, _hr_quantity(outcome, arm),
        f"No {_ARM_TEXT.get(arm, arm)} term with a confidence interval in the "
        f"{outcome.replace('_', '-')} Cox model, so the data cannot speak to this claim.",
    )


def _claim1(ctx: _Ctx, cox_re: pd.DataFrame, km: pd.DataFrame) -> dict:
    est = ctx.hr(cox_re, STRENGTH)
    if est is None:
        return _missing_hr("1", "reinjury", STRENGTH)
    hr, lo, hi = est
    verdict = _ci_verdict(lo, hi, 1.0, benefit_above=False)
    if verdict == "inconclusive":
        lead = "Re-injury after return did not differ clearly between rest only and strength + graded running"
    elif hr < 1:
        lead = "Re-injury after return was more frequent with rest only than with strength + graded running"
    else:
        lead = "Re-injury after return was less frequent with rest only than with strength + graded running"
    text = f"{lead}: HR {_num(hr)} ({ctx.ci} {_num(lo)}–{_num(hi)})"
    rest = km[(km["outcome"] == "pain_free") & (km["arm"] == REFERENCE_ARM)]
    if not rest.empty and pd.notna(rest["surv_52w"].iloc[0]):
        text += (
            f"; {100 * float(rest['surv_52w'].iloc[0]):.0f} % of rest-only runners were still not "
            "running pain-free at 52 weeks"
        )
    quantity = _hr_quantity("reinjury", STRENGTH) + "; share of rest only not pain-free at 52 weeks"
    return _row("1", quantity, hr, lo, hi, verdict, text + ".")


def _claim2(ctx: _Ctx, cid: str, cox: pd.DataFrame, outcome: str, margin: float) -> dict:
    est = ctx.hr(cox, STRETCH)
    if est is None:
        return _missing_hr(cid, outcome, STRETCH)
    hr, lo, hi = est
    pain_free = outcome == "pain_free"
    verdict = _no_benefit_verdict(lo, hi, benefit_above=pain_free, margin=margin)
    ci = f"HR {_num(hr)} ({ctx.ci} {_num(lo)}–{_num(hi)})"
    bound = _num(margin if pain_free else 1 / margin)
    if pain_free:
        if verdict == "contradicted":
            text = f"Runners stretching only became pain-free sooner than those resting only: {ci}."
        elif verdict == "supported":
            text = (f"Stretching only showed no worthwhile gain over rest in time to pain-free "
                    f"running: {ci}, which excludes an HR of {bound} or more.")
        else:
            text = (f"The data cannot tell whether stretching only speeds pain-free running: {ci}, "
                    f"which includes both no effect and an HR of {bound}.")
    elif verdict == "contradicted":
        text = f"Runners stretching only re-injured less often than those resting only: {ci}."
    elif verdict == "supported":
        text = (f"Stretching only did not protect against re-injury compared with rest: {ci}, "
                f"which excludes an HR of {bound} or less.")
    else:
        text = (f"The data cannot tell whether stretching only protects against re-injury: {ci}, "
                f"which includes both no effect and an HR of {bound}.")
    quantity = _hr_quantity(outcome, STRETCH) + f"; no-benefit margin HR {bound}"
    return _row(cid, quantity, hr, lo, hi, verdict, text)


def _claim3_hr(ctx: _Ctx, cox_pf: pd.DataFrame) -> dict:
    est = ctx.hr(cox_pf, STRENGTH)
    if est is None:
        return _missing_hr("3a", "pain_free", STRENGTH)
    hr, lo, hi = est
    verdict = _ci_verdict(lo, hi, 1.0, benefit_above=True)
    if verdict == "inconclusive":
        lead = ("Time to pain-free running did not differ clearly between strength + graded "
                "running and rest only")
    else:
        lead = (f"Runners in strength + graded running became pain-free "
                f"{'sooner' if hr > 1 else 'later'} than those resting only")
    text = f"{lead}: HR {_num(hr)} ({ctx.ci} {_num(lo)}–{_num(hi)})."
    return _row("3a", _hr_quantity("pain_free", STRENGTH), hr, lo, hi, verdict, text)


def _claim3_rmst(ctx: _Ctx, rmst: pd.DataFrame) -> dict:
    est = ctx.rmst(rmst, "pain_free", STRENGTH)
    quantity = ("difference in restricted mean weeks not yet running pain-free, strength + graded "
                "running minus rest only (RMST)")
    if est is None:
        return _not_assessable("3b", quantity, "No RMST difference with a confidence interval for "
                               "strength + graded running in the pain-free RMST table, so the data "
                               "cannot speak to this claim.")
    d, lo, hi, tau = est
    verdict = _ci_verdict(lo, hi, 0.0, benefit_above=False)
    text = (f"Within {tau:g} weeks, runners in strength + graded running spent on average "
            f"{_weeks(abs(d))} weeks {'fewer' if d < 0 else 'more'} not yet running pain-free than "
            f"those resting only: difference {_weeks(d)} weeks ({ctx.ci} {_weeks(lo)} to {_weeks(hi)}).")
    return _row("3b", quantity + f", tau {tau:g} weeks", d, lo, hi, verdict, text)


def _trajectory_table(trajectories: Any) -> pd.DataFrame | None:
    if trajectories is None:
        return None
    table = getattr(trajectories, "summary", trajectories)
    if not isinstance(table, pd.DataFrame):
        raise AnalysisError("trajectories must be a summary table or a fitted trajectory model.")
    _require(table, ("term", "coef", "lower", "upper"), "trajectories")
    return table


def _claim4(ctx: _Ctx, traj: pd.DataFrame | None) -> dict:
    quantity = ("difference in weekly pain slope (NRS points per week), strength + graded running "
                "minus rest only (mixed model of the visits)")
    if traj is None:
        return _not_assessable("4", quantity, "No visits table was analysed, so pain trajectories "
                               "are unavailable; the progression rule itself is a simulator setting.")
    rows = traj[traj["term"] == f"week:arm:{STRENGTH}"]
    if rows.empty:
        return _not_assessable("4", quantity, "The trajectory model has no strength + graded "
                               "running slope, so the data cannot speak to this claim.")
    r = rows.iloc[0]
    est, lo, hi = float(r["coef"]), float(r["lower"]), float(r["upper"])
    if not ctx.default_level and "se" in r:
        lo, hi = est - ctx.z * float(r["se"]), est + ctx.z * float(r["se"])
    if not _finite(est, lo, hi):
        return _not_assessable("4", quantity, "The trajectory model's strength + graded running "
                               "slope has no confidence interval, so the data cannot speak to "
                               "this claim.")
    ci = f"({ctx.ci} {_num(lo)} to {_num(hi)})"
    direction = "faster" if est < 0 else "slower"
    text = (f"The records cannot test the progression rule itself: no arm returns to running "
            f"without it. As context, pain among runners still in care fell {_num(abs(est))} points "
            f"per week {direction} with strength + graded running than with rest only {ci}, but "
            f"runners leave care when they recover, so this slope describes those still in care.")
    return _row("4", quantity, est, lo, hi, "not_assessable", text)


def _claim7(ctx: _Ctx, cox_re: pd.DataFrame) -> dict:
    quantity = _hr_quantity("reinjury", STRENGTH) + "; claimed HR 0.50"
    est = ctx.hr(cox_re, STRENGTH)
    if est is None:
        return _missing_hr("7", "reinjury", STRENGTH)
    hr, lo, hi = est
    verdict = _ci_verdict(lo, hi, 1.0, benefit_above=False)
    if hi < 0.5:
        fifty = "so the reduction is larger than 50 % (HR 0.50)"
    elif lo <= 0.5:
        fifty = "which is compatible with a 50 % reduction (HR 0.50)"
        if verdict == "inconclusive":
            fifty += " but also with no reduction at all"
    elif verdict == "supported":
        fifty = "so there is a reduction, but one as large as 50 % (HR 0.50) is ruled out"
    elif verdict == "inconclusive":
        fifty = ("so a reduction as large as 50 % (HR 0.50) is ruled out, while no reduction at "
                 "all remains possible")
    else:
        fifty = "so re-injury was more frequent, and a 50 % reduction (HR 0.50) is ruled out"
    text = (f"Re-injury with strength + graded running relative to rest only: HR {_num(hr)} "
            f"({ctx.ci} {_num(lo)}–{_num(hi)}), {fifty}.")
    return _row("7", quantity, hr, lo, hi, verdict, text)


def evaluate_claims(
    cox_pain_free: pd.DataFrame,
    cox_reinjury: pd.DataFrame,
    rmst: pd.DataFrame,
    km_summary: pd.DataFrame,
    trajectories: pd.DataFrame | None = None,
    alpha: float = 0.05,
    *,
    no_benefit_margin: float = 1.25,
) -> pd.DataFrame:
    """Map each clinic claim to a quantity, an estimate with its interval, and a verdict.

    Parameters
    ----------
    cox_pain_free, cox_reinjury
        Tidy Cox tables: ``term, coef, se, robust_se, hr, hr_lower, hr_upper, p`` with arm terms
        such as ``arm:strength_graded_running`` (95 % intervals).
    rmst
        ``outcome, arm, tau, rmst, se, diff_vs_rest, diff_lower, diff_upper, p`` (95 % intervals).
    km_summary
        ``outcome, arm, n, events, median, ..., surv_52w``.
    trajectories
        Optional pain trajectory summary (``term, coef, se, lower, upper, p``) or fitted
        trajectory model; without it claim 4 is not assessable.
    alpha
        1 − confidence level; other than 0.05 the intervals are recomputed from the standard
        errors (Cox: robust if present) or rescaled from the 95 % width (RMST).
    no_benefit_margin
        For claim 2 ("stretching does not fix it"): the smallest hazard ratio of benefit that
        matters (1.25 for pain-free; 1/1.25 = 0.8 for re-injury). The claim is supported when the
        interval excludes such a benefit, contradicted when it excludes no benefit.

    Returns
    -------
    pandas.DataFrame
        ``claim_id, claim, quantity, estimate, lower, upper, verdict, statement``; verdicts are
        ``supported``, ``contradicted``, ``inconclusive`` or ``not_assessable``.

    Examples
    --------
    >>> cox = pd.DataFrame({"term": ["arm:strength_graded_running"], "coef": [0.64],
    ...     "se": [0.05], "robust_se": [0.05], "hr": [1.9], "hr_lower": [1.7],
    ...     "hr_upper": [2.1], "p": [1e-30]})
    >>> empty_rmst = pd.DataFrame(columns=list(_RMST_COLS))
    >>> empty_km = pd.DataFrame(columns=list(_KM_COLS))
    >>> out = evaluate_claims(cox, cox, empty_rmst, empty_km)
    >>> out.loc[out.claim_id == "3a", "statement"].item()
    'Runners in strength + graded running became pain-free sooner than those resting only: HR 1.90 (95 % CI 1.70–2.10).'
    """
    if no_benefit_margin <= 1:
        raise AnalysisError("no_benefit_margin must exceed 1.")
    _require(cox_pain_free, _COX_COLS, "pain-free Cox")
    _require(cox_reinjury, _COX_COLS, "re-injury Cox")
    _require(rmst, _RMST_COLS, "RMST")
    _require(km_summary, _KM_COLS, "Kaplan–Meier summary")
    ctx = _Ctx(alpha)
    rows = [
        _claim1(ctx, cox_reinjury, km_summary),
        _claim2(ctx, "2a", cox_pain_free, "pain_free", no_benefit_margin),
        _claim2(ctx, "2b", cox_reinjury, "reinjury", no_benefit_margin),
        _claim3_hr(ctx, cox_pain_free),
        _claim3_rmst(ctx, rmst),
        _claim4(ctx, _trajectory_table(trajectories)),
        _not_assessable(
            "5", "tissue capacity and training load during the return to running",
            "Clinic records hold neither tissue capacity nor the load during the return; weekly "
            "km before injury is only a baseline covariate, and load versus capacity is an "
            "assumption of the simulator.",
        ),
        _not_assessable(
            "6", "running cadence before and after retraining",
            "Cadence is not recorded in the clinic data; it exists only as an optional "
            "load factor of the simulator.",
        ),
        _claim7(ctx, cox_reinjury),
    ]
    out = pd.DataFrame(rows, columns=COLUMNS)
    out[["estimate", "lower", "upper"]] = out[["estimate", "lower", "upper"]].astype(float)
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
