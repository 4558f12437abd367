"""The clinic outcome dashboard: a folder of self-contained HTML pages for clinic managers.

:func:`build_dashboard` composes, from the validated episodes, ``validation.json`` and the
folder written by ``rehab-outcomes analyse``:

- ``index.html``: the bottom line (read from the analysis' ``claims.csv`` and
  ``summary.json``, never recomputed), headline cards with 95 % intervals, Kaplan–Meier curves
  of time to pain-free running and of re-injury, the fair site comparison (observed against
  case-mix expected, :mod:`rehab_outcomes.survival.casemix`), the claims, data quality and
  provenance;
- ``site-<slug>.html``: one page per site, its cards and curves beside the network's;
- ``data/<name>.csv``: every table and curve exactly as shown.

Statistics come from the analysis packages (:mod:`rehab_outcomes.survival.km`,
:mod:`~rehab_outcomes.survival.casemix`); every published count, and every count a rate or
number at risk reveals, passes :class:`~rehab_outcomes.reporting.suppression.CountSystem`,
whose linear-programming audit runs at build time: a page that fails is not written. Pages are
Jinja2 templates (autoescaped) with the CSS of ``static/dashboard.css`` inlined; charts are
inline SVG from :mod:`~rehab_outcomes.reporting.svg`; no page has a script or makes a request.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import unicodedata
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from rehab_outcomes.contract import ARMS, derive_outcomes
from rehab_outcomes.exceptions import ConfigError, InputRefusedError
from rehab_outcomes.reporting import style
from rehab_outcomes.reporting.suppression import (
    LATENT,
    RATE,
    SHOWN,
    TABLE,
    CountSystem,
    DisclosureError,
    coarsen_steps,
    format_count,
)
from rehab_outcomes.reporting.svg import Curve, FunnelPoint, step_chart

__all__ = [
    "AnalysisOutputs",
    "build_dashboard",
    "load_validation",
    "plain_rule",
    "run_date_text",
    "site_slug",
]

PAIN_FREE_WEEKS: Final = 12.0
DEFAULT_TAU: Final = 26.0
TICK_STEP: Final = 13.0
NOT_SHOWN: Final = "—"
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec")
#: Files of the dashboard folder this command writes (and cleans).
MANAGED: Final = ("index.html", "site-*.html", "data")

NET: Final = "__network__"
ALL: Final = "all"


# ----------------------------------------------------------------------------------------------
# the analysis outputs


@dataclass(frozen=True)
class AnalysisOutputs:
    """What the dashboard reads from ``rehab-outcomes analyse``'s folder (never recomputed)."""

    claims: pd.DataFrame
    summary: dict[str, Any]
    km_summary: pd.DataFrame
    rmst: pd.DataFrame
    hashes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: str | Path) -> AnalysisOutputs:
        """Read ``claims.csv``, ``summary.json``, ``km_summary.csv`` and ``rmst.csv``.

        Extra columns (``p``, ``p_adjusted``, ``family``, ``estimand``) and new verdicts are
        accepted; a missing ``claims.csv`` or ``summary.json`` is refused in one line.
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
        return cls(claims=claims, summary=summary, km_summary=tables["km_summary"],
                   rmst=tables["rmst"], hashes=hashes)

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
# formatting


def _pct(p: float | None, digits: int = 1) -> str:
    return NOT_SHOWN if p is None else f"{100.0 * p:.{digits}f}%"


def _ci_pct(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return ""
    return f"95 % CI {100 * lo:.1f} to {100 * hi:.1f}%"


def _weeks(v: float | None) -> str:
    return NOT_SHOWN if v is None else f"{v:.1f} weeks"


def _two(x: float) -> str:
    return f"{x:.2f}"


def _month_year(ts: pd.Timestamp) -> str:
    return f"{_MONTHS[ts.month - 1]} {ts.year}"


_RULE_TEXT: Final = {
    "less_than_or_equal_to": "above the allowed maximum",
    "less_than": "above the allowed maximum",
    "greater_than_or_equal_to": "below the allowed minimum",
    "greater_than": "below the allowed minimum",
    "in_range": "outside the allowed range",
    "isin": "not one of the allowed values",
    "field_uniqueness": "appears more than once",
    "unique": "appears more than once",
    "not_nullable": "missing",
    "pattern": "wrong format",
    "not_identifying": "looks like identifying data",
    "not_in_future": "date in the future",
    "str_length": "wrong length",
    "type": "could not be read",
    "pain_free_on_or_after_first_visit": "pain-free date before the first visit",
    "reinjury_requires_pain_free": "re-injury date without a pain-free date",
    "reinjury_after_pain_free": "re-injury not after the pain-free date",
    "last_contact_not_before_other_dates": "last contact before another date",
}


def plain_rule(rule: str) -> str:
    """Plain-language text of a validation rule id such as ``age_years:less_than_or_equal_to(90)``.

    Examples
    --------
    >>> plain_rule("age_years:less_than_or_equal_to(90)")
    'age years: above the allowed maximum'
    """
    column, _, check = rule.partition(":")
    check = re.sub(r"\(.*\)$", "", check)
    key = check.split(":")[0]
    text = _RULE_TEXT.get(key) or re.sub(r"[\d_]+", " ", check).strip() or "other rule"
    return f"{column.replace('_', ' ')}: {text}"


def site_slug(name: str, taken: set[str] | None = None) -> str:
    """A file-name-safe slug of a site name (ASCII letters, digits and hyphens), unique in ``taken``.

    >>> site_slug("St. Mary's – Nord"), site_slug("../../etc"), site_slug("東京")
    ('st-mary-s-nord', 'etc', 'site')
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-") or "site"
    if taken is None:
        return slug
    base, k = slug, 2
    while slug in taken:
        slug = f"{base}-{k}"
        k += 1
    taken.add(slug)
    return slug


def _flatten_config(config: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key in sorted(config, key=str):
        value = config[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            items.extend(_flatten_config(value, f"{name}."))
        else:
            items.append((name, json.dumps(value, sort_keys=True, default=str)))
    return items


# ----------------------------------------------------------------------------------------------
# Kaplan–Meier by group (the package's product-limit estimate and R's confidence intervals)


@dataclass(frozen=True)
class KMCurve:
    """One group's Kaplan–Meier curve (arrays of :func:`rehab_outcomes.survival.km.km_arrays`)."""

    n: int
    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    surv: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def _idx(self, t: float) -> int:
        return int(np.searchsorted(self.time, t, side="right")) - 1

    def share(self, t: float) -> tuple[float, float, float]:
        """``1 - S(t)`` with its interval (from the survival interval)."""
        i = self._idx(t)
        if i < 0:
            return 0.0, 0.0, 0.0
        return (float(1 - self.surv[i]), float(1 - self.upper[i]), float(1 - self.lower[i]))

    def events_by(self, t: float) -> int:
        return int(round(self.n_event[self.time <= t].sum()))

    def at_risk(self, t: float) -> int:
        i = int(np.searchsorted(self.time, t, side="left"))
        return int(round(self.n_risk[i])) if i < self.time.size else 0

    def median(self) -> tuple[float | None, float | None, float | None]:
        """Median with its interval by R's rule (as the analysis' ``km_summary``)."""
        from rehab_outcomes.survival.km import first_below_half

        vals = [first_below_half(a, self.time) for a in (self.surv, self.lower, self.upper)]
        out = [None if not math.isfinite(v) else float(v) for v in vals]
        return out[0], out[1], out[2]

    def horizon(self, threshold: int) -> float:
        """Last time at which at least ``threshold`` people are at risk (``nan`` if never)."""
        ok = self.n_risk >= threshold
        return float(self.time[ok][-1]) if ok.any() else float("nan")


def _km_groups(time: np.ndarray, event: np.ndarray, codes: np.ndarray, n_groups: int,
               conf_type: str, alpha: float) -> list[KMCurve | None]:
    from rehab_outcomes.survival.km import confint, km_arrays

    ok = np.isfinite(time) & (codes >= 0)
    t, e, c = time[ok], event[ok].astype(float), codes[ok]
    order = np.argsort(c, kind="stable")
    bounds = np.searchsorted(c[order], np.arange(n_groups + 1))
    out: list[KMCurve | None] = []
    for k in range(n_groups):
        rows = order[bounds[k]:bounds[k + 1]]
        if rows.size == 0:
            out.append(None)
            continue
        cur = km_arrays(t[rows], e[rows], np.ones(rows.size))
        lo, hi = confint(cur["surv"], np.sqrt(cur["var_cumhaz"]), conf_type, alpha)  # type: ignore[arg-type]
        out.append(KMCurve(int(rows.size), cur["time"], cur["n_risk"], cur["n_event"],
                           cur["surv"], np.nan_to_num(lo, nan=0.0), np.nan_to_num(hi, nan=0.0)))
    return out


@dataclass
class Group:
    """Everything computed for one group of episodes (network arm, site, site × arm)."""

    key: tuple[str, str]  # (site or NET, arm or ALL)
    n: int
    lost: int
    n_returned: int
    pf: KMCurve | None
    re: KMCurve | None


def _groups(df: pd.DataFrame, sites: list[str], conf_type: str, alpha: float
            ) -> dict[tuple[str, str], Group]:
    arms = list(ARMS)
    site_code = pd.Categorical(df["site"], categories=sites).codes.astype(np.int64)
    arm_code = pd.Categorical(df["arm"], categories=arms).codes.astype(np.int64)
    keys: list[tuple[str, str]] = [(s, a) for s in sites for a in arms]
    keys += [(s, ALL) for s in sites] + [(NET, a) for a in arms] + [(NET, ALL)]
    n_s, n_a = len(sites), len(arms)
    codings = [site_code * n_a + arm_code, n_s * n_a + site_code,
               n_s * n_a + n_s + arm_code, np.full(len(df), n_s * n_a + n_s + n_a)]
    pf_t = df["pain_free_weeks"].to_numpy(dtype=float)
    pf_e = df["pain_free_event"].to_numpy(dtype=np.int64)
    re_t = df["reinjury_weeks"].to_numpy(dtype=float)
    re_e = df["reinjury_event"].fillna(0).to_numpy(dtype=np.int64)
    lost = (df["exit_reason"].astype(str) == "lost_to_follow_up").to_numpy()
    pf: list[KMCurve | None] = [None] * len(keys)
    re_: list[KMCurve | None] = [None] * len(keys)
    n = np.zeros(len(keys), dtype=np.int64)
    n_lost = np.zeros(len(keys), dtype=np.int64)
    n_ret = np.zeros(len(keys), dtype=np.int64)
    for codes in codings:
        present = np.unique(codes)
        lo, hi = int(present.min()), int(present.max()) + 1
        local = codes - lo
        for k, curve in enumerate(_km_groups(pf_t, pf_e, local, hi - lo, conf_type, alpha)):
            if curve is not None:
                pf[lo + k] = curve
        for k, curve in enumerate(_km_groups(re_t, re_e, local, hi - lo, conf_type, alpha)):
            if curve is not None:
                re_[lo + k] = curve
        n[lo:hi] += np.bincount(local, minlength=hi - lo)
        n_lost[lo:hi] += np.bincount(local, weights=lost, minlength=hi - lo).astype(np.int64)
        n_ret[lo:hi] += np.bincount(local, weights=pf_e, minlength=hi - lo).astype(np.int64)
    return {key: Group(key, int(n[i]), int(n_lost[i]), int(n_ret[i]), pf[i], re_[i])
            for i, key in enumerate(keys)}


# ----------------------------------------------------------------------------------------------
# every published count, suppressed and audited together


@dataclass
class Published:
    """The count system of all pages, the ticks of the numbers at risk and display rules."""

    system: CountSystem
    pf_ticks: list[float]
    re_ticks: list[float]
    tau: float

    def shown(self, key: Hashable) -> bool:
        return key in self.system.status and self.system.status[key] == SHOWN

    def text(self, key: Hashable) -> str:
        return self.system.text(key)


def _count_system(groups: dict[tuple[str, str], Group], sites: list[str], validation: Mapping[str, Any],
                  n_total: int, threshold: int, tau: float, pf_ticks: list[float],
                  re_ticks: list[float], casemix_counts: dict[str, tuple[int, int]]) -> Published:
    """Every count the pages print, and every count a printed rate or number at risk reveals.

    Table counts: episodes by site × arm with margins, data quality. Rates: each shown share
    reveals its numerator and complement (pain-free by 12 weeks, re-injury by ``tau`` among
    those who returned, lost to follow-up, and the funnel's complete-case shares). Numbers at
    risk: each shown number and the people who left between two times.
    """
    cs = CountSystem(threshold)
    arms = list(ARMS)
    cells = [(s, a) for s in sites for a in arms]
    site_tot = [(s, ALL) for s in sites]
    arm_tot = [(NET, a) for a in arms]
    total = (NET, ALL)
    everyone = cells + site_tot + arm_tot + [total]
    # what to withhold first: numbers at risk, then rates, then table cells, totals last
    cost = {total: 10.0, **dict.fromkeys(arm_tot, 6.0), **dict.fromkeys(site_tot, 4.0)}
    for g in everyone:
        cs.add(("n", g), groups[g].n, TABLE, cost.get(g, 3.0))

    def margins(name: str) -> None:
        for s in sites:
            cs.equal([(name, (s, a)) for a in arms], (name, (s, ALL)))
        for a in arms:
            cs.equal([(name, (s, a)) for s in sites], (name, (NET, a)))
        cs.equal([(name, g) for g in arm_tot], (name, total))
        cs.equal([(name, g) for g in site_tot], (name, total))

    margins("n")
    # rates: numerator and complement of each share, tied to the denominator
    for g in everyone:
        grp = groups[g]
        n_key = ("n", g)
        # rates of the network are worth more than a site's, a site's more than a site × arm's
        rc = 8.0 if g[0] == NET else 1.0 if g[1] == ALL else 0.5
        cs.add(("lost", g), grp.lost, RATE, rc)
        cs.add(("lost~", g), grp.n - grp.lost, RATE, rc)
        cs.equal([("lost", g), ("lost~", g)], n_key)
        pf_d = grp.pf.events_by(PAIN_FREE_WEEKS) if grp.pf else 0
        cs.add(("pf", g), pf_d, RATE, rc)
        cs.add(("pf~", g), grp.n - pf_d, RATE, rc)
        cs.equal([("pf", g), ("pf~", g)], n_key)
        kind_ret = TABLE if g in arm_tot else LATENT
        cs.add(("ret", g), grp.n_returned, kind_ret, 1.5)
        cs.add(("ret~", g), grp.n - grp.n_returned, LATENT)
        cs.equal([("ret", g), ("ret~", g)], n_key)
        re_d = grp.re.events_by(tau) if grp.re else 0
        cs.add(("re", g), re_d, RATE, rc)
        cs.add(("re~", g), grp.n_returned - re_d, RATE, rc)
        cs.equal([("re", g), ("re~", g)], ("ret", g))
        for name in ("lost", "pf", "re"):
            cs.together([(name, g), (f"{name}~", g)])
            cs.requires((name, g), n_key)
            cs.requires((f"{name}~", g), n_key)
        if grp.pf is None or grp.pf.at_risk(PAIN_FREE_WEEKS) < threshold:
            cs.hide(("pf", g))
        if grp.re is None or grp.re.at_risk(tau) < threshold:
            cs.hide(("re", g))
    for name in ("lost", "lost~", "pf", "pf~", "ret", "ret~", "re", "re~"):
        margins(name)
    # the funnel's complete-case shares of the sites (the all-sites target is drawn as a line,
    # not printed, so these are not tied together by a printed total)
    for s in sites:
        g = (s, ALL)
        n_cc, d_cc = casemix_counts.get(s, (0, 0))
        cs.add(("ncc", g), n_cc, LATENT)
        cs.add(("ncc~", g), groups[g].n - n_cc, LATENT)
        cs.equal([("ncc", g), ("ncc~", g)], ("n", g))
        cs.add(("cc", g), d_cc, RATE, 1.0)
        cs.add(("cc~", g), n_cc - d_cc, RATE, 1.0)
        cs.equal([("cc", g), ("cc~", g)], ("ncc", g))
        cs.together([("cc", g), ("cc~", g)])
        cs.requires(("cc", g), ("n", g))
        cs.requires(("cc", g), ("pf", g))  # shown only where the site's own share is
    # numbers at risk under the network's curves, and who left between two times (site pages
    # show their curves without numbers at risk: a site's small numbers would force many more
    # counts to be withheld across sites)
    for outcome, ticks, start in (("pf", pf_ticks, "n"), ("re", re_ticks, "ret")):
        for g in arm_tot:
            curve = groups[g].pf if outcome == "pf" else groups[g].re
            prev: Hashable = (start, g)
            for k, t in enumerate(ticks[1:], start=1):
                r = curve.at_risk(t) if curve is not None else 0
                key = (f"risk-{outcome}", g, k)
                cs.add(key, r, TABLE, 0.5)
                cs.add((f"exit-{outcome}", g, k), cs.values[prev] - r, LATENT)
                cs.equal([key, (f"exit-{outcome}", g, k)], prev)
                prev = key
    # data quality
    n_valid = int(validation.get("n_valid", n_total))
    accepted: Hashable = ("n", total)
    if n_valid != n_total:
        accepted = cs.add(("dq", "accepted"), n_valid, TABLE)
    cs.add(("dq", "received"), int(validation.get("n_in", n_valid)), TABLE, 3.0)
    cs.add(("dq", "quarantined"), int(validation.get("n_quarantined", 0)), TABLE, 1.0)
    cs.equal([accepted, ("dq", "quarantined")], ("dq", "received"))
    rules = dict(sorted((validation.get("rows_by_rule") or {}).items()))
    n_q = cs.values[("dq", "quarantined")]
    for rule, count in rules.items():
        cs.add(("rule", rule), int(count), TABLE)
        if int(count) <= n_q:  # a rule counts rows, so at most the rows set aside
            cs.add(("rule~", rule), n_q - int(count), LATENT)
            cs.equal([("rule", rule), ("rule~", rule)], ("dq", "quarantined"))
    if rules and sum(int(c) for c in rules.values()) >= n_q:  # each row set aside broke a rule
        cs.add(("dq", "rule-sum"), sum(int(c) for c in rules.values()), LATENT)
        cs.equal([("rule", r) for r in rules], ("dq", "rule-sum"))
        cs.add(("dq", "repeats"), cs.values[("dq", "rule-sum")] - n_q, LATENT)
        cs.equal([("dq", "quarantined"), ("dq", "repeats")], ("dq", "rule-sum"))
    cs.protect()
    findings = cs.audit()
    if findings:
        raise DisclosureError("disclosure audit failed, page not written: " + str(findings[0]))
    return Published(cs, pf_ticks, re_ticks, tau)


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
        caveat = ("Treatments were assigned at random, so differences between them are due to "
                  "the treatments or to chance; the 95 % intervals show how large chance can be. "
                  + adjusted)
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


def _bottom_line(analysis: AnalysisOutputs, arm_shown: Mapping[str, bool], tau: float
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


# ----------------------------------------------------------------------------------------------
# views: what each page shows, as plain values for the templates


def _arm_rows(include_all: bool = True) -> list[tuple[str, str]]:
    rows = [(a, style.arm_label(a)) for a in ARMS]
    return [*rows, (ALL, "All treatments")] if include_all else rows


@dataclass
class Page:
    """One page's values (passed to its template) and its CSV files."""

    name: str
    context: dict[str, Any]
    data: dict[str, pd.DataFrame] = field(default_factory=dict)


class _Composer:
    """Builds the view of every page from the groups, the published statuses and the analysis."""

    def __init__(self, groups: dict[tuple[str, str], Group], pub: Published, threshold: int,
                 tau: float, x_max: dict[str, float]) -> None:
        self.groups = groups
        self.pub = pub
        self.t = threshold
        self.tau = tau
        self.x_max = x_max

    # -- single values ---------------------------------------------------------------------

    def n_text(self, g: tuple[str, str]) -> str:
        return self.pub.text(("n", g))

    def share(self, g: tuple[str, str], metric: str) -> tuple[float, float, float] | None:
        grp = self.groups[g]
        if not self.pub.shown((metric, g)):
            return None
        if metric == "pf" and grp.pf is not None:
            return grp.pf.share(PAIN_FREE_WEEKS)
        if metric == "re" and grp.re is not None:
            return grp.re.share(self.tau)
        if metric == "lost" and grp.n:
            return grp.lost / grp.n, float("nan"), float("nan")
        return None

    def median(self, g: tuple[str, str]) -> tuple[float, float | None, float | None] | None:
        grp = self.groups[g]
        if grp.pf is None or not self.pub.shown(("n", g)):
            return None
        med, lo, hi = grp.pf.median()
        if med is None or grp.pf.at_risk(med) < self.t:
            return None
        if lo is not None and grp.pf.at_risk(lo) < self.t:
            lo = None
        if hi is not None and grp.pf.at_risk(hi) < self.t:
            hi = None
        return med, lo, hi

    def not_reached(self, g: tuple[str, str]) -> bool:
        grp = self.groups[g]
        return bool(grp.pf is not None and self.pub.shown(("n", g))
                    and grp.pf.median()[0] is None)

    # -- cards -----------------------------------------------------------------------------

    def cards(self, site: str, compare: bool) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        """Headline cards of ``site`` (``NET``: the network), optionally beside the network."""
        cards: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        sources = [site, NET] if compare else [site]
        metrics = [
            ("episodes", "Episodes", "Treatment episodes, by the treatment chosen."),
            ("pain_free_12w", "Pain-free by 12 weeks",
             "Share running pain-free (about half an hour with little or no pain) within 12 "
             "weeks of the first visit. Higher is better."),
            ("median_weeks", "Typical time to pain-free running",
             "Half of the patients were running pain-free by this many weeks (the median). "
             "Shorter is better."),
            ("reinjury", f"Injured again within {self.tau:g} weeks",
             f"Of those who got back to running pain-free, the share injured again within "
             f"{self.tau:g} weeks of their return. Lower is better."),
            ("lost_to_follow_up", "Lost to follow-up",
             "Share of episodes that ended because the patient stopped coming. High values "
             "make the other figures less certain."),
        ]
        for metric, title, explain in metrics:
            rows = []
            for arm, label in _arm_rows(include_all=True):
                values = []
                for src in sources:
                    g = (src, arm)
                    value, ci, bar = self._card_value(metric, g)
                    values.append({"text": value, "ci": ci, "bar": bar,
                                   "where": "All sites" if src == NET else "This site"})
                    records.append({"where": "all sites" if src == NET else src,
                                    "figure": title, "treatment": label, "value": value,
                                    "interval": ci})
                rows.append({"arm": arm, "label": label, "values": values})
            cards.append({"metric": metric, "title": title, "explain": explain, "rows": rows})
        return cards, pd.DataFrame(records)

    def _card_value(self, metric: str, g: tuple[str, str]) -> tuple[str, str, float | None]:
        if metric == "episodes":
            return self.n_text(g), "", None
        if metric == "median_weeks":
            if self.not_reached(g):
                return "not reached", "", None
            m = self.median(g)
            if m is None:
                return NOT_SHOWN, "", None
            med, lo, hi = m
            ci = (f"95 % CI {lo:.1f} to {hi:.1f}" if lo is not None and hi is not None
                  else "95 % CI: upper limit not reached" if lo is not None else "")
            return f"{med:.1f} weeks", ci, None
        name = {"pain_free_12w": "pf", "reinjury": "re", "lost_to_follow_up": "lost"}[metric]
        sh = self.share(g, name)
        if sh is None:
            return NOT_SHOWN, "", None
        est, lo, hi = sh
        ci = _ci_pct(lo, hi) if math.isfinite(lo) else ""
        return _pct(est), ci, est

    # -- curves ----------------------------------------------------------------------------

    def curves(self, site: str, outcome: str) -> tuple[list[Curve], pd.DataFrame]:
        curves, records = [], []
        keep = [PAIN_FREE_WEEKS] if outcome == "pf" else [self.tau]
        for arm in ARMS:
            g = (site, arm)
            km = self.groups[g].pf if outcome == "pf" else self.groups[g].re
            pts: list[tuple[float, float]] = []
            end = 0.0
            if km is not None and self.pub.shown(("n", g)):
                end = min(km.horizon(self.t), self.x_max[outcome])
                if math.isfinite(end):
                    pts = coarsen_steps(km.time, km.n_event, km.surv, self.t, keep=keep, end=end)
            if not pts:
                end = 0.0
            curves.append(Curve(arm, style.arm_label(arm), style.ARM_COLOURS[arm],
                                style.ARM_DASHES[arm], pts, end))
            records += [{"treatment": style.arm_label(arm), "weeks": round(a, 6),
                         "cumulative_share_percent": round(100 * b, 2)} for a, b in pts]
            if pts:
                records.append({"treatment": style.arm_label(arm), "weeks": round(end, 6),
                                "cumulative_share_percent": round(100 * pts[-1][1], 2)})
        return curves, pd.DataFrame(records, columns=["treatment", "weeks",
                                                      "cumulative_share_percent"])

    def at_risk(self, site: str, outcome: str) -> tuple[dict[str, Any], pd.DataFrame]:
        ticks = self.pub.pf_ticks if outcome == "pf" else self.pub.re_ticks
        rows, records = [], []
        for arm in ARMS:
            g = (site, arm)
            first = self.pub.text(("n", g) if outcome == "pf" else ("ret", g))
            values = [first] + [self.pub.text((f"risk-{outcome}", g, k))
                                for k in range(1, len(ticks))]
            rows.append({"arm": arm, "label": style.arm_label(arm),
                         "short": style.ARM_SHORT_LABELS[arm], "values": values})
            records.append({"treatment": style.arm_label(arm),
                            **{f"week_{t:g}": v for t, v in zip(ticks, values, strict=True)}})
        return {"ticks": [f"{t:g}" for t in ticks], "rows": rows}, pd.DataFrame(records)

    # -- sites -----------------------------------------------------------------------------

    def sites(self, sites: list[str], slugs: dict[str, str], comparison: Any
              ) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
        """The funnel plot and the sites table (alphabetical, never ranked)."""
        table = comparison.table.set_index("site") if comparison is not None else None
        rows, records, points = [], [], []
        target_shown = comparison is not None and self.pub.shown(("pf", (NET, ALL)))
        for s in sites:
            g = (s, ALL)
            band = "not_plotted"
            obs = exp_ = None
            row = table.loc[s] if table is not None and s in table.index else None
            if row is not None and target_shown and self.pub.shown(("cc", g)) \
                    and math.isfinite(float(row["precision_n"])):
                obs, exp_ = float(row["observed"]), float(row["expected"])
                band = str(row["band"])
                points.append(FunnelPoint(s, float(row["precision_n"]), float(row["adjusted"]),
                                          band))
            lost = self.share(g, "lost")
            cells = [self.n_text((s, a)) for a in ARMS]
            rows.append({"site": s, "href": f"site-{slugs[s]}.html", "n": self.n_text(g),
                         "cells": cells, "observed": _pct(obs), "expected": _pct(exp_),
                         "lost": _pct(lost[0] if lost else None), "band": band,
                         "band_text": BAND_TEXT[band]})
            records.append({"site": s, "episodes": _csv_count(self.n_text(g)),
                            **{style.arm_label(a): _csv_count(c) for a, c in
                               zip(ARMS, cells, strict=True)},
                            "pain_free_12w_observed_percent": _csv_pct(obs),
                            "pain_free_12w_expected_percent": _csv_pct(exp_),
                            "lost_to_follow_up_percent": _csv_pct(lost[0] if lost else None),
                            "compared_with_expected": BAND_TEXT[band]})
        funnel = None
        funnel_records = pd.DataFrame(columns=["site", "effective_patients",
                                               "adjusted_share_percent", "band"])
        if target_shown and points:
            from rehab_outcomes.reporting.svg import funnel_chart as _funnel

            colours = dict(style.FUNNEL)
            desc = ("The line across is the share of all sites. "
                    + "; ".join(f"{p.label}: case-mix adjusted {_pct(p.y)}, "
                                f"{BAND_TEXT[p.band].lower()}" for p in points) + ".")
            funnel = _funnel("funnel", "Sites: share pain-free by 12 weeks, adjusted for case "
                             "mix, against effective number of patients", desc,
                             comparison.target, comparison.limits, points, colours,
                             "Effective number of patients (allowing for loss to follow-up)",
                             "Pain-free by 12 weeks, adjusted")
            funnel_records = pd.DataFrame([{"site": p.label, "effective_patients": round(p.x, 1),
                                            "adjusted_share_percent": round(100 * p.y, 1),
                                            "band": BAND_TEXT[p.band]} for p in points])
        view = {"rows": rows, "funnel": funnel,
                "phi": comparison.phi if comparison is not None else float("nan"),
                "tau2": comparison.tau2 if comparison is not None else 0.0,
                "overdispersion": _overdispersion_text(comparison) if comparison else "",
                "covariates": _words([_COVARIATE_WORDS.get(c, c) if c != "arm" else "treatment"
                                      for c in (comparison.covariates if comparison else [])])}
        return view, pd.DataFrame(records), funnel_records


BAND_TEXT: Final = {
    "within": "As expected",
    "above_95": "Better than expected",
    "above_998": "Clearly better than expected",
    "below_95": "Worse than expected",
    "below_998": "Clearly worse than expected",
    "not_plotted": "Not compared (too few patients)",
}


def _overdispersion_text(comparison: Any) -> str:
    if not math.isfinite(comparison.phi):
        return ("Too few sites to estimate how much sites differ beyond chance; the limits "
                "allow for chance only.")
    if comparison.tau2 > 0:
        return (f"Sites differ more than chance alone would make them (overdispersion φ = "
                f"{comparison.phi:.1f}); the limits are widened by a between-site spread of "
                f"{100 * math.sqrt(comparison.tau2):.1f} percentage points (Spiegelhalter's "
                "additive random-effects method).")
    return (f"Sites do not differ more than chance would make them (φ = {comparison.phi:.2f}); "
            "the limits allow for chance only.")


def _csv_count(text: str) -> str:
    return text.replace(",", "")


def _csv_pct(p: float | None) -> str:
    return NOT_SHOWN if p is None else f"{100 * p:.1f}"


def _frame_of_cards(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if "value" in out.columns:
        out["value"] = [_csv_count(v) if re.fullmatch(r"[\d,]+", str(v)) else v
                        for v in out["value"]]
    return out


# ----------------------------------------------------------------------------------------------
# data quality and provenance


def _data_quality(pub: Published, validation: Mapping[str, Any], n_total: int
                  ) -> tuple[dict[str, Any], pd.DataFrame]:
    n_valid = int(validation.get("n_valid", n_total))
    accepted = ("n", (NET, ALL)) if n_valid == n_total else ("dq", "accepted")
    rows = [("Rows received", pub.text(("dq", "received"))),
            ("Rows accepted", pub.text(accepted)),
            ("Rows set aside (quarantined)", pub.text(("dq", "quarantined")))]
    rules = sorted(validation.get("rows_by_rule") or {})
    rule_rows = [(plain_rule(r), pub.text(("rule", r))) for r in rules]
    frame = pd.DataFrame([{"what": a, "rows": _csv_count(b)} for a, b in rows + rule_rows])
    return {"rows": rows, "rules": rule_rows}, frame


def _provenance(provenance: Mapping[str, Any], validation: Mapping[str, Any],
                analysis: AnalysisOutputs | None, threshold: int, run_date: str,
                extract: str | None, ctx: DataContext) -> list[tuple[str, str, bool]]:
    """(label, text, is_code) items of the provenance footer."""
    source = validation.get("input") or {}
    source = source if isinstance(source, dict) else {}
    items: list[tuple[str, str, bool]] = [
        ("Report date", run_date, False),
        ("Data extract", (f"latest date recorded in the data: {extract}" if extract else
                          "no dates in the data"), False),
        ("Where the data came from", ctx.source_text, False),
        ("Data file", str(provenance.get("data_file") or source.get("file") or "not recorded"),
         False),
        ("Data file SHA-256", str(provenance.get("data_sha256") or source.get("sha256")
                                  or "not recorded"), True),
    ]
    if provenance.get("episodes_sha256"):
        items.append(("Validated episodes SHA-256", str(provenance["episodes_sha256"]), True))
    if analysis is not None:
        for name, digest in sorted(analysis.hashes.items()):
            items.append((f"Analysis {name} SHA-256", digest, True))
    config = provenance.get("config")
    if config:
        text = "; ".join(f"{k}={v}" for k, v in _flatten_config(config))
        items.append(("Configuration that ran", text, True))
    else:
        items.append(("Configuration that ran", "not given (defaults)", False))
    items += [
        ("Package version", str(provenance.get("package_version")
                                or validation.get("package_version", "not recorded")), False),
        ("Data contract version", str(validation.get("contract_version", "not recorded")), False),
        ("Small-number threshold", f"counts below {threshold} (other than zero) hidden", False),
    ]
    return items


# ----------------------------------------------------------------------------------------------
# rendering


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rehab_outcomes.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["zip"] = zip
    return env


def _css() -> str:
    return (resources.files("rehab_outcomes.reporting") / "static" / "dashboard.css").read_text(
        encoding="utf-8")


def _x_max(groups: dict[tuple[str, str], Group], outcome: str, threshold: int) -> float:
    ends = []
    for a in ARMS:
        km = groups[(NET, a)].pf if outcome == "pf" else groups[(NET, a)].re
        if km is not None:
            h = km.horizon(threshold)
            if math.isfinite(h):
                ends.append(h)
    top = max(ends, default=52.0)
    return float(max(26.0, math.ceil(top / TICK_STEP) * TICK_STEP))


def _ticks(x_max: float) -> list[float]:
    from rehab_outcomes.reporting.svg import nice_ticks

    return nice_ticks(0.0, x_max, 5, step_multiple=TICK_STEP)


def build_dashboard(
    episodes: pd.DataFrame,
    validation: Mapping[str, Any],
    out: Path,
    *,
    analysis: AnalysisOutputs | str | Path | None,
    threshold: int = 11,
    provenance: Mapping[str, Any],
) -> Path:
    """Write the dashboard folder: ``index.html``, ``site-<slug>.html``, ``data/*.csv``.

    Parameters
    ----------
    episodes
        Validated episodes (``episodes.valid.parquet``).
    validation
        The ``validation.json`` report of ``rehab-outcomes validate``.
    out
        The dashboard folder, or its index page (a path ending in ``.html``: the folder is its
        parent). Written atomically; earlier pages and data of this command are replaced.
    analysis
        The folder of ``rehab-outcomes analyse`` on the same episodes (or its
        :class:`AnalysisOutputs`); required unless there are no episodes.
    threshold
        Counts from 1 to ``threshold - 1`` are never shown or revealed.
    provenance
        ``run_date`` (required), and optionally ``data_file``, ``data_sha256``,
        ``episodes_sha256``, ``config`` (the merged config that ran), ``package_version``.

    Returns
    -------
    Path
        The index page.
    """
    if int(threshold) < 1:
        raise ValueError(f"threshold must be at least 1, got {threshold}")
    if provenance.get("run_date") is None:
        raise ValueError("provenance must give run_date (for a reproducible page)")
    thr = int(threshold)
    out = Path(out)
    folder, index_name = (out.parent, out.name) if out.suffix == ".html" else (out, "index.html")
    run_date = str(provenance["run_date"])[:10]
    env = _environment()
    css = _css()
    df = derive_outcomes(episodes)
    if isinstance(analysis, str | Path):
        analysis = AnalysisOutputs.read(analysis)
    run_config = provenance.get("config")
    if analysis is not None and not run_config and isinstance(analysis.summary.get("run_config"),
                                                              dict):
        run_config = analysis.summary["run_config"]
    ctx = data_context(run_config, analysis.config if analysis is not None else {})
    extract = None
    if len(df) and "last_contact_date" in df.columns and df["last_contact_date"].notna().any():
        extract = pd.Timestamp(df["last_contact_date"].max()).strftime("%Y-%m-%d")
    prov_items = _provenance({**provenance, "config": run_config}, validation, analysis, thr,
                             run_date, extract, ctx)
    base = {"css": css, "run_date": run_date, "threshold": thr, "banner": ctx.banner,
            "provenance": prov_items, "not_shown": NOT_SHOWN}
    pages: list[Page] = []
    if len(df) == 0:
        received = int(validation.get("n_in", 0))
        quarantined = int(validation.get("n_quarantined", 0))
        message = ("The export held no rows." if received == 0 else
                   f"None of the {format_count(received, thr)} rows of the export passed "
                   "validation: all were set aside (quarantined)." if quarantined >= received
                   else "No episodes passed validation.")
        base["provenance"] = [item for item in prov_items if item[0] in
                              ("Report date", "Data file", "Data file SHA-256")]
        pages.append(Page(index_name, {**base, "message": message, "template": "empty.html.j2",
                                       "title": "Runner's knee: clinic outcomes"}))
        return _write(folder, index_name, env, pages)
    if analysis is None:
        raise ConfigError("the dashboard needs the analysis folder (--analysis) of these episodes")
    recorded = (analysis.summary.get("provenance") or {}).get("episodes_sha256")
    mine = provenance.get("episodes_sha256")
    if recorded and mine and recorded != mine:
        raise ConfigError("the analysis folder was written for other episodes (its recorded "
                          "SHA-256 differs): run `analyse` on these episodes first")
    df["arm"] = df["arm"].astype(str)
    df["site"] = df["site"].astype(str)
    sites = sorted(df["site"].unique().tolist(), key=lambda s: (s.casefold(), s))
    cfg = analysis.config
    conf_type = str(cfg.get("conf_type", "log"))
    alpha = float(cfg.get("alpha", 0.05))
    tau = analysis.tau
    groups = _groups(df, sites, conf_type, alpha)
    x_max = {"pf": _x_max(groups, "pf", thr), "re": _x_max(groups, "re", thr)}
    comparison, cc_counts = _site_comparison(df, cfg)
    pub = _count_system(groups, sites, validation, len(df), thr, tau, _ticks(x_max["pf"]),
                        _ticks(x_max["re"]), cc_counts)
    comp = _Composer(groups, pub, thr, tau, x_max)
    taken: set[str] = set()
    slugs = {s: site_slug(s, taken) for s in sites}
    dates = df["first_visit_date"]
    period = f"first visits from {_month_year(dates.min())} to {_month_year(dates.max())}"
    arm_shown = {a: pub.shown(("n", (NET, a))) for a in ARMS}
    bottom = _bottom_line(analysis, arm_shown, tau)
    claims_view = _claims_view(analysis)
    cards, cards_frame = comp.cards(NET, compare=False)
    site_view, sites_frame, funnel_frame = comp.sites(sites, slugs, comparison)
    dq, dq_frame = _data_quality(pub, validation, len(df))
    figs = {}
    data: dict[str, pd.DataFrame] = {
        "headline-by-treatment": _frame_of_cards(cards_frame),
        "sites": sites_frame,
        "site-comparison": funnel_frame,
        "data-quality": dq_frame,
        "claims": claims_view["frame"],
        "bottom-line": pd.DataFrame([{"question": b["question"], "answer": b["answer"],
                                      "detail": b["detail"],
                                      "verdicts": "; ".join(f"claim {v['claim_id']}: {v['verdict']}"
                                                            for v in b["verdicts"])}
                                     for b in bottom]),
    }
    for outcome in ("pf", "re"):
        curves, frame = comp.curves(NET, outcome)
        risk, risk_frame = comp.at_risk(NET, outcome)
        figs[outcome] = _figure(f"km-{outcome}", outcome, curves, risk, x_max[outcome], thr, tau,
                                "all sites")
        name = "time-to-pain-free" if outcome == "pf" else "reinjury-after-return"
        data[f"{name}-curve"] = frame
        data[f"{name}-at-risk"] = risk_frame
    index_ctx = {**base, "template": "index.html.j2", "title": "Runner's knee: clinic outcomes",
                 "period": period, "bottom": bottom, "caveat": ctx.caveat, "cards": cards,
                 "figs": figs, "sites": site_view, "claims": claims_view["rows"], "dq": dq,
                 "site_links": [(s, f"site-{slugs[s]}.html") for s in sites],
                 "arms": [(a, style.arm_label(a), style.ARM_SHORT_LABELS[a]) for a in ARMS],
                 "tau": tau, "bands": BAND_TEXT, "funnel_colours": style.FUNNEL,
                 "downloads": sorted(f"data/{k}.csv" for k in data), "prefix": ""}
    pages.append(Page(index_name, index_ctx, data))
    for s in sites:
        slug = slugs[s]
        s_cards, s_frame = comp.cards(s, compare=True)
        s_data = {f"site-{slug}-headline": _frame_of_cards(s_frame)}
        s_figs = {}
        for outcome in ("pf", "re"):
            pair = []
            for src, where in ((s, "this site"), (NET, "all sites")):
                curves, frame = comp.curves(src, outcome)
                risk, risk_frame = comp.at_risk(src, outcome) if src == NET else (None, None)
                ident = f"{'site' if src == s else 'net'}-{outcome}"
                pair.append(_figure(ident, outcome, curves, risk, x_max[outcome], thr, tau,
                                    where))
                name = "time-to-pain-free" if outcome == "pf" else "reinjury-after-return"
                if src == s:
                    s_data[f"site-{slug}-{name}-curve"] = frame
            s_figs[outcome] = pair
        row = next(r for r in site_view["rows"] if r["site"] == s)
        site_ctx = {**base, "template": "site.html.j2", "title": f"{s}: clinic outcomes",
                    "site": s, "period": period, "cards": s_cards, "figs": s_figs,
                    "row": row, "caveat": ctx.caveat, "tau": tau,
                    "downloads": sorted(f"data/{k}.csv" for k in s_data),
                    "index": index_name,
                    "arms": [(a, style.arm_label(a), style.ARM_SHORT_LABELS[a]) for a in ARMS]}
        pages.append(Page(f"site-{slug}.html", site_ctx, s_data))
    return _write(folder, index_name, env, pages)


def _figure(ident: str, outcome: str, curves: list[Curve], risk: dict[str, Any] | None,
            x_max: float,
            threshold: int, tau: float, where: str) -> dict[str, Any]:
    if outcome == "pf":
        title = f"Share running pain-free, by weeks since first visit ({where})"
        x_label = "Weeks since first visit"
        mark = (PAIN_FREE_WEEKS, "12 weeks")
        risk_title = "Number still followed and not yet pain-free"
    else:
        title = f"Share injured again, by weeks since return to running ({where})"
        x_label = "Weeks since return to running"
        mark = (tau, f"{tau:g} weeks")
        risk_title = "Number still followed and not injured again"
    parts = []
    for c in curves:
        if c.points:
            parts.append(f"{c.label}: {_pct(c.points[-1][1])} by {c.end:.0f} weeks")
        else:
            parts.append(f"{c.label}: not drawn (too few patients or events)")
    desc = (f"{title}. Each step of a line groups at least {threshold} events; the lines reach "
            + "; ".join(parts) + ".")
    svg = step_chart(ident, title, desc, curves, x_max, x_label,
                     y_max=1.0 if outcome == "pf" else _y_top(curves), mark=mark)
    return {"ident": ident, "title": title, "svg": svg, "risk": risk, "risk_title": risk_title,
            "drawn": [c.key for c in curves if c.points]}


def _y_top(curves: list[Curve]) -> float:
    top = max((p[1] for c in curves for p in c.points), default=0.5)
    return min(1.0, max(0.25, math.ceil(top * 4 + 0.2) / 4))


def _site_comparison(df: pd.DataFrame, cfg: Mapping[str, Any]) -> tuple[Any, dict[str, tuple[int, int]]]:
    """The case-mix comparison of sites and its complete-case counts (for the disclosure audit)."""
    from rehab_outcomes.exceptions import AnalysisError
    from rehab_outcomes.survival.casemix import compare_sites

    covariates = [c for c in (cfg.get("covariates") or ["arm"]) if c in df.columns]
    try:
        comparison = compare_sites(df, covariates, PAIN_FREE_WEEKS)
    except (AnalysisError, np.linalg.LinAlgError, ValueError):
        return None, {}
    import warnings

    from rehab_outcomes.exceptions import StatisticalWarning
    from rehab_outcomes.survival._util import build_design, survival_arrays

    _t, _e, _w, ok = survival_arrays(df, "pain_free_weeks", "pain_free_event", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)  # reported by the analysis already
        complete = build_design(df, list(comparison.covariates), ok).complete
    event_by = complete & (df["pain_free_event"].to_numpy() == 1) & (
        df["pain_free_weeks"].to_numpy(dtype=float) <= PAIN_FREE_WEEKS)
    counts: dict[str, tuple[int, int]] = {}
    site = df["site"].to_numpy()
    for s in [*sorted(set(site)), NET]:
        sel = np.ones(len(df), dtype=bool) if s == NET else site == s
        counts[s] = (int((complete & sel).sum()), int((event_by & sel).sum()))
    return comparison, counts


def _claims_view(analysis: AnalysisOutputs) -> dict[str, Any]:
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


def _write(folder: Path, index_name: str, env: Any, pages: list[Page]) -> Path:
    """Render every page and write the folder atomically (pages and data/ together)."""
    from rehab_outcomes.outputs import AtomicOutputs, write_csv

    rendered = []
    for page in pages:
        template = env.get_template(page.context["template"])
        rendered.append((page, template.render(**page.context)))
    managed = [index_name, *MANAGED[1:]]
    with AtomicOutputs(folder, managed=managed) as tmp:
        data_dir = tmp / "data"
        for page, html_text in rendered:
            with open(tmp / page.name, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(html_text)
            for name, frame in page.data.items():
                data_dir.mkdir(exist_ok=True)
                write_csv(frame, data_dir / f"{name}.csv")
    return folder / index_name


def load_validation(path: Path) -> dict[str, Any]:
    """Read a ``validation.json`` report."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def run_date_text(value: str | _dt.date | None) -> str:
    """``YYYY-MM-DD`` of a run date (today when None)."""
    if value is None:
        return _dt.date.today().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    return _dt.date.fromisoformat(value).isoformat()

