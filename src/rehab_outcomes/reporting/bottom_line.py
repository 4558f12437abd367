"""What the dashboard reads from the analysis (never recomputed): the bottom line, the claims,
and the caveat that follows the data."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd

from rehab_outcomes.contract import ARMS
from rehab_outcomes.exceptions import InputRefusedError
from rehab_outcomes.reporting import style

__all__ = ["AnalysisOutputs", "DataContext", "VERDICT_WORDS", "bottom_line", "claims_view",
           "data_context", "verdict_words"]

DEFAULT_TAU: Final = 26.0


def _two(x: float) -> str:
    return f"{x:.2f}"


@dataclass(frozen=True)
class AnalysisOutputs:
    """What the dashboard reads from ``rehab-outcomes analyse``'s folder (never recomputed)."""

    claims: pd.DataFrame
    summary: dict[str, Any]
    km_summary: pd.DataFrame
    rmst: pd.DataFrame
    hashes: dict[str, str] = field(default_factory=dict)
    #: ``adherence.csv`` (written with training logs), as text cells; ``None`` without it.
    adherence: pd.DataFrame | None = None

    @classmethod
    def read(cls, folder: str | Path) -> AnalysisOutputs:
        """Read ``claims.csv``, ``summary.json``, ``km_summary.csv`` and ``rmst.csv``, and
        ``adherence.csv`` when the analysis had training logs.

        Extra columns (``p``, ``p_adjusted``, ``family``, ``estimand``) and new verdicts are
        accepted; a missing ``claims.csv`` or ``summary.json`` is refused in one line.
        ``adherence.csv`` is read as text (a site named ``NA`` stays ``NA``).
        """
        from rehab_outcomes.contract.io import sha256_of
        from rehab_outcomes.provenance import masked_name

        folder = Path(folder)
        if not folder.is_dir():
            raise InputRefusedError(f"--analysis {masked_name(folder)} is not a folder written "
                                    "by `rehab-outcomes analyse`")
        hashes: dict[str, str] = {}

        def need(name: str) -> Path:
            p = folder / name
            if not p.is_file():
                raise InputRefusedError(f"--analysis folder has no {name}: give the folder "
                                        "written by `rehab-outcomes analyse`")
            hashes[name] = sha256_of(p)
            return p

        try:
            summary = json.loads(need("summary.json").read_text(encoding="utf-8"))
            claims = pd.read_csv(need("claims.csv"), dtype={"claim_id": str})
        except (OSError, ValueError) as exc:
            raise InputRefusedError(f"the analysis outputs cannot be read ({type(exc).__name__})"
                                    ) from None
        if not isinstance(summary, dict):
            raise InputRefusedError("summary.json of the analysis does not hold a mapping")
        tables = {}
        for name in ("km_summary", "rmst"):
            p = folder / f"{name}.csv"
            if p.is_file():
                hashes[p.name] = sha256_of(p)
                tables[name] = pd.read_csv(p)
            else:
                tables[name] = pd.DataFrame()
        adherence = None
        p = folder / "adherence.csv"
        if p.is_file():
            hashes[p.name] = sha256_of(p)
            try:
                adherence = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[])
            except (OSError, ValueError) as exc:
                raise InputRefusedError("the analysis' adherence.csv cannot be read "
                                        f"({type(exc).__name__})") from None
        return cls(claims=claims, summary=summary, km_summary=tables["km_summary"],
                   rmst=tables["rmst"], hashes=hashes, adherence=adherence)

    @classmethod
    def none(cls) -> AnalysisOutputs:
        """No analysis given: no bottom line, default settings (a page still builds)."""
        return cls(claims=pd.DataFrame(), summary={"_missing": True}, km_summary=pd.DataFrame(),
                   rmst=pd.DataFrame())

    @property
    def missing(self) -> bool:
        return bool(self.summary.get("_missing"))

    @property
    def config(self) -> dict[str, Any]:
        cfg = self.summary.get("config")
        return cfg if isinstance(cfg, dict) else {}

    @property
    def tau(self) -> float:
        try:
            return float(self.config.get("tau", DEFAULT_TAU))
        except (TypeError, ValueError):
            return DEFAULT_TAU

    def claim(self, claim_id: str) -> dict[str, Any] | None:
        """The row of ``claim_id`` (``None`` if absent), numbers as floats or None."""
        if "claim_id" not in self.claims.columns:
            return None
        rows = self.claims[self.claims["claim_id"].astype(str) == claim_id]
        if rows.empty:
            return None
        row = rows.iloc[0].to_dict()
        for k in ("estimate", "lower", "upper", "p", "p_adjusted"):
            row[k] = _num(row.get(k))
        return row

    def claims_about(self, outcome: str, arm: str, kind: str) -> list[dict[str, Any]]:
        """Claim rows whose quantity is ``kind`` (``"hr"``: Cox hazard ratio, ``"rmst"``:
        restricted mean difference) of ``outcome`` for ``arm`` against rest only.

        Found by the ``source`` column where present (``cox_reinjury: arm:...``,
        ``rmst: pain_free ...``), else by the words of ``quantity``; never by claim number.
        """
        out = []
        if "claim_id" not in self.claims.columns:
            return out
        for _, r in self.claims.iterrows():
            src = str(r.get("source", "") or "")
            q = str(r.get("quantity", "") or "").lower()
            if kind == "hr":
                hit = src.startswith(f"cox_{outcome}: arm:{arm}") or (
                    not src and "hazard ratio" in q and _OUTCOME_WORDS[outcome] in q
                    and f"{_ARM_WORDS[arm]} vs rest only" in q)
            else:
                hit = src.startswith(f"rmst: {outcome} {arm}") or (
                    not src and "restricted mean" in q and _OUTCOME_WORDS[outcome] in q
                    and _ARM_WORDS[arm] in q)
            if hit:
                row = self.claim(str(r["claim_id"]))
                if row is not None:
                    out.append(row)
        return out

    def km_value(self, outcome: str, arm: str, column: str) -> float | None:
        t = self.km_summary
        if t.empty or column not in t.columns:
            return None
        rows = t[(t["outcome"].astype(str) == outcome) & (t["arm"].astype(str) == arm)]
        return None if rows.empty else _num(rows[column].iloc[0])

    def rmst_row(self, outcome: str, arm: str) -> dict[str, float | None] | None:
        t = self.rmst
        if t.empty or "diff_vs_rest" not in t.columns:
            return None
        rows = t[(t["outcome"].astype(str) == outcome) & (t["arm"].astype(str) == arm)]
        if rows.empty:
            return None
        r = rows.iloc[0]
        return {k: _num(r.get(k)) for k in ("tau", "rmst", "diff_vs_rest", "diff_lower",
                                            "diff_upper")}


def _num(value: object) -> float | None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None



# ----------------------------------------------------------------------------------------------
# what the data are: source, design, adjustment (the caveat follows the data)

_COVARIATE_WORDS: Final = {
    "age_years": "age", "sex": "sex", "bmi": "BMI",
    "weekly_km_before_injury": "weekly running distance before the injury",
    "symptom_weeks": "weeks of symptoms", "baseline_pain_nrs": "pain at the first visit",
    "baseline_kujala": "knee function score (Kujala)", "diagnosis": "diagnosis", "site": "site",
}


def _words(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class DataContext:
    """Where the data came from and how treatments were assigned, in words."""

    source: str  # simulate, records or unknown
    design: str  # randomised, observational or unknown
    simulated: bool
    banner: str
    caveat: str
    source_text: str


def data_context(run_config: Mapping[str, Any] | None, analysis_config: Mapping[str, Any]
                 ) -> DataContext:
    """The caveat of the page from the run's merged config and the analysis settings."""
    cfg = run_config or {}
    source = str(cfg.get("source", "unknown"))
    sim = cfg.get("simulate") if isinstance(cfg.get("simulate"), Mapping) else {}
    design = str(sim.get("design", "unknown")) if source == "simulate" else (
        "observational" if source == "records" else "unknown")
    covs = [c for c in analysis_config.get("covariates", []) if c != "arm"]
    adjusted = (f"The hazard ratios are adjusted for {_words([_COVARIATE_WORDS.get(c, c.replace('_', ' ')) for c in covs])} "
                "in a Cox model" if covs else "The hazard ratios are not adjusted for any patient "
                "characteristic")
    strata = analysis_config.get("strata")
    if isinstance(strata, str) and strata:
        adjusted += f" stratified by {_COVARIATE_WORDS.get(strata, strata.replace('_', ' '))}"
    if analysis_config.get("adjust") == "iptw":
        pcovs = analysis_config.get("propensity_covariates") or []
        adjusted += (", and the analysis adds inverse-probability-of-treatment weighted estimates "
                     f"balancing {_words([_COVARIATE_WORDS.get(c, c) for c in pcovs])}")
    adjusted += "; the weeks and shares shown are not adjusted."
    banner = ""
    if source == "simulate":
        banner = ("These pages describe a simulated cohort made by "
                  "`rehab-outcomes simulate`"
                  + (f" (seed {sim.get('seed')}, {sim.get('n'):,} episodes, {design} design)"
                     if isinstance(sim.get("n"), int) else "")
                  + ", not real patients.")
    if design == "randomised":
        caveat = ("Treatments were assigned at random, so differences in getting back to "
                  "pain-free running are due to the treatments or to chance; the 95 % intervals "
                  "show how large chance can be. Re-injury is compared among runners who got "
                  "back, a group formed after treatment, so that comparison is no longer a "
                  "randomised one. " + adjusted)
    elif source == "records":
        caveat = ("These are clinic records: patients and clinicians chose the treatment, so "
                  "differences can partly reflect who received which treatment. " + adjusted
                  + " Characteristics that were not recorded cannot be adjusted for.")
    elif design == "observational":
        caveat = ("Treatments were not assigned at random (an observational design), so "
                  "differences can partly reflect who received which treatment. " + adjusted)
    else:
        caveat = ("The run does not record where the data came from or how treatments were "
                  "assigned: read differences between treatments with care. " + adjusted)
    source_text = {"simulate": "simulated cohort", "records": "clinic records"}.get(
        source, "not recorded")
    return DataContext(source, design, source == "simulate", banner, caveat, source_text)


# ----------------------------------------------------------------------------------------------
# the bottom line, from the analysis outputs

VERDICT_WORDS: Final = {
    "supported": "supported by the data",
    "partly_supported": "partly supported by the data",
    "contradicted": "contradicted by the data",
    "inconclusive": "not settled by the data",
    "not_assessable": "not testable with these data",
}
_OUTCOME_WORDS: Final = {"pain_free": "pain-free running", "reinjury": "re-injury"}
_ARM_WORDS: Final = {"strength_graded_running": "strength + graded running",
                     "stretching_only": "stretching only", "rest_only": "rest only"}


def verdict_words(verdict: object) -> str:
    """Plain words of a claims verdict (an unknown verdict is shown as written)."""
    v = str(verdict)
    return VERDICT_WORDS.get(v, v.replace("_", " "))


def _verdicts(rows: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for row in rows:
        p_adj = row.get("p_adjusted")
        out.append({"claim_id": str(row.get("claim_id", "")), "claim": str(row.get("claim", "")),
                    "verdict": str(row.get("verdict", "")),
                    "words": verdict_words(row.get("verdict", "")),
                    "p_adjusted": "" if p_adj is None else
                    ("below 0.001" if p_adj < 0.001 else f"{p_adj:.3f}")})
    return out


def bottom_line(analysis: AnalysisOutputs, arm_shown: Mapping[str, bool], tau: float
                 ) -> list[dict[str, Any]]:
    """Two answers: who got back soonest, who stayed injury-free; each with its interval."""
    ref = style.REFERENCE_ARM
    label = {a: style.arm_label(a) for a in ARMS}
    answers: list[dict[str, Any]] = []
    # 1. pain-free soonest: restricted mean weeks not yet pain-free (RMST) within tau
    rm = {a: analysis.rmst_row("pain_free", a) for a in ARMS if arm_shown.get(a)}
    rm = {a: r for a, r in rm.items() if r and r.get("rmst") is not None}
    q1 = "Which treatment got runners back to pain-free running soonest?"
    if len(rm) >= 2 and ref in rm:
        best = min(rm, key=lambda a: rm[a]["rmst"])  # type: ignore[arg-type,return-value]
        other = best if best != ref else min((a for a in rm if a != ref),
                                             key=lambda a: rm[a]["rmst"])  # type: ignore[arg-type,return-value]
        d, lo, hi = (rm[other][k] for k in ("diff_vs_rest", "diff_lower", "diff_upper"))
        t = rm[other]["tau"] or tau
        if d is not None and lo is not None and hi is not None:
            if best == ref:
                d, lo, hi = -d, -hi, -lo
                cmp_arm = other
            else:
                cmp_arm = ref
            clear = hi < 0
            if clear:
                answer = f"{label[best]} got runners back to pain-free running soonest."
            else:
                answer = ("No treatment clearly got runners back to pain-free running sooner "
                          f"than {label[cmp_arm].lower()}.")
            detail = (f"Within the first {t:g} weeks, runners in {label[best].lower()} spent on "
                      f"average {abs(d):.1f} weeks {'fewer' if d < 0 else 'more'} not yet "
                      f"running pain-free than those in {label[cmp_arm].lower()} (95 % interval "
                      f"{_signed_weeks(lo)} to {_signed_weeks(hi)}).")
            med_b = analysis.km_value("pain_free", best, "median")
            med_c = analysis.km_value("pain_free", cmp_arm, "median")
            if med_b is not None and med_c is not None:
                lo_b = analysis.km_value("pain_free", best, "median_lower")
                hi_b = analysis.km_value("pain_free", best, "median_upper")
                ci = (f" (95 % interval {lo_b:.1f} to {hi_b:.1f})"
                      if lo_b is not None and hi_b is not None else "")
                detail += (f" Half of them were running pain-free by {med_b:.1f} weeks{ci}, "
                           f"against {med_c:.1f} weeks in {label[cmp_arm].lower()}.")
            rows = (analysis.claims_about("pain_free", best, "rmst")
                    + analysis.claims_about("pain_free", best, "hr")) if best != ref else []
            answers.append({"question": q1, "answer": answer, "detail": detail,
                            "verdicts": _verdicts(rows), "estimand": _estimand(rows),
                            "estimate": d, "lower": lo, "upper": hi, "arm": best})
    if analysis.missing:
        text = ("No analysis was given: run `rehab-outcomes analyse` on these episodes and pass "
                "its folder with --analysis for the answer, its interval and the verdict.")
        questions = (q1, "Did they stay injury-free after returning to running?")
        return [{"question": q, "answer": text, "detail": "", "verdicts": [], "estimand": "",
                 "estimate": None, "lower": None, "upper": None, "arm": None} for q in questions]
    if not answers:
        answers.append({"question": q1, "answer": "The analysis outputs do not answer this "
                        "question for these data.", "detail": "", "verdicts": [], "estimand": "",
                        "estimate": None, "lower": None, "upper": None, "arm": None})
    # 2. stayed injury-free: hazard ratio of re-injury vs rest only (Cox, from the claims)
    q2 = "Did they stay injury-free after returning to running?"
    hrs, hr_rows = {}, {}
    for arm in ARMS:
        if arm == ref:
            continue
        rows = analysis.claims_about("reinjury", arm, "hr")
        usable = [r for r in rows if None not in (r["estimate"], r["lower"], r["upper"])]
        if usable and arm_shown.get(arm):
            hrs[arm] = (usable[0]["estimate"], usable[0]["lower"], usable[0]["upper"])
            hr_rows[arm] = rows
    if hrs and arm_shown.get(ref):
        best = min(hrs, key=lambda a: hrs[a][0])
        hr, lo, hi = hrs[best]
        if hi < 1:
            answer = (f"Yes, more often after {label[best].lower()}: their risk of re-injury "
                      f"was {100 * (1 - hr):.0f} % lower than after {label[ref].lower()}.")
        elif lo > 1:
            answer = (f"No treatment kept runners injury-free better than {label[ref].lower()}; "
                      f"re-injury was more frequent after {label[best].lower()}.")
        else:
            answer = ("No treatment clearly kept runners injury-free longer than "
                      f"{label[ref].lower()}.")
        detail = (f"Hazard ratio of re-injury, {label[best].lower()} against "
                  f"{label[ref].lower()}: {_two(hr)} (95 % interval {_two(lo)} to {_two(hi)}); "
                  "a ratio under one means fewer re-injuries at any time after the return.")
        col = f"surv_{tau:g}w"
        s_b, s_r = (analysis.km_value("reinjury", a, col) for a in (best, ref))
        if s_b is not None and s_r is not None:
            detail += (f" Within {tau:g} weeks of returning, {100 * (1 - s_b):.1f} % were "
                       f"injured again after {label[best].lower()}, against "
                       f"{100 * (1 - s_r):.1f} % after {label[ref].lower()}.")
        answers.append({"question": q2, "answer": answer, "detail": detail,
                        "verdicts": _verdicts(hr_rows[best]), "estimand": _estimand(hr_rows[best]),
                        "estimate": hr, "lower": lo, "upper": hi, "arm": best})
    else:
        answers.append({"question": q2, "answer": "The analysis outputs do not answer this "
                        "question for these data.", "detail": "", "verdicts": [], "estimand": "",
                        "estimate": None, "lower": None, "upper": None, "arm": None})
    return answers


def _estimand(rows: Sequence[dict[str, Any]]) -> str:
    """What the first row estimates, in the analysis' words (its ``estimand`` column)."""
    for r in rows:
        text = r.get("estimand")
        if isinstance(text, str) and text.strip():
            return text.strip()
    return ""


def _signed_weeks(x: float) -> str:
    return f"{x:.1f}".replace("-", "−")



def claims_view(analysis: AnalysisOutputs) -> dict[str, Any]:
    rows, records = [], []
    c = analysis.claims
    for _, r in c.iterrows():
        est, lo, hi = (_num(r.get(k)) for k in ("estimate", "lower", "upper"))
        rows.append({"id": str(r.get("claim_id", "")), "claim": str(r.get("claim", "")),
                     "verdict": str(r.get("verdict", "")),
                     "words": verdict_words(r.get("verdict", "")),
                     "statement": str(r.get("statement", ""))})
        records.append({"claim_id": str(r.get("claim_id", "")), "claim": str(r.get("claim", "")),
                        "verdict": str(r.get("verdict", "")), "estimate": est, "lower": lo,
                        "upper": hi, "statement": str(r.get("statement", ""))})
    return {"rows": rows, "frame": pd.DataFrame(records)}


