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

When the analysis had training logs (its folder holds ``adherence.csv``), both kinds of page
also show how often the pain rule of strength + graded running was kept
(:mod:`~rehab_outcomes.reporting.adherence`); without logs that section is left out.

This module composes; the parts live beside it: :mod:`~rehab_outcomes.reporting.bottom_line`
(what is read from the analysis, the caveat), :mod:`~rehab_outcomes.reporting.groups`
(Kaplan–Meier of every group with the package's estimator), :mod:`~rehab_outcomes.survival.casemix`
(the site comparison), :mod:`~rehab_outcomes.reporting.published` (every printed or implied
count in one system, protected and audited by linear programs at build time: a page that fails
is not written), :mod:`~rehab_outcomes.reporting.svg` (charts) and
:mod:`~rehab_outcomes.reporting.style`. Pages are Jinja2 templates (autoescaped) with the CSS of
``static/dashboard.css`` inlined; no page has a script or makes a request.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from rehab_outcomes.contract import ARMS, derive_outcomes
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.reporting import style
from rehab_outcomes.reporting.adherence import (
    AdherenceCounts,
    adherence_counts,
    adherence_view,
    episodes_in_arm_of,
)
from rehab_outcomes.reporting.bottom_line import (
    _COVARIATE_WORDS,
    AnalysisOutputs,
    DataContext,
    _words,
    bottom_line,
    claims_view,
    data_context,
)
from rehab_outcomes.reporting.groups import ALL, NET, PAIN_FREE_WEEKS, Group, group_curves
from rehab_outcomes.reporting.published import Published, published_counts
from rehab_outcomes.reporting.suppression import coarsen_steps, format_count
from rehab_outcomes.reporting.svg import Curve, FunnelPoint, step_chart

__all__ = [
    "AnalysisOutputs",
    "build_dashboard",
    "load_validation",
    "plain_rule",
    "run_date_text",
    "site_slug",
]

TICK_STEP: Final = 13.0
NOT_SHOWN: Final = "—"
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec")
#: Files of the dashboard folder this command writes (and cleans).
MANAGED: Final = ("index.html", "site-*.html", "data")
#: Case-mix covariates when no analysis settings are given (the analysis' defaults).
_DEFAULT_COVARIATES: Final = ("arm", "age_years", "sex", "bmi", "weekly_km_before_injury",
                              "symptom_weeks", "baseline_pain_nrs")



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
                 tau: float, x_max: dict[str, float],
                 adherence: AdherenceCounts | None = None) -> None:
        self.groups = groups
        self.pub = pub
        self.t = threshold
        self.tau = tau
        self.x_max = x_max
        self.adh = adherence

    # -- the pain rule (with training logs) --------------------------------------------------

    def adherence(self, rows: list[tuple[str, str]], lead: tuple[str, str], data_href: str
                  ) -> tuple[dict[str, Any] | None, pd.DataFrame | None]:
        """The pain-rule section for ``rows`` (``(site or NET, label)``); ``None`` without
        training logs."""
        if self.adh is None:
            return None, None
        return adherence_view(self.adh, rows, self.pub.text, self.pub.shown, self.t,
                              NOT_SHOWN, data_href, lead)

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
        :class:`AnalysisOutputs`). Without it the pages build with default settings and the
        bottom line says that no analysis was given.
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
        analysis = AnalysisOutputs.none()
    recorded = (analysis.summary.get("provenance") or {}).get("episodes_sha256")
    mine = provenance.get("episodes_sha256")
    if recorded and mine and recorded != mine:
        raise ConfigError("the analysis folder was written for other episodes (its recorded "
                          "SHA-256 differs): run `analyse` on these episodes first")
    df["arm"] = df["arm"].astype(str)
    df["site"] = df["site"].astype(str)
    sites = sorted(df["site"].unique().tolist(), key=lambda s: (s.casefold(), s))
    cfg = analysis.config or {"covariates": list(_DEFAULT_COVARIATES)}
    conf_type = str(cfg.get("conf_type", "log"))
    alpha = float(cfg.get("alpha", 0.05))
    tau = analysis.tau
    groups = group_curves(df, sites, conf_type, alpha)
    x_max = {"pf": _x_max(groups, "pf", thr), "re": _x_max(groups, "re", thr)}
    comparison, cc_counts = _site_comparison(df, cfg)
    adh = adherence_counts(analysis.adherence, sites, episodes_in_arm_of(groups))
    pub = published_counts(groups, sites, validation, len(df), thr, tau, _ticks(x_max["pf"]),
                           _ticks(x_max["re"]), cc_counts, adh)
    comp = _Composer(groups, pub, thr, tau, x_max, adh)
    taken: set[str] = set()
    slugs = {s: site_slug(s, taken) for s in sites}
    dates = df["first_visit_date"]
    period = f"first visits from {_month_year(dates.min())} to {_month_year(dates.max())}"
    arm_shown = {a: pub.shown(("n", (NET, a))) for a in ARMS}
    bottom = bottom_line(analysis, arm_shown, tau)
    claims_v = claims_view(analysis)
    cards, cards_frame = comp.cards(NET, compare=False)
    site_view, sites_frame, funnel_frame = comp.sites(sites, slugs, comparison)
    dq, dq_frame = _data_quality(pub, validation, len(df))
    figs = {}
    data: dict[str, pd.DataFrame] = {
        "headline-by-treatment": _frame_of_cards(cards_frame),
        "sites": sites_frame,
        "site-comparison": funnel_frame,
        "data-quality": dq_frame,
        "claims": claims_v["frame"],
        "bottom-line": pd.DataFrame([{"question": b["question"], "answer": b["answer"],
                                      "detail": b["detail"],
                                      "verdicts": "; ".join(f"claim {v['claim_id']}: {v['verdict']}"
                                                            for v in b["verdicts"])}
                                     for b in bottom]),
    }
    adh_view, adh_frame = comp.adherence([*((s, s) for s in sites), (NET, "All sites")],
                                         (NET, "all sites"), "data/adherence.csv")
    if adh_frame is not None:
        data["adherence"] = adh_frame
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
                 "figs": figs, "sites": site_view, "claims": claims_v["rows"], "dq": dq,
                 "site_links": [(s, f"site-{slugs[s]}.html") for s in sites],
                 "arms": [(a, style.arm_label(a), style.ARM_SHORT_LABELS[a]) for a in ARMS],
                 "tau": tau, "bands": BAND_TEXT, "funnel_colours": style.FUNNEL,
                 "adherence": adh_view,
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
        s_adh, s_adh_frame = comp.adherence([(s, s), (NET, "All sites")], (s, s),
                                            f"data/site-{slug}-adherence.csv")
        if s_adh_frame is not None:
            s_data[f"site-{slug}-adherence"] = s_adh_frame
        row = next(r for r in site_view["rows"] if r["site"] == s)
        site_ctx = {**base, "template": "site.html.j2", "title": f"{s}: clinic outcomes",
                    "site": s, "period": period, "cards": s_cards, "figs": s_figs,
                    "row": row, "caveat": ctx.caveat, "tau": tau, "adherence": s_adh,
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
            "drawn": [c.key for c in curves if c.points], "where": where}


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

