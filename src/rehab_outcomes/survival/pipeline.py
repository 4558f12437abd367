"""The whole analysis of one cohort: compose the fitters into tidy tables and ``summary.json``.

:func:`run_analysis` returns an :class:`AnalysisResult` (every table as a DataFrame);
:meth:`AnalysisResult.write` writes them as CSV. Each piece that cannot be computed on the data
(for example a re-injury model without re-injuries) is recorded in ``problems`` with the reason,
and its table is written with its header only: nothing fails silently, nothing stops the rest.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from rehab_outcomes import __version__
from rehab_outcomes.contract.outcomes import derive_outcomes
from rehab_outcomes.contract.schema import ARMS, REFERENCE_ARM
from rehab_outcomes.exceptions import AnalysisError, ConfigError, StatisticalWarning
from rehab_outcomes.outputs import AtomicOutputs, write_csv, write_json
from rehab_outcomes.survival import claims, cox, cuminc, km, logrank, multistate, rmst, zph
from rehab_outcomes.survival.claims import FAMILY as FAMILY_NAME
from rehab_outcomes.survival.claims import ClaimSource, Margins, claims_to_json, evaluate_claims
from rehab_outcomes.survival.cox import MIN_CLUSTERS, CoxPH, ci_se_rule
from rehab_outcomes.survival.cuminc import cumulative_incidence
from rehab_outcomes.survival.exposures import WEEKLY_COLUMNS
from rehab_outcomes.survival.iptw import BALANCE_PAIRS_COLUMNS, SMD_THRESHOLD
from rehab_outcomes.survival.km import KaplanMeier
from rehab_outcomes.survival.logrank import logrank_table
from rehab_outcomes.survival.multistate import AalenJohansen
from rehab_outcomes.survival.rmst import rmst_table
from rehab_outcomes.survival.trajectories import OUTCOME_LABEL as PAIN_LABEL
from rehab_outcomes.survival.trajectories import TABLES as TRAJECTORY_TABLES
from rehab_outcomes.survival.tv_analysis import ADHERENCE_COLUMNS, MSM_COLUMNS
from rehab_outcomes.survival.zph import cox_zph

log = logging.getLogger(__name__)

DEFAULT_COVARIATES = (
    "arm", "age_years", "sex", "bmi", "weekly_km_before_injury", "symptom_weeks", "baseline_pain_nrs",
)
DEFAULT_PROPENSITY_COVARIATES = (
    "age_years", "sex", "weekly_km_before_injury", "symptom_weeks", "baseline_pain_nrs",
)
OUTCOMES = {
    "pain_free": ("pain_free_weeks", "pain_free_event", "Time to pain-free running"),
    "reinjury": ("reinjury_weeks", "reinjury_event", "Time to re-injury after return to running"),
}
# Output columns come from the fitters that produce them (one statement of each table).
KM_COLUMNS = km.TABLE_COLUMNS
KM_SUMMARY_COLUMNS = km.SUMMARY_COLUMNS
LOGRANK_COLUMNS = logrank.COLUMNS
COX_COLUMNS = cox.SUMMARY_COLUMNS
ZPH_COLUMNS = zph.COLUMNS
RMST_COLUMNS = rmst.COLUMNS
CUMINC_COLUMNS = cuminc.COLUMNS
STATE_COLUMNS = multistate.COLUMNS
BALANCE_COLUMNS = ["term", "arm", "smd_before", "smd_after", "imbalanced_before", "imbalanced_after"]
TRAJ_COLUMNS = TRAJECTORY_TABLES["trajectories"]
CLAIM_COLUMNS = claims.COLUMNS
#: Week of claim 1's state-occupation probability (always among the state-occupation rows).
CLAIM1_WEEK = Margins().claim1_week

#: Output tables and their fixed columns (documented in docs/analysis.md).
TABLES: dict[str, list[str]] = {
    "km_pain_free": KM_COLUMNS,
    "km_reinjury": KM_COLUMNS,
    "km_summary": KM_SUMMARY_COLUMNS,
    "logrank": LOGRANK_COLUMNS,
    "cox_pain_free": COX_COLUMNS,
    "cox_reinjury": COX_COLUMNS,
    "ph_check": ZPH_COLUMNS,
    "rmst": RMST_COLUMNS,
    "cuminc_reinjury": CUMINC_COLUMNS,
    "state_occupation": STATE_COLUMNS,
    "claims": CLAIM_COLUMNS,
}
IPTW_TABLES: dict[str, list[str]] = {
    "balance": BALANCE_COLUMNS,
    "balance_pairs": BALANCE_PAIRS_COLUMNS,
    "iptw_km_pain_free": KM_COLUMNS,
    "iptw_km_reinjury": KM_COLUMNS,
    "iptw_cox_pain_free": COX_COLUMNS,
    "iptw_cox_reinjury": COX_COLUMNS,
    "iptw_rmst": RMST_COLUMNS,
    "iptw_state_occupation": STATE_COLUMNS,
}
#: The pain-trajectory tables (with visits), as :mod:`~rehab_outcomes.survival.trajectories`
#: states them.
VISIT_TABLES: dict[str, list[str]] = dict(TRAJECTORY_TABLES)
#: The time-varying tables (with ``--sessions`` training logs; docs/analysis.md).
SESSION_TABLES: dict[str, list[str]] = {
    "weekly_exposures": list(WEEKLY_COLUMNS),
    "tv_cox_reinjury": COX_COLUMNS,
    "tv_cox_cadence": COX_COLUMNS,
    "msm_rule": list(MSM_COLUMNS),
    "adherence": list(ADHERENCE_COLUMNS),
}
#: The counting-process table of re-injury written as Parquet with ``--sessions``.
SESSION_PARQUET = "tv_reinjury.parquet"
#: Every file ``analyse`` may write: a run removes those of an earlier run it did not write.
MANAGED_OUTPUTS: tuple[str, ...] = (
    *(f"{name}.csv" for name in (*TABLES, *IPTW_TABLES, *VISIT_TABLES, *SESSION_TABLES)),
    SESSION_PARQUET,
    "summary.json",
)
#: Numerical failures of a fitter on degenerate data: recorded as problems of that piece.
NUMERICAL_ERRORS: tuple[type[BaseException], ...] = (
    np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError, OverflowError, ValueError,
)


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of :func:`run_analysis` (all have defaults; a YAML file may override them).

    The margins of the claim rules (``margin_*``, ``claim7_hr``) are documented with their
    sources in docs/claims.md.
    """

    covariates: tuple[str, ...] = DEFAULT_COVARIATES
    cluster: str | None = "site"
    min_clusters: int = MIN_CLUSTERS
    #: Stratify the primary Cox models by this column when it has at least 2 levels.
    strata: str | None = "site"
    tau: float = 26.0
    conf_type: Literal["log", "log-log", "plain"] = "log"
    alpha: float = 0.05
    adjust: Literal["none", "iptw"] = "none"
    propensity_covariates: tuple[str, ...] = DEFAULT_PROPENSITY_COVARIATES
    truncate_weights: tuple[float, float] | None = None
    #: Weeks from the first visit at which state occupation is always reported.
    milestones: tuple[float, ...] = (12.0, 26.0, 52.0)
    margin_no_benefit_hr: float = 1.25
    margin_rmst_weeks: float = 1.5
    margin_state_probability: float = 0.04
    claim7_hr: float = 0.5

    def __post_init__(self) -> None:
        if "arm" not in self.covariates:
            raise ConfigError("covariates must include 'arm'")
        if self.adjust not in ("none", "iptw"):
            raise ConfigError(f"adjust must be 'none' or 'iptw', not {self.adjust!r}")
        if self.conf_type not in ("log", "log-log", "plain"):
            raise ConfigError(f"conf_type must be log, log-log or plain, not {self.conf_type!r}")
        if not 0 < self.alpha < 1:
            raise ConfigError("alpha must lie between 0 and 1")
        if self.tau <= 0:
            raise ConfigError("tau must be positive")
        if not self.milestones or not all(
                isinstance(m, int | float) and m > 0 for m in self.milestones):
            raise ConfigError("milestones must be a list of positive weeks")
        try:
            self.margins()
        except AnalysisError as exc:
            raise ConfigError(str(exc)) from None

    def margins(self) -> Margins:
        """The margins of the claim rules."""
        return Margins(no_benefit_hr=self.margin_no_benefit_hr, rmst_weeks=self.margin_rmst_weeks,
                       state_probability=self.margin_state_probability, claim7_hr=self.claim7_hr)

    @classmethod
    def from_file(cls, path: str | Path | None, **overrides: Any) -> AnalysisConfig:
        """Defaults, then a YAML file's keys, then explicit overrides (``None`` values ignored)."""
        values: dict[str, Any] = {}
        if path is not None:
            try:
                data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            except FileNotFoundError:
                raise ConfigError(f"analysis config not found: {path}") from None
            data = data.get("analysis", data)
            unknown = set(data) - set(cls.__dataclass_fields__)
            if unknown:
                raise ConfigError(f"unknown analysis setting(s): {', '.join(sorted(unknown))}")
            values.update(data)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("covariates", "propensity_covariates", "truncate_weights", "milestones"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None


@dataclass
class AnalysisResult:
    """Every table of one analysis, the problems met, and the summary."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    #: Tables written as Parquet (``tv_reinjury`` with sessions); empty otherwise.
    parquet: dict[str, pd.DataFrame] = field(default_factory=dict)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``<table>.csv`` for every table and ``summary.json`` atomically; returns the paths.

        Files go to a temporary folder beside ``out_dir`` and are moved into place together
        (:class:`~rehab_outcomes.outputs.AtomicOutputs`); a table an earlier run wrote but this
        run did not (e.g. ``trajectories.csv`` of a run with visits) is removed. Text cells are
        made formula-safe; numbers are written as before (``%.10g``).
        """
        out = Path(out_dir)
        names = [f"{name}.csv" for name in self.tables] + ["summary.json"]
        names += [f"{name}.parquet" for name in self.parquet]
        with AtomicOutputs(out, managed=MANAGED_OUTPUTS) as tmp:
            for name, df in self.tables.items():
                write_csv(df, tmp / f"{name}.csv", float_format="%.10g")
            for name, df in self.parquet.items():
                df.to_parquet(tmp / f"{name}.parquet", index=False)
            write_json(self.summary, tmp / "summary.json", digits=10)
        return [out / name for name in names]


class _Runner:
    """Runs one piece at a time, recording warnings and turning AnalysisErrors (and numerical
    failures on degenerate data) into problems of that piece."""

    def __init__(self, result: AnalysisResult) -> None:
        self.result = result

    def __call__(self, piece: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = fn()
            except AnalysisError as exc:
                log.warning("%s: not computed: %s", piece, exc)
                self.result.problems.append({"piece": piece, "reason": str(exc)})
                value = None
            except NUMERICAL_ERRORS as exc:  # degenerate data the fitter did not foresee
                reason = f"numerical failure on these data ({type(exc).__name__}: {exc})"
                log.warning("%s: not computed: %s", piece, reason)
                log.debug("%s failed", piece, exc_info=True)
                self.result.problems.append({"piece": piece, "reason": reason})
                value = None
        seen = set()
        for w in caught:
            msg = str(w.message)
            if msg in seen or issubclass(w.category, DeprecationWarning | FutureWarning):
                continue
            seen.add(msg)
            log.warning("%s: %s", piece, msg)
            self.result.warnings.append({"piece": piece, "warning": msg})
        log.info("%s done (%.2f s)", piece, time.perf_counter() - t0)
        return value


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _cox_table(fit: Any) -> pd.DataFrame:
    return fit.summary[COX_COLUMNS].reset_index(drop=True)


def _fit_cox(cfg: AnalysisConfig, **fit_args: Any) -> tuple[CoxPH, pd.DataFrame]:
    """Fit a Cox model and tabulate it in one piece (the summary's warnings count for it too).

    Which SE the intervals and p-values use is decided by :func:`~rehab_outcomes.survival.cox.
    ci_se_rule` inside the fit, at the configured ``alpha``: the table, the claims citing it and
    the forest plots drawn from it all show the same interval.
    """
    fit = CoxPH(alpha=cfg.alpha, min_clusters=cfg.min_clusters).fit(**fit_args)
    return fit, _cox_table(fit)


def _strata(df: pd.DataFrame, cfg: AnalysisConfig) -> tuple[str | None, str]:
    """The stratification of the primary Cox models and how it was decided."""
    if cfg.strata is None:
        return None, "unstratified (strata: null)"
    if cfg.strata not in df.columns:
        raise AnalysisError(f"strata column {cfg.strata!r} is not in the data")
    k = int(df[cfg.strata].nunique())
    if k < 2:
        return None, (f"unstratified: {cfg.strata} has {k} level(s) in the data, and "
                      "stratification needs at least 2")
    return cfg.strata, f"stratified by {cfg.strata} ({k} strata: a baseline hazard per {cfg.strata})"


def _estimands(cfg: AnalysisConfig, strata_col: str | None) -> dict[str, str]:
    """What each table that a claim may cite estimates, in words (summary.json and claims.csv)."""
    covs = ", ".join(c for c in cfg.covariates if c != "arm") or "no other covariate"
    strat = f", stratified by {strata_col}" if strata_col else ", unstratified"
    cond = f"conditional hazard ratio given {covs}{strat} (Cox, Efron ties)"
    subset = ("population: episodes that became pain-free (clock from the pain-free date), a "
              "subset selected after treatment, so not a randomised comparison")
    out = {
        "cox_pain_free": f"{cond}; population: all episodes with complete covariates (clock "
                         "from the first visit)",
        "cox_reinjury": f"{cond}; {subset}",
        "rmst": (f"difference in restricted mean weeks to tau = {cfg.tau:g} from unadjusted "
                 "Kaplan–Meier curves (marginal under randomisation; crude with observational "
                 "data); population: all episodes"),
        "state_occupation": ("difference in unadjusted Aalen–Johansen state-occupation "
                             "probabilities (marginal under randomisation; crude with "
                             "observational data); population: all episodes from the first visit"),
    }
    if cfg.adjust == "iptw":
        pcovs = ", ".join(cfg.propensity_covariates)
        weights = (f"IPTW: stabilised weights from a multinomial propensity model of {pcovs}"
                   + (f", truncated at percentiles {list(cfg.truncate_weights)}"
                      if cfg.truncate_weights else ""))
        out.update({
            "iptw_cox_pain_free": (f"marginal hazard ratio ({weights}; weighted Cox model of arm "
                                   "only, unstratified, robust SE by episode); population: all "
                                   "episodes"),
            "iptw_cox_reinjury": (f"marginal hazard ratio ({weights}, the baseline weights; "
                                  "weighted Cox model of arm only, robust SE by episode); "
                                  f"{subset}, where the baseline weights need not balance the "
                                  "arms (balance_pairs.csv, population pain_free)"),
            "iptw_rmst": (f"difference in restricted mean weeks to tau = {cfg.tau:g} from "
                          f"weighted Kaplan–Meier curves ({weights}; robust IJ SE); marginal; "
                          "population: all episodes"),
            "iptw_state_occupation": (f"difference in weighted Aalen–Johansen state-occupation "
                                      f"probabilities ({weights}; IJ SE); marginal; population: "
                                      "all episodes from the first visit"),
        })
    return out


def run_analysis(
    episodes: pd.DataFrame,
    config: AnalysisConfig | None = None,
    visits: pd.DataFrame | None = None,
    provenance: dict[str, Any] | None = None,
    *,
    run_config: dict[str, Any] | None = None,
    sessions: pd.DataFrame | None = None,
    policy_truth: pd.DataFrame | None = None,
) -> AnalysisResult:
    """Analyse validated episodes (and optional visits) with the settings of ``config``.

    With ``sessions`` (a validated training log) the time-varying tables of
    :data:`SESSION_TABLES` and ``tv_reinjury.parquet`` are added and claims 4–6 are tested
    (joining the Holm family); ``policy_truth`` (a simulator's ``policy_truth.csv``) is shown
    beside claim 4 as model-based. Without sessions the analysis is unchanged.

    ``provenance`` (input hashes and masked names) and ``run_config`` (the merged config of the
    workflow run) are recorded in the summary as given.
    """

    cfg = config or AnalysisConfig()
    df = derive_outcomes(episodes)
    missing = [c for c in (*cfg.covariates, *(cfg.propensity_covariates if cfg.adjust == "iptw" else ()))
               if c not in df.columns]
    if missing:
        raise AnalysisError(f"covariate(s) not in the data: {', '.join(missing)}")
    strata_col, strata_note = _strata(df, cfg)
    estimands = _estimands(cfg, strata_col)
    res = AnalysisResult()
    run = _Runner(res)
    t = res.tables

    kms: dict[str, Any] = {}
    coxes: dict[str, Any] = {}
    for outcome, (dur, ev, _label) in OUTCOMES.items():
        km = run(f"kaplan_meier:{outcome}", lambda d=dur, e=ev, o=outcome: KaplanMeier(
            cfg.conf_type, cfg.alpha).fit(df, d, e, "arm", outcome=o))
        kms[outcome] = km
        t[f"km_{outcome}"] = km.table_ if km is not None else _empty(KM_COLUMNS)
    t["km_summary"] = pd.concat([kms[o].summary for o in OUTCOMES if kms[o] is not None]
                                or [_empty(KM_SUMMARY_COLUMNS)], ignore_index=True)

    lr = [run(f"logrank:{o}", lambda d=d, e=e, o=o: logrank_table(df, d, e, "arm", "site", outcome=o))
          for o, (d, e, _) in OUTCOMES.items()]
    t["logrank"] = pd.concat([x for x in lr if x is not None] or [_empty(LOGRANK_COLUMNS)],
                             ignore_index=True)

    zph = []
    n_clusters = int(df[cfg.cluster].nunique()) if cfg.cluster else 0
    for outcome, (dur, ev, _label) in OUTCOMES.items():
        fitted = run(f"cox:{outcome}", lambda d=dur, e=ev, o=outcome: _fit_cox(
            cfg, df=df, duration_col=d, event_col=e, covariates=cfg.covariates,
            strata_col=strata_col, cluster_col=cfg.cluster, outcome=o))
        fit = fitted[0] if fitted is not None else None
        coxes[outcome] = fit
        t[f"cox_{outcome}"] = fitted[1] if fitted is not None else _empty(COX_COLUMNS)
        if fit is not None:
            zph.append(run(f"ph_check:{outcome}", lambda f=fit: cox_zph(f)))
        else:
            res.problems.append({"piece": f"ph_check:{outcome}",
                                 "reason": f"no Cox model of {outcome} to check (see cox:{outcome})"})
    t["ph_check"] = pd.concat([z for z in zph if z is not None] or [_empty(ZPH_COLUMNS)],
                              ignore_index=True)
    se_used = {o: (coxes[o].ci_se_, coxes[o].n_clusters_) if coxes[o] is not None
               else (ci_se_rule(n_clusters if cfg.cluster else None, cfg.min_clusters), n_clusters)
               for o in OUTCOMES}
    few = sorted({k for o, (se, k) in se_used.items() if cfg.cluster and se == "model"})
    if few:
        msg = (f"robust SE clustered by {cfg.cluster} is reported, but confidence intervals and "
               f"p-values use the model-based SE: {', '.join(map(str, few))} clusters are too "
               f"few for a reliable sandwich estimate (min_clusters = {cfg.min_clusters})")
        log.warning("cox: %s", msg)
        res.warnings.append({"piece": "cox", "warning": msg})

    rm = [run(f"rmst:{o}", lambda d=d, e=e, o=o: rmst_table(
        df, d, e, "arm", tau=cfg.tau, alpha=cfg.alpha, outcome=o, beyond_follow_up="refuse"))
          for o, (d, e, _) in OUTCOMES.items()]
    t["rmst"] = pd.concat([x for x in rm if x is not None] or [_empty(RMST_COLUMNS)], ignore_index=True)
    ci = run("cumulative_incidence:reinjury", lambda: cumulative_incidence(
        df, "reinjury_weeks", "reinjury_event", "arm", conf_type=cfg.conf_type, alpha=cfg.alpha))
    t["cuminc_reinjury"] = ci if ci is not None else _empty(CUMINC_COLUMNS)

    weeks = sorted({*(float(m) for m in cfg.milestones), CLAIM1_WEEK})
    aj = run("state_occupation", lambda: AalenJohansen(weeks, cfg.conf_type, cfg.alpha).fit(
        episodes))
    t["state_occupation"] = aj.state_occupation_ if aj is not None else _empty(STATE_COLUMNS)

    iptw_info = _iptw(episodes, df, cfg, run, t, weeks) if cfg.adjust == "iptw" else None

    traj_summary = None
    if visits is not None and len(visits):
        traj_summary = _trajectories(visits, episodes, cfg, run, t)

    session_src = session_info = None
    if sessions is not None:
        session_src, session_info = _sessions(episodes, sessions, policy_truth, cfg, run, t, res)

    prefix = "iptw_" if cfg.adjust == "iptw" else ""

    def source(name: str) -> ClaimSource:
        return ClaimSource(t[prefix + name], prefix + name, estimands[prefix + name])

    claims = run("claims", lambda: evaluate_claims(
        source("cox_pain_free"), source("cox_reinjury"), source("rmst"),
        source("state_occupation"), alpha=cfg.alpha, margins=cfg.margins(),
        visits=traj_summary is not None and traj_summary.get("fitted", False),
        sessions=session_src))
    t["claims"] = claims if claims is not None else _empty(CLAIM_COLUMNS)
    family = claims[claims["family"] == FAMILY_NAME] if claims is not None else claims

    res.summary = {
        "package_version": __version__,
        "provenance": provenance or {},
        "run_config": run_config,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "n_episodes": int(len(df)),
        "n_by_arm": {str(a): int(n) for a, n in df["arm"].value_counts().reindex(ARMS).fillna(0).items()},
        "strata": {"column": strata_col, "note": strata_note},
        "outcomes": {
            o: {
                "n_analysed": int(coxes[o].n_) if coxes[o] is not None else None,
                "events": int(coxes[o].n_events_) if coxes[o] is not None else None,
                "dropped_missing_covariates": int(coxes[o].n_dropped_) if coxes[o] is not None else None,
                "strata": strata_col,
                "robust_se_clustered_by": cfg.cluster,
                "clusters": se_used[o][1],
                "ci_and_p_use": f"{se_used[o][0]} SE",
                "estimand": estimands[f"cox_{o}"],
            }
            for o in OUTCOMES
        },
        "missing_covariate_rule": "complete cases: episodes with a missing covariate of the Cox model "
                                  "are left out of that model only, and counted here",
        "reference_arm": REFERENCE_ARM,
        "estimands": {name: text for name, text in estimands.items() if name in t},
        "state_occupation": {
            "weeks": weeks,
            "states": list(multistate.STATES),
            "episodes_without_follow_up": int(aj.n_no_follow_up_) if aj is not None else None,
        },
        "claims_use": (
            "the IPTW-weighted tables (iptw_cox_*, iptw_rmst, iptw_state_occupation)"
            if cfg.adjust == "iptw" else
            "the unweighted tables (cox_*, rmst, state_occupation)"),
        "claims_family": {
            "family": FAMILY_NAME,
            "adjustment": "Holm",
            "alpha": cfg.alpha,
            "tests": list(family["claim_id"]) if family is not None else [],
            "margins": asdict(cfg.margins()),
            "rules": "docs/claims.md",
        },
        "claims": claims_to_json(t["claims"]) if claims is not None else [],
        "problems": res.problems,
        "warnings": res.warnings,
        "tables": sorted(t),
    }
    if iptw_info is not None:
        res.summary["iptw"] = iptw_info
    if traj_summary is not None:
        res.summary["trajectories"] = traj_summary
    if session_info is not None:
        res.summary["sessions"] = session_info
        res.summary["estimands"].update(session_info["estimands"])
    return res


def _policy_note(truth: pd.DataFrame | None) -> tuple[str, dict[str, Any] | None]:
    """The model-based policy contrast shown beside claim 4 (simulated data only)."""
    if truth is None or "policy" not in truth.columns:
        return "", None
    rows = truth.set_index("policy")
    off = [p for p in rows.index if str(p) == "next-day rule off"]
    nat = [p for p in rows.index if str(p).startswith("natural course")]
    if not off:
        return "", None
    r = rows.loc[off[0]]
    out = {"contrast": "next-day rule off vs reference (rule followed), re-injury among the "
                       "pain-free, marginal Cox HR (policy simulation, common random numbers)",
           "reinjury_log_hr": float(r["reinjury_log_hr"]),
           "reinjury_log_hr_mc_se": float(r["reinjury_log_hr_mc_se"])}
    if nat:
        out["natural_course_reinjury_log_hr"] = float(rows.loc[nat[0], "reinjury_log_hr"])
    note = (f" Model-based (policy simulation, not observational): turning the next-day rule "
            f"off gives a re-injury HR of {_fmt_hr(out['reinjury_log_hr'])} against following "
            "the rule.")
    return note, out


def _fmt_hr(log_hr: float) -> str:
    return f"{np.exp(log_hr):.2f}"


def _sessions(episodes: pd.DataFrame, sessions: pd.DataFrame, truth: pd.DataFrame | None,
              cfg: AnalysisConfig, run: _Runner, t: dict[str, pd.DataFrame],
              res: AnalysisResult) -> tuple[ClaimSource | Any, dict[str, Any]]:
    """Weekly exposures, adherence to the pain rule, the counting-process table, naive
    time-varying Cox and the MSM."""
    from rehab_outcomes.survival import tv_analysis as tv
    from rehab_outcomes.survival.claims import SessionSources
    from rehab_outcomes.survival.exposures import weekly_exposures

    weekly = run("weekly_exposures", lambda: weekly_exposures(sessions, episodes))
    t["weekly_exposures"] = weekly if weekly is not None else _empty(SESSION_TABLES["weekly_exposures"])
    adherence = run("adherence", lambda: tv.adherence_table(episodes, weekly)
                    ) if weekly is not None else None
    t["adherence"] = adherence if adherence is not None else _empty(SESSION_TABLES["adherence"])
    counting = run("tv_reinjury", lambda: tv.reinjury_counting_table(episodes, weekly)
                   ) if weekly is not None else None
    if counting is not None:
        res.parquet["tv_reinjury"] = counting
    fit = run("tv_cox_reinjury", lambda: tv.naive_tv_cox(
        counting, alpha=cfg.alpha, min_clusters=cfg.min_clusters)) if counting is not None else None
    t["tv_cox_reinjury"] = _cox_table(fit) if fit is not None else _empty(COX_COLUMNS)
    cad = run("tv_cox_cadence", lambda: tv.cadence_tv_cox(
        counting, alpha=cfg.alpha, min_clusters=cfg.min_clusters)) if counting is not None else None
    t["tv_cox_cadence"] = _cox_table(cad) if cad is not None else _empty(COX_COLUMNS)
    msm = run("msm_rule", lambda: tv.msm_rule(episodes, weekly, counting, alpha=cfg.alpha)
              ) if counting is not None else None
    t["msm_rule"] = msm[0] if msm is not None else _empty(SESSION_TABLES["msm_rule"])
    note, truth_info = _policy_note(truth)
    estimands = {
        "tv_cox_reinjury": ("conditional hazard ratios of re-injury per unit of each weekly "
                            "exposure lagged one week (run change per 10 min, strength sessions, "
                            "rule breaks so far), time-varying Cox, stratified by site, robust SE "
                            "by episode; population: episodes that became pain-free (clock from "
                            "the pain-free date), followed while they logged; observational"),
        "tv_cox_cadence": ("as tv_cox_reinjury with the cadence change from the first logged "
                           "cadence per 5 spm added; population: the weeks with a logged cadence "
                           "change (runners who log cadence); observational"),
        "msm_rule": ("marginal structural model: hazard ratio of re-injury per rule-breaking "
                     "step up so far (lagged one week), weighted Cox with stabilised inverse "
                     "probability of adherence weights (truncated at the 1st/99th percentiles) "
                     "and the numerator's baseline covariates, robust SE by episode; population: "
                     "strength + graded running episodes that became pain-free; observational"),
    }
    info: dict[str, Any] = {
        "n_sessions": int(len(sessions)),
        "weeks": int(len(weekly)) if weekly is not None else 0,
        "counting_rows": int(len(counting)) if counting is not None else 0,
        "follow_up_ends_with_log": (counting.attrs.get("follow_up_ends_with_log")
                                    if counting is not None else None),
        "primary_load_exposure": "run_change (week-to-week change in running minutes)",
        "adherence": (f"{tv.GRADED_ARM} episodes per site and all sites: logged weeks with a "
                      "run, weeks at risk of a rule break (a run after a rule signal) and those "
                      "with a rule break; descriptive, exact counts (docs/analysis.md)"),
        "msm": msm[1] if msm is not None else None,
        "policy_truth": truth_info,
        "estimands": estimands,
    }
    src = SessionSources(t["msm_rule"], t["tv_cox_reinjury"], estimands, note,
                         tv_cox_cadence=t["tv_cox_cadence"])
    return src, info


def _balance_pairs(pm: Any, pain_free: np.ndarray) -> pd.DataFrame:
    """Balance of every pair of arms in all episodes and among the pain-free (the re-injury
    analyses), with a warning naming each comparison that fails (|SMD| > 0.1 after weighting)."""
    out = pd.concat([pm.balance_pairs(None, "all"), pm.balance_pairs(pain_free, "pain_free")],
                    ignore_index=True)[BALANCE_PAIRS_COLUMNS]
    bad = out[out["imbalanced_after"]]
    if len(bad):
        shown = [f"{r.population}: {r.term}, {r.arm} vs {r.vs_arm} ({r.smd_after:+.3f})"
                 for r in bad.head(8).itertuples(index=False)]
        more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
        warnings.warn(
            f"IPTW balance fails (|SMD| > {SMD_THRESHOLD:g} after weighting) in {len(bad)} "
            f"comparison(s): {'; '.join(shown)}{more}. Population pain_free is the subset of the "
            "re-injury analyses, which the baseline weights were not built to balance.",
            StatisticalWarning,
            stacklevel=2,
        )
    return out


def _iptw(episodes: pd.DataFrame, df: pd.DataFrame, cfg: AnalysisConfig, run: _Runner,
          t: dict[str, pd.DataFrame], weeks: list[float]) -> dict[str, Any] | None:
    """Propensity model, stabilised weights, balance, and the weighted analyses the claims use:
    weighted KM, weighted Cox (arm only), weighted RMST, weighted state occupation."""
    from rehab_outcomes.survival.iptw import PropensityModel

    pm = run("propensity", lambda: PropensityModel(list(cfg.propensity_covariates),
                                                   truncate=cfg.truncate_weights).fit(df))
    if pm is None:
        t.update({k: _empty(v) for k, v in IPTW_TABLES.items()})
        return None
    t["balance"] = pm.balance_[BALANCE_COLUMNS]
    pain_free = (pd.to_numeric(df["pain_free_event"], errors="coerce") == 1).to_numpy()
    pairs = run("balance_pairs", lambda: _balance_pairs(pm, pain_free))
    t["balance_pairs"] = pairs if pairs is not None else _empty(BALANCE_PAIRS_COLUMNS)
    w = df.assign(iptw=pm.weights_.to_numpy())
    fits: dict[str, Any] = {}
    for outcome, (dur, ev, _label) in OUTCOMES.items():
        km = run(f"iptw_kaplan_meier:{outcome}", lambda d=dur, e=ev, o=outcome: KaplanMeier(
            cfg.conf_type, cfg.alpha).fit(w, d, e, "arm", weights_col="iptw", outcome=o))
        t[f"iptw_km_{outcome}"] = km.table_ if km is not None else _empty(KM_COLUMNS)
        fitted = run(f"iptw_cox:{outcome}", lambda d=dur, e=ev, o=outcome: _fit_cox(
            cfg, df=w, duration_col=d, event_col=e, covariates=("arm",),
            weights_col="iptw", cluster_col="episode_id", outcome=o))
        fits[outcome] = fitted[0] if fitted is not None else None
        t[f"iptw_cox_{outcome}"] = fitted[1] if fitted is not None else _empty(COX_COLUMNS)
    rm = [run(f"iptw_rmst:{o}", lambda d=d, e=e, o=o: rmst_table(
        w, d, e, "arm", tau=cfg.tau, weights_col="iptw", alpha=cfg.alpha, outcome=o,
        beyond_follow_up="refuse"))
        for o, (d, e, _) in OUTCOMES.items()]
    t["iptw_rmst"] = pd.concat([x for x in rm if x is not None] or [_empty(RMST_COLUMNS)],
                               ignore_index=True)
    aj = run("iptw_state_occupation", lambda: AalenJohansen(weeks, cfg.conf_type, cfg.alpha).fit(
        episodes.assign(iptw=pm.weights_.to_numpy()), weights_col="iptw"))
    t["iptw_state_occupation"] = aj.state_occupation_ if aj is not None else _empty(STATE_COLUMNS)
    pairs_after = t["balance_pairs"]
    return {
        "weights": "stabilised inverse probability of the arm received"
                   + (f", truncated at percentiles {list(cfg.truncate_weights)}"
                      if cfg.truncate_weights else ""),
        "max_weight": float(pm.weights_.max()),
        "effective_sample_size": {str(a): float(v) for a, v in pm.effective_sample_size_.items()},
        "ci_and_p_use": {o: (f"{f.ci_se_} SE" if f is not None else None) for o, f in fits.items()},
        "balance_fails": [
            {"population": r.population, "term": r.term, "arm": r.arm, "vs_arm": r.vs_arm,
             "smd_after": float(r.smd_after)}
            for r in pairs_after[pairs_after["imbalanced_after"].astype(bool)].itertuples(index=False)
        ],
        "smd_threshold": SMD_THRESHOLD,
    }


def _trajectories(visits: pd.DataFrame, episodes: pd.DataFrame, cfg: AnalysisConfig,
                  run: _Runner, t: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Fit the pain-trajectory mixed model and add its tables; the summary entry."""
    from rehab_outcomes.survival.trajectories import PainTrajectoryModel

    model = run("pain_trajectories", lambda: PainTrajectoryModel(alpha=cfg.alpha).fit(
        visits, episodes))
    if model is None:
        t.update({k: _empty(v) for k, v in VISIT_TABLES.items()})
        return {"outcome": PAIN_LABEL, "fitted": False}
    tables = model.tables()
    for name, cols in VISIT_TABLES.items():
        t[name] = tables[name][cols].reset_index(drop=True)
    spline = getattr(model, "spline_", None)
    return {
        "fitted": True,
        "outcome": PAIN_LABEL,
        "model": ("linear mixed model (REML) of pain on a natural spline of weeks since the first "
                  "visit by arm, random intercept and slope per episode; lme4's vcov"),
        "spline_df": model.spline_df,
        "knots": [float(k) for k in spline.knots_] if spline is not None else None,
        "boundary_knots": [float(k) for k in spline.boundary_knots_] if spline is not None else None,
        "n_episodes": int(model.n_episodes_),
        "n_visits": int(model.n_visits_),
        "converged": bool(model.converged_),
        "boundary": bool(model.boundary_),
        "calibration": claims_to_json(model.calibration_),
        "informative_dropout": (
            "Runners leave care when they recover, so later visits come from those still in "
            "pain: the model's mean describes each arm under missing at random, the observed "
            "weekly means describe those still attending (trajectories_by_pattern.csv splits "
            "them by follow-up length). Claim 4 is not assessable from visit pain."),
    }
