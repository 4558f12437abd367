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
from rehab_outcomes.exceptions import AnalysisError, ConfigError
from rehab_outcomes.outputs import AtomicOutputs, write_csv, write_json
from rehab_outcomes.survival import claims, cox, cuminc, km, logrank, rmst, zph
from rehab_outcomes.survival.claims import claims_to_json, evaluate_claims
from rehab_outcomes.survival.cox import CoxPH
from rehab_outcomes.survival.cuminc import cumulative_incidence
from rehab_outcomes.survival.km import KaplanMeier
from rehab_outcomes.survival.logrank import logrank_table
from rehab_outcomes.survival.rmst import rmst_table
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
BALANCE_COLUMNS = ["term", "arm", "smd_before", "smd_after", "imbalanced_before", "imbalanced_after"]
TRAJ_COLUMNS = ["term", "coef", "se", "lower", "upper", "p"]
CLAIM_COLUMNS = claims.COLUMNS

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
    "claims": CLAIM_COLUMNS,
}
IPTW_TABLES: dict[str, list[str]] = {
    "balance": BALANCE_COLUMNS,
    "iptw_km_pain_free": KM_COLUMNS,
    "iptw_km_reinjury": KM_COLUMNS,
    "iptw_cox_pain_free": COX_COLUMNS,
    "iptw_cox_reinjury": COX_COLUMNS,
}
VISIT_TABLES: dict[str, list[str]] = {
    "trajectories": TRAJ_COLUMNS,
    "trajectories_predicted": ["arm", "week", "pain_nrs", "lower", "upper"],
    "trajectories_observed": ["arm", "week", "pain_nrs", "n"],
}
#: Every file ``analyse`` may write: a run removes those of an earlier run it did not write.
MANAGED_OUTPUTS: tuple[str, ...] = (
    *(f"{name}.csv" for name in (*TABLES, *IPTW_TABLES, *VISIT_TABLES)),
    "summary.json",
)
#: Numerical failures of a fitter on degenerate data: recorded as problems of that piece.
NUMERICAL_ERRORS: tuple[type[BaseException], ...] = (
    np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError, OverflowError, ValueError,
)


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of :func:`run_analysis` (all have defaults; a YAML file may override them)."""

    covariates: tuple[str, ...] = DEFAULT_COVARIATES
    cluster: str | None = "site"
    min_clusters: int = 30
    strata: str | None = None
    tau: float = 26.0
    conf_type: Literal["log", "log-log", "plain"] = "log"
    alpha: float = 0.05
    adjust: Literal["none", "iptw"] = "none"
    propensity_covariates: tuple[str, ...] = DEFAULT_PROPENSITY_COVARIATES
    truncate_weights: tuple[float, float] | None = None

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
        for key in ("covariates", "propensity_covariates", "truncate_weights"):
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

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``<table>.csv`` for every table and ``summary.json`` atomically; returns the paths.

        Files go to a temporary folder beside ``out_dir`` and are moved into place together
        (:class:`~rehab_outcomes.outputs.AtomicOutputs`); a table an earlier run wrote but this
        run did not (e.g. ``trajectories.csv`` of a run with visits) is removed. Text cells are
        made formula-safe; numbers are written as before (``%.10g``).
        """
        out = Path(out_dir)
        names = [f"{name}.csv" for name in self.tables] + ["summary.json"]
        with AtomicOutputs(out, managed=MANAGED_OUTPUTS) as tmp:
            for name, df in self.tables.items():
                write_csv(df, tmp / f"{name}.csv", float_format="%.10g")
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


def _fit_cox(ci_se: str | None = None, **fit_args: Any) -> tuple[CoxPH, pd.DataFrame]:
    """Fit a Cox model and tabulate it in one piece (the summary's warnings count for it too)."""
    alpha = fit_args.pop("alpha")
    fit = CoxPH(alpha=alpha).fit(**fit_args)
    if ci_se is not None:
        fit.ci_se_ = ci_se
    return fit, _cox_table(fit)


def run_analysis(
    episodes: pd.DataFrame,
    config: AnalysisConfig | None = None,
    visits: pd.DataFrame | None = None,
    provenance: dict[str, Any] | None = None,
    *,
    run_config: dict[str, Any] | None = None,
) -> AnalysisResult:
    """Analyse validated episodes (and optional visits) with the settings of ``config``.

    ``provenance`` (input hashes and masked names) and ``run_config`` (the merged config of the
    workflow run) are recorded in the summary as given.
    """

    cfg = config or AnalysisConfig()
    df = derive_outcomes(episodes)
    missing = [c for c in (*cfg.covariates, *(cfg.propensity_covariates if cfg.adjust == "iptw" else ()))
               if c not in df.columns]
    if missing:
        raise AnalysisError(f"covariate(s) not in the data: {', '.join(missing)}")
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
    ci_se = "robust" if cfg.cluster and n_clusters >= cfg.min_clusters else "model"
    if cfg.cluster and ci_se == "model":
        msg = (f"robust SE clustered by {cfg.cluster} is reported, but confidence intervals and "
               f"p-values use the model-based SE: {n_clusters} clusters are too few for a reliable "
               f"sandwich estimate (min_clusters = {cfg.min_clusters})")
        log.warning("cox: %s", msg)
        res.warnings.append({"piece": "cox", "warning": msg})
    for outcome, (dur, ev, _label) in OUTCOMES.items():
        fitted = run(f"cox:{outcome}", lambda d=dur, e=ev, o=outcome: _fit_cox(
            ci_se, alpha=cfg.alpha, df=df, duration_col=d, event_col=e, covariates=cfg.covariates,
            strata_col=cfg.strata, cluster_col=cfg.cluster, outcome=o))
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

    rm = [run(f"rmst:{o}", lambda d=d, e=e, o=o: rmst_table(df, d, e, "arm", tau=cfg.tau,
                                                           alpha=cfg.alpha, outcome=o))
          for o, (d, e, _) in OUTCOMES.items()]
    t["rmst"] = pd.concat([x for x in rm if x is not None] or [_empty(RMST_COLUMNS)], ignore_index=True)
    ci = run("cumulative_incidence:reinjury", lambda: cumulative_incidence(
        df, "reinjury_weeks", "reinjury_event", "arm", conf_type=cfg.conf_type, alpha=cfg.alpha))
    t["cuminc_reinjury"] = ci if ci is not None else _empty(CUMINC_COLUMNS)

    if cfg.adjust == "iptw":
        _iptw(df, cfg, run, t)

    traj_model = None
    if visits is not None and len(visits):
        from rehab_outcomes.survival.trajectories import PainTrajectoryModel

        traj_model = run("pain_trajectories", lambda: PainTrajectoryModel(alpha=cfg.alpha).fit(
            visits, episodes))
        if traj_model is not None:
            t["trajectories"] = traj_model.summary[TRAJ_COLUMNS]
            t["trajectories_predicted"] = traj_model.predicted_
            t["trajectories_observed"] = traj_model.observed_means_
        else:
            t.update({k: _empty(v) for k, v in VISIT_TABLES.items()})

    claims = run("claims", lambda: evaluate_claims(
        t["cox_pain_free"], t["cox_reinjury"], t["rmst"], t["km_summary"],
        trajectories=t.get("trajectories") if traj_model is not None else None, alpha=cfg.alpha))
    t["claims"] = claims if claims is not None else _empty(CLAIM_COLUMNS)

    res.summary = {
        "package_version": __version__,
        "provenance": provenance or {},
        "run_config": run_config,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "n_episodes": int(len(df)),
        "n_by_arm": {str(a): int(n) for a, n in df["arm"].value_counts().reindex(ARMS).fillna(0).items()},
        "outcomes": {
            o: {
                "n_analysed": int(coxes[o].n_) if coxes[o] is not None else None,
                "events": int(coxes[o].n_events_) if coxes[o] is not None else None,
                "dropped_missing_covariates": int(coxes[o].n_dropped_) if coxes[o] is not None else None,
                "robust_se_clustered_by": cfg.cluster,
                "clusters": n_clusters,
                "ci_and_p_use": f"{ci_se} SE",
            }
            for o in OUTCOMES
        },
        "missing_covariate_rule": "complete cases: episodes with a missing covariate of the Cox model "
                                  "are left out of that model only, and counted here",
        "reference_arm": REFERENCE_ARM,
        "claims": claims_to_json(t["claims"]) if claims is not None else [],
        "problems": res.problems,
        "warnings": res.warnings,
        "tables": sorted(t),
    }
    return res


def _iptw(df: pd.DataFrame, cfg: AnalysisConfig, run: _Runner, t: dict[str, pd.DataFrame]) -> None:
    """Propensity model, stabilised weights, balance, weighted KM and weighted Cox (arm only)."""
    from rehab_outcomes.survival.iptw import PropensityModel

    pm = run("propensity", lambda: PropensityModel(list(cfg.propensity_covariates),
                                                   truncate=cfg.truncate_weights).fit(df))
    if pm is None:
        t.update({k: _empty(v) for k, v in IPTW_TABLES.items()})
        return
    t["balance"] = pm.balance_[BALANCE_COLUMNS]
    w = df.assign(iptw=pm.weights_.to_numpy())
    for outcome, (dur, ev, _label) in OUTCOMES.items():
        km = run(f"iptw_kaplan_meier:{outcome}", lambda d=dur, e=ev, o=outcome: KaplanMeier(
            cfg.conf_type, cfg.alpha).fit(w, d, e, "arm", weights_col="iptw", outcome=o))
        t[f"iptw_km_{outcome}"] = km.table_ if km is not None else _empty(KM_COLUMNS)
        fitted = run(f"iptw_cox:{outcome}", lambda d=dur, e=ev, o=outcome: _fit_cox(
            alpha=cfg.alpha, df=w, duration_col=d, event_col=e, covariates=("arm",),
            weights_col="iptw", cluster_col="episode_id", outcome=o))
        t[f"iptw_cox_{outcome}"] = fitted[1] if fitted is not None else _empty(COX_COLUMNS)
