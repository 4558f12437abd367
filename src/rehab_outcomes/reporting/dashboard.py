"""The clinic outcome dashboard: one self-contained HTML page for clinic managers.

:func:`build_dashboard` turns validated episodes and the ``validation.json`` report into a page
with headline figures by treatment, Kaplan–Meier curves of time to pain-free running and of
re-injury after return, a trend by quarter of first visit, a funnel plot and table of sites, data
quality counts and a provenance footer. Figures are hand-written inline SVG; the page has no
scripts, no external files and makes no network requests. Every displayed number passes the
small-number rules of :mod:`rehab_outcomes.reporting.suppression`.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy.stats import binom

from rehab_outcomes.contract import ARMS, derive_outcomes
from rehab_outcomes.reporting.suppression import (
    SHOWN,
    Status,
    at_risk_statuses,
    format_count,
    km_estimate_allowed,
    proportion_allowed,
    suppress_linked,
)
from rehab_outcomes.survival.km import km_arrays

ARM_LABELS: Final = {
    "rest_only": "Rest only",
    "stretching_only": "Stretching only",
    "strength_graded_running": "Strength + graded running",
}
#: Okabe–Ito colours, chosen for at least 3:1 contrast on white.
ARM_COLOURS: Final = {
    "rest_only": "#D55E00",
    "stretching_only": "#0072B2",
    "strength_graded_running": "#009E73",
}
ARM_DASHES: Final = {"rest_only": "9 4", "stretching_only": "3 3", "strength_graded_running": ""}
ALL_COLOUR: Final = "#3b3b3b"
PAIN_FREE_WEEKS: Final = 12.0
REINJURY_WEEKS: Final = 26.0
WEEK_TICKS: Final = (0.0, 13.0, 26.0, 39.0, 52.0)
AXIS_WEEKS: Final = 52.0
NOT_SHOWN: Final = "—"
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# ----------------------------------------------------------------------------------------------
# Kaplan–Meier


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier estimate of one group (times in weeks).

    Attributes
    ----------
    times
        All follow-up times, ascending.
    event_times_all
        Times of the events only, ascending (with repeats).
    event_times
        Distinct event times, ascending.
    survival
        Survival just after each of ``event_times``.
    """

    times: np.ndarray
    event_times_all: np.ndarray
    event_times: np.ndarray
    survival: np.ndarray

    @property
    def n(self) -> int:
        """Number of people in the group."""
        return len(self.times)

    def survival_at(self, t: float | np.ndarray) -> np.ndarray:
        """Estimated survival S(t) (right-continuous step function)."""
        idx = np.searchsorted(self.event_times, np.asarray(t, dtype=float), side="right") - 1
        padded = np.concatenate([[1.0], self.survival])
        return padded[idx + 1]

    def at_risk(self, t: float | np.ndarray) -> np.ndarray:
        """Number still at risk at ``t`` (follow-up time at least ``t``)."""
        return self.n - np.searchsorted(self.times, np.asarray(t, dtype=float), side="left")

    def events_by(self, t: float | np.ndarray) -> np.ndarray:
        """Number of events at or before ``t``."""
        return np.searchsorted(self.event_times_all, np.asarray(t, dtype=float), side="right")

    def horizon(self, threshold: int) -> float:
        """Last time at which at least ``threshold`` people are at risk (NaN if never)."""
        return float(self.times[self.n - threshold]) if self.n >= threshold else float("nan")

    def median(self) -> float:
        """First time at which survival drops to 0.5 or below (NaN if never)."""
        hit = np.flatnonzero(self.survival <= 0.5)
        return float(self.event_times[hit[0]]) if len(hit) else float("nan")


def kaplan_meier(durations: np.ndarray | pd.Series, events: np.ndarray | pd.Series) -> KaplanMeier:
    """Fit a Kaplan–Meier curve; rows with a missing duration are ignored.

    Examples
    --------
    >>> km = kaplan_meier(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1, 1, 0, 1]))
    >>> km.survival_at([0.5, 1.0, 2.5, 3.0]).round(3).tolist()
    [1.0, 0.75, 0.5, 0.0]
    """
    d = np.asarray(durations, dtype=float)
    e = np.asarray(pd.array(events, dtype="Int64").fillna(0), dtype=np.int64)
    keep = np.isfinite(d)
    d, e = d[keep], e[keep]
    order = np.argsort(d, kind="stable")
    d, e = d[order], e[order]
    ev = d[e == 1]
    if not len(ev):
        return KaplanMeier(times=d, event_times_all=ev, event_times=ev, survival=np.array([]))
    cur = km_arrays(d, e, np.ones_like(d))  # the package's R-checked product-limit estimate
    has_event = cur["n_event"] > 0
    return KaplanMeier(times=d, event_times_all=ev, event_times=cur["time"][has_event],
                       survival=cur["surv"][has_event])


def km_rate(km: KaplanMeier, t: float, threshold: int) -> float | None:
    """1 − S(t), or None when the small-number rules forbid showing it."""
    if km.n < threshold:
        return None
    if not km_estimate_allowed(int(km.at_risk(t)), int(km.events_by(t)), threshold):
        return None
    return float(1.0 - km.survival_at(t))


def km_median(km: KaplanMeier, threshold: int) -> float | str | None:
    """Median time, ``"not reached"``, or None when it rests on too few people at risk."""
    if km.n < threshold:
        return None
    med = km.median()
    if np.isnan(med):
        return "not reached"
    return med if km.at_risk(med) >= threshold else None


def binomial_limits(p0: float, n: np.ndarray, prob: float) -> np.ndarray:
    """Exact binomial control limit (as a proportion) with Spiegelhalter's interpolation.

    ``prob`` is the cumulative probability of the limit, e.g. 0.975 for the upper 95 % limit.
    """
    n = np.asarray(n, dtype=float)
    if not 0.0 < p0 < 1.0:
        return np.full_like(n, p0)
    r = binom.ppf(prob, n, p0)
    cdf_r = binom.cdf(r, n, p0)
    cdf_below = binom.cdf(r - 1, n, p0)
    alpha = (cdf_r - prob) / np.where(cdf_r > cdf_below, cdf_r - cdf_below, 1.0)
    return np.clip((r - alpha) / n, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# formatting


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pct(p: float | None) -> str:
    return NOT_SHOWN if p is None else f"{100.0 * p:.1f}%"


def _weeks(value: float | str | None) -> str:
    if value is None:
        return NOT_SHOWN
    if isinstance(value, str):
        return value
    return f"{value:.1f} weeks"


def _month_year(ts: pd.Timestamp) -> str:
    return f"{_MONTHS[ts.month - 1]} {ts.year}"


def _quarter_label(period: pd.Period) -> tuple[str, str]:
    first = (period.quarter - 1) * 3
    return f"{_MONTHS[first]}–{_MONTHS[first + 2]}", str(period.year)


def _f(x: float) -> str:
    return f"{x:.1f}"


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


def _flatten_config(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    items: list[str] = []
    for key in sorted(config, key=str):
        value = config[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            items.extend(_flatten_config(value, f"{name}."))
        else:
            items.append(f"{name}={json.dumps(value, sort_keys=True, default=str)}")
    return items


# ----------------------------------------------------------------------------------------------
# statistics of the page


@dataclass(frozen=True)
class GroupFigures:
    """Everything shown for one group (an arm, a site, a quarter)."""

    n: int
    status: Status
    pain_free: KaplanMeier
    reinjury: KaplanMeier
    lost: int
    threshold: int

    @property
    def shown(self) -> bool:
        return self.status == SHOWN

    def pain_free_rate(self) -> float | None:
        return km_rate(self.pain_free, PAIN_FREE_WEEKS, self.threshold) if self.shown else None

    def median_weeks(self) -> float | str | None:
        return km_median(self.pain_free, self.threshold) if self.shown else None

    def reinjury_rate(self) -> float | None:
        return km_rate(self.reinjury, REINJURY_WEEKS, self.threshold) if self.shown else None

    def lost_rate(self) -> float | None:
        if not self.shown or not proportion_allowed(self.lost, self.n, self.threshold):
            return None
        return self.lost / self.n


def _group(df: pd.DataFrame, status: Status, threshold: int) -> GroupFigures:
    returned = df["pain_free_event"].to_numpy() == 1
    return GroupFigures(
        n=len(df),
        status=status,
        pain_free=kaplan_meier(df["pain_free_weeks"], df["pain_free_event"]),
        reinjury=kaplan_meier(df["reinjury_weeks"].to_numpy()[returned],
                              df["reinjury_event"].to_numpy()[returned]),
        lost=int((df["exit_reason"].astype(str) == "lost_to_follow_up").sum()),
        threshold=threshold,
    )


@dataclass(frozen=True)
class Funnel:
    """Funnel plot data: overall share, limit curves and plotted sites."""

    overall: float | None
    n_grid: np.ndarray
    limits: dict[str, np.ndarray]
    points: list[tuple[str, int, float, str]]  # site, n, share, verdict
    hidden: list[str]


def _verdict(p0: float, n: int, p: float) -> str:
    lim = {q: float(binomial_limits(p0, np.array([n]), q)[0]) for q in (0.001, 0.025, 0.975, 0.999)}
    if p > lim[0.999]:
        return "Well above expected range"
    if p < lim[0.001]:
        return "Well below expected range"
    if p > lim[0.975]:
        return "A little above expected range"
    if p < lim[0.025]:
        return "A little below expected range"
    return "Within expected range"


def _funnel(overall: float | None, sites: dict[str, GroupFigures], threshold: int) -> Funnel:
    points: list[tuple[str, int, float, str]] = []
    hidden: list[str] = []
    for name, g in sites.items():
        rate = g.pain_free_rate()
        if rate is None or overall is None:
            hidden.append(name)
        else:
            points.append((name, g.n, rate, _verdict(overall, g.n, rate)))
    n_max = max([p[1] for p in points], default=threshold * 4)
    top = _nice_max(n_max * 1.08, threshold)
    grid = np.unique(np.round(np.geomspace(threshold, top, 160)).astype(int))
    limits = {}
    if overall is not None:
        limits = {str(q): binomial_limits(overall, grid, q) for q in (0.001, 0.025, 0.975, 0.999)}
    return Funnel(overall, grid, limits, points, hidden)


def _nice_max(value: float, threshold: int) -> int:
    step = _nice_step(value, threshold)
    return int(np.ceil(value / step) * step)


def _nice_step(value: float, threshold: int) -> int:
    """Tick step of a count axis: about four ticks, never below 20 or the threshold."""
    floor = max(20, threshold)
    for base in (1, 2, 2.5, 5):
        for power in range(0, 9):
            step = int(base * 10**power)
            if step >= floor and value / step <= 5:
                return step
    return int(value)


# ----------------------------------------------------------------------------------------------
# SVG figures

_W: Final = 760


def _svg_open(height: float, ident: str, title: str, desc: str) -> str:
    return (
        f'<div class="chart-scroll"><svg class="chart" viewBox="0 0 {_W} {_f(height)}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d">'
        f'<title id="{ident}-t">{_esc(title)}</title><desc id="{ident}-d">{_esc(desc)}</desc>'
    )


def _y_grid(x0: float, x1: float, y: Any, ticks: Sequence[float], labels: Sequence[str]) -> str:
    parts = []
    for t, lab in zip(ticks, labels, strict=True):
        yy = y(t)
        parts.append(f'<line x1="{_f(x0)}" x2="{_f(x1)}" y1="{_f(yy)}" y2="{_f(yy)}" class="grid"/>')
        parts.append(f'<text x="{_f(x0 - 8)}" y="{_f(yy + 4)}" text-anchor="end" class="tick">'
                     f"{_esc(lab)}</text>")
    return "".join(parts)


_PCT_TICKS: Final = (0.0, 0.25, 0.5, 0.75, 1.0)
_PCT_LABELS: Final = ("0%", "25%", "50%", "75%", "100%")


def _step_path(km: KaplanMeier, end: float, x: Any, y: Any) -> str:
    """SVG path of the cumulative share 1 − S(t) from 0 to ``end``."""
    keep = km.event_times <= end
    ts, ss = km.event_times[keep], km.survival[keep]
    xs = x(ts)
    ys = y(1.0 - ss)
    steps = "".join(f"H{_f(a)}V{_f(b)}" for a, b in zip(xs, ys, strict=True))
    return f"M{_f(x(0.0))},{_f(y(0.0))}{steps}H{_f(x(end))}"


def _km_figure(
    ident: str,
    groups: dict[str, GroupFigures],
    clock: str,
    threshold: int,
) -> str:
    """Cumulative curves by arm (pain-free or re-injury clock) with numbers at risk below."""
    left, right, top, plot_h = 250.0, 24.0, 14.0, 250.0
    x0, x1 = left, _W - right
    y0, y1 = top + plot_h, top

    def x(t: Any) -> Any:
        return x0 + (np.asarray(t, dtype=float) / AXIS_WEEKS) * (x1 - x0)

    def y(p: Any) -> Any:
        return y0 - np.asarray(p, dtype=float) * (y0 - y1)

    pain = clock == "pain_free"
    if pain:
        title = "Share of patients running pain-free, by weeks since first visit"
        x_title = "Weeks since first visit"
        risk_title = "Number still followed and not yet pain-free"
        mark, mark_text = PAIN_FREE_WEEKS, "12 weeks"
    else:
        title = "Share of patients injured again, by weeks since return to running"
        x_title = "Weeks since return to running"
        risk_title = "Number still followed and not injured again"
        mark, mark_text = REINJURY_WEEKS, "26 weeks"
    rows = len(groups)
    height = top + plot_h + 70 + 20 * rows + 8
    body = [_y_grid(x0, x1, y, _PCT_TICKS, _PCT_LABELS)]
    body.append(f'<line x1="{_f(x(mark))}" x2="{_f(x(mark))}" y1="{_f(y1)}" y2="{_f(y0)}" '
                f'class="mark"/><text x="{_f(x(mark) + 4)}" y="{_f(y1 + 12)}" class="note">'
                f"{mark_text}</text>")
    for t in WEEK_TICKS:
        body.append(f'<text x="{_f(x(t))}" y="{_f(y0 + 18)}" text-anchor="middle" class="tick">'
                    f"{t:.0f}</text>")
    body.append(f'<text x="{_f((x0 + x1) / 2)}" y="{_f(y0 + 38)}" text-anchor="middle" '
                f'class="axis">{x_title}</text>')
    ry = y0 + 62
    body.append(f'<text x="8" y="{_f(ry)}" class="axis">{risk_title}</text>')
    desc_parts = []
    for i, (arm, g) in enumerate(groups.items()):
        km = g.pain_free if pain else g.reinjury
        colour, dash = ARM_COLOURS[arm], ARM_DASHES[arm]
        label = ARM_LABELS[arm]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        end = min(km.horizon(threshold), AXIS_WEEKS) if g.shown else float("nan")
        if np.isfinite(end):
            body.append(f'<path d="{_step_path(km, end, x, y)}" fill="none" stroke="{colour}" '
                        f'stroke-width="2.6"{dash_attr}/>')
        rate = g.pain_free_rate() if pain else g.reinjury_rate()
        counts = km.at_risk(np.array(WEEK_TICKS))
        if g.shown:
            statuses = at_risk_statuses(counts, threshold, start=None if pain else g.n)
            texts = [format_count(c, threshold, s) for c, s in zip(counts, statuses, strict=True)]
        else:
            texts = [NOT_SHOWN] * len(counts)
        yy = ry + 20 * (i + 1)
        body.append(f'<line x1="8" x2="30" y1="{_f(yy - 4)}" y2="{_f(yy - 4)}" stroke="{colour}" '
                    f'stroke-width="3"{dash_attr}/><text x="36" y="{_f(yy)}" class="tick">'
                    f"{_esc(label)}</text>")
        for t, text in zip(WEEK_TICKS, texts, strict=True):
            body.append(f'<text x="{_f(x(t))}" y="{_f(yy)}" text-anchor="middle" '
                        f'class="tick risk">{_esc(text)}</text>')
        shown_to = (f"curve shown up to {end:.1f} weeks" if np.isfinite(end)
                    else "curve not shown (too few people)")
        desc_parts.append(f"{label}: {_pct(rate)} by {mark_text}, {shown_to}; number at risk at "
                          f"0, 13, 26, 39 and 52 weeks: {', '.join(texts)}.")
    desc = (f"{title}. Curves stop where fewer than {threshold} people are still followed. "
            + " ".join(desc_parts))
    return _svg_open(height, ident, title, desc) + "".join(body) + "</svg></div>"


_MARKERS: Final = {
    "rest_only": "square",
    "stretching_only": "triangle",
    "strength_graded_running": "circle",
    "all": "diamond",
}


def _marker(shape: str, cx: float, cy: float, colour: str) -> str:
    if shape == "square":
        return (f'<rect x="{_f(cx - 4.5)}" y="{_f(cy - 4.5)}" width="9" height="9" '
                f'fill="{colour}"/>')
    if shape == "triangle":
        return (f'<path d="M{_f(cx)},{_f(cy - 6)}L{_f(cx + 5.5)},{_f(cy + 4)}'
                f'L{_f(cx - 5.5)},{_f(cy + 4)}Z" fill="{colour}"/>')
    if shape == "diamond":
        return (f'<path d="M{_f(cx)},{_f(cy - 6)}L{_f(cx + 6)},{_f(cy)}L{_f(cx)},{_f(cy + 6)}'
                f'L{_f(cx - 6)},{_f(cy)}Z" fill="{colour}"/>')
    return f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="5" fill="{colour}"/>'


def _trend_figure(ident: str, quarters: list[pd.Period],
                  series: dict[str, list[float | None]]) -> str:
    """Share pain-free by 12 weeks per quarter of first visit, one line per arm and overall."""
    left, right, top, plot_h = 60.0, 24.0, 14.0, 240.0
    x0, x1 = left, _W - right
    y0, y1 = top + plot_h, top
    nq = len(quarters)
    step = (x1 - x0) / max(nq, 1)

    def x(i: int) -> float:
        return x0 + step * (i + 0.5)

    def y(p: Any) -> Any:
        return y0 - np.asarray(p, dtype=float) * (y0 - y1)

    title = "Share pain-free by 12 weeks, by quarter of first visit"
    body = [_y_grid(x0, x1, y, _PCT_TICKS, _PCT_LABELS)]
    every = 1 if nq <= 12 else 2
    for i, q in enumerate(quarters):
        if i % every:
            continue
        months, year = _quarter_label(q)
        body.append(f'<text x="{_f(x(i))}" y="{_f(y0 + 18)}" text-anchor="middle" class="tick">'
                    f'{months}</text><text x="{_f(x(i))}" y="{_f(y0 + 33)}" text-anchor="middle" '
                    f'class="tick">{year}</text>')
    body.append(f'<text x="{_f((x0 + x1) / 2)}" y="{_f(y0 + 54)}" text-anchor="middle" '
                f'class="axis">Quarter of first visit</text>')
    desc_parts = []
    for key, values in series.items():
        colour = ALL_COLOUR if key == "all" else ARM_COLOURS[key]
        dash = "" if key == "all" else ARM_DASHES[key]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        width = "3.2" if key == "all" else "2.2"
        run: list[str] = []
        segments: list[list[str]] = []
        for i, v in enumerate(values):
            if v is None:
                if run:
                    segments.append(run)
                run = []
            else:
                run.append(f"{_f(x(i))},{_f(float(y(v)))}")
        if run:
            segments.append(run)
        for seg in segments:
            if len(seg) > 1:
                body.append(f'<path d="M{"L".join(seg)}" fill="none" stroke="{colour}" '
                            f'stroke-width="{width}"{dash_attr}/>')
        for i, v in enumerate(values):
            if v is not None:
                body.append(_marker(_MARKERS[key], x(i), float(y(v)), colour))
        label = "All treatments" if key == "all" else ARM_LABELS[key]
        pairs = [f"{' '.join(_quarter_label(q))} {_pct(v)}" for q, v in
                 zip(quarters, values, strict=True)]
        desc_parts.append(f"{label}: {'; '.join(pairs)}.")
    desc = (f"{title}. A dash means the quarter is not shown (too few people, or not yet "
            "followed for 12 weeks). " + " ".join(desc_parts))
    height = top + plot_h + 66
    return _svg_open(height, ident, title, desc) + "".join(body) + "</svg></div>"


def _funnel_figure(ident: str, funnel: Funnel, threshold: int) -> str:
    """Funnel plot: site share pain-free by 12 weeks against number of episodes."""
    left, right, top, plot_h = 60.0, 24.0, 14.0, 300.0
    x0, x1 = left, _W - right
    y0, y1 = top + plot_h, top
    n_top = float(funnel.n_grid[-1]) if len(funnel.n_grid) else float(threshold * 4)

    def x(n: Any) -> Any:
        return x0 + np.asarray(n, dtype=float) / n_top * (x1 - x0)

    def y(p: Any) -> Any:
        return y0 - np.asarray(p, dtype=float) * (y0 - y1)

    title = "Sites: share pain-free by 12 weeks against number of episodes"
    ticks = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    body = [_y_grid(x0, x1, y, ticks, [f"{100 * t:.0f}%" for t in ticks])]
    step = _nice_step(n_top, threshold)
    for n in range(0, int(n_top) + 1, step):
        body.append(f'<text x="{_f(float(x(n)))}" y="{_f(y0 + 18)}" text-anchor="middle" '
                    f'class="tick">{n:,}</text>')
    body.append(f'<text x="{_f((x0 + x1) / 2)}" y="{_f(y0 + 38)}" text-anchor="middle" '
                f'class="axis">Number of episodes at the site</text>')
    if funnel.overall is not None:
        yy = float(y(funnel.overall))
        body.append(f'<line x1="{_f(x0)}" x2="{_f(x1)}" y1="{_f(yy)}" y2="{_f(yy)}" '
                    f'class="overall"/>')
        xs = x(funnel.n_grid)
        for q, cls in (("0.025", "lim95"), ("0.975", "lim95"), ("0.001", "lim998"),
                       ("0.999", "lim998")):
            ys = y(funnel.limits[q])
            pts = "L".join(f"{_f(a)},{_f(b)}" for a, b in zip(xs, ys, strict=True))
            body.append(f'<path d="M{pts}" fill="none" class="{cls}"/>')
    label_all = len(funnel.points) <= 12
    desc_parts = []
    for name, n, p, verdict in funnel.points:
        cx, cy = float(x(n)), float(y(p))
        unusual = not verdict.startswith("Within")
        fill = "#D55E00" if unusual else "#1f2328"
        body.append(f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="6" fill="{fill}" stroke="#fff" '
                    f'stroke-width="1.5"/>')
        if label_all or unusual:
            anchor = "end" if cx > x1 - 90 else "start"
            dx = -10 if anchor == "end" else 10
            body.append(f'<text x="{_f(cx + dx)}" y="{_f(cy - 8)}" text-anchor="{anchor}" '
                        f'class="pointlabel">{_esc(name)}</text>')
        desc_parts.append(f"{name}: {_pct(p)}, {verdict.lower()}")
    overall = _pct(funnel.overall)
    desc = (f"{title}. Overall share {overall}. Dashed lines: range expected by chance 95 times "
            "in 100; solid lines: 998 times in 1,000. Sites: " + "; ".join(desc_parts) + ".")
    if funnel.hidden:
        desc += " Not plotted (too few episodes, or withheld): " + ", ".join(funnel.hidden) + "."
    return _svg_open(y0 + 50, ident, title, desc) + "".join(body) + "</svg></div>"


def _legend(include_all: bool = False) -> str:
    items = []
    for arm in ARMS:
        dash = ARM_DASHES[arm]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        items.append(f'<li><svg width="34" height="12" aria-hidden="true" focusable="false">'
                     f'<line x1="1" x2="33" y1="6" y2="6" stroke="{ARM_COLOURS[arm]}" '
                     f'stroke-width="3"{dash_attr}/></svg>{_esc(ARM_LABELS[arm])}</li>')
    if include_all:
        items.append(f'<li><svg width="34" height="12" aria-hidden="true" focusable="false">'
                     f'<line x1="1" x2="33" y1="6" y2="6" stroke="{ALL_COLOUR}" stroke-width="4"/>'
                     "</svg>All treatments</li>")
    return '<ul class="legend">' + "".join(items) + "</ul>"


# ----------------------------------------------------------------------------------------------
# page


_CSS: Final = """
:root{--ink:#1f2328;--muted:#4d5761;--bg:#f3f5f8;--card:#fff;--line:#d5dbe1;--soft:#eef1f4}
*{box-sizing:border-box}
html{font-size:16px}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--bg);line-height:1.5}
.wrap{max-width:1100px;margin:0 auto;padding:0 20px}
header.top{background:#0b3b5a;color:#fff;padding:28px 0 24px}
header.top h1{margin:0 0 6px;font-size:1.9rem;line-height:1.2}
header.top p{margin:0;color:#e3edf4}
main{padding:8px 0 16px}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:22px 26px;
margin:20px 0}
h2{font-size:1.35rem;margin:0 0 6px}
h3{font-size:1.02rem;margin:0 0 4px}
p.intro{margin:0 0 16px;color:var(--muted);max-width:70ch}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:16px}
.card{border:1px solid var(--line);border-radius:10px;padding:16px 18px;background:#fff;
box-shadow:0 1px 2px rgba(16,24,40,.05)}
.card p.explain{font-size:.86rem;color:var(--muted);margin:0 0 12px;min-height:3.9em}
.card ul{list-style:none;margin:0;padding:0}
.card li{display:grid;grid-template-columns:14px 1fr auto;align-items:center;column-gap:10px;
row-gap:4px;padding:7px 0;border-top:1px solid var(--soft)}
.card li.all{font-weight:600}
.swatch{width:14px;height:14px;border-radius:4px;display:inline-block}
.value{font-weight:700;font-size:1.2rem;font-variant-numeric:tabular-nums;text-align:right}
.bar{grid-column:2/4;height:7px;background:var(--soft);border-radius:4px;overflow:hidden}
.bar span{display:block;height:100%;border-radius:4px}
.arm-rest_only{background:#D55E00}.arm-stretching_only{background:#0072B2}
.arm-strength_graded_running{background:#009E73}.arm-all{background:#3b3b3b}
.card.key{background:#f8fafc;font-size:.86rem;color:var(--muted)}
.card.key p{margin:0 0 8px}
.card.key dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 12px;margin:0}
.card.key dt{font-weight:700;color:var(--ink);text-align:center;min-width:2.6em}
.card.key dd{margin:0}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:6px 22px;margin:0 0 8px;padding:0;
font-size:.92rem}
.legend li{display:flex;align-items:center;gap:8px}
figure{margin:0}
figcaption{font-size:.88rem;color:var(--muted);margin-top:8px;max-width:80ch}
.chart-scroll{overflow-x:auto}
svg.chart{width:100%;min-width:560px;height:auto;display:block;font-family:inherit}
svg .grid{stroke:#e1e5ea;stroke-width:1}
svg .mark{stroke:#8c959f;stroke-width:1;stroke-dasharray:2 3}
svg .tick{font-size:12.5px;fill:#333b44}
svg .axis{font-size:13px;fill:#1f2328;font-weight:600}
svg .note{font-size:12px;fill:#4d5761}
svg .pointlabel{font-size:13px;fill:#1f2328;font-weight:600}
svg .overall{stroke:#1f2328;stroke-width:1.5}
svg .lim95{stroke:#6e7781;stroke-width:1.5;stroke-dasharray:6 4}
svg .lim998{stroke:#6e7781;stroke-width:1.5}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:24px;align-items:start}
.table-wrap{overflow-x:auto;margin-top:22px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:.94rem}
caption{text-align:left;font-weight:600;padding:0 0 8px;caption-side:top}
caption span{display:block;font-weight:400;font-size:.85rem;color:var(--muted)}
th,td{padding:7px 10px;border-bottom:1px solid #e5e8eb;text-align:right;vertical-align:top}
thead th{font-size:.85rem;color:#333b44;background:#f7f8fa}
tbody th{font-weight:600}
th:first-child,td:first-child{text-align:left}
td.verdict{text-align:left}
.flag{color:#a13d00;font-weight:600}
footer{padding:8px 0 40px;color:var(--muted);font-size:.88rem}
footer h2{font-size:1.05rem;color:var(--ink)}
footer dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
footer dt{font-weight:600;color:var(--ink)}
footer dd{margin:0;overflow-wrap:anywhere}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.84rem}
@media (max-width:600px){section{padding:16px}.two{grid-template-columns:1fr}}
"""


def _value_span(text: str, metric: str, arm: str) -> str:
    return f'<span class="value" data-metric="{metric}" data-arm="{arm}">{_esc(text)}</span>'


def _card(title: str, explain: str, rows: list[tuple[str, str, str, float | None]],
          metric: str) -> str:
    items = []
    for key, label, text, bar in rows:
        cls = ' class="all"' if key == "all" else ""
        bar_html = ""
        if bar is not None:
            bar_html = (f'<span class="bar" aria-hidden="true"><span class="arm-{key}" '
                        f'style="width:{100 * bar:.1f}%"></span></span>')
        items.append(f'<li{cls}><span class="swatch arm-{key}" aria-hidden="true"></span>'
                     f"<span>{_esc(label)}</span>{_value_span(text, metric, key)}{bar_html}</li>")
    return (f'<article class="card"><h3>{_esc(title)}</h3><p class="explain">{_esc(explain)}</p>'
            f'<ul>{"".join(items)}</ul></article>')


@dataclass(frozen=True)
class _Counts:
    """Every displayed count with its suppression status."""

    values: dict[Hashable, int]
    status: dict[Hashable, Status]
    threshold: int
    accepted: Hashable
    rules: tuple[str, ...]

    def text(self, key: Hashable) -> str:
        return format_count(self.values[key], self.threshold, self.status[key])


def _suppressed_counts(df: pd.DataFrame, sites: list[str], validation: Mapping[str, Any],
                       threshold: int) -> _Counts:
    """Counts of arms, sites, site × arm cells and data quality, suppressed together.

    Lines: arms -> total, sites -> total, each site's arms -> site, each arm's sites -> arm,
    accepted + quarantined -> received, rules -> quarantined. The grand total (shown three
    times) and the arm totals are withheld last.
    """
    arms = list(ARMS)
    cross = pd.crosstab(df["site"], df["arm"]).reindex(index=sites, columns=arms, fill_value=0)
    values: dict[Hashable, int] = {("total",): len(df)}
    cost: dict[Hashable, float] = {("total",): 10.0}
    for arm in arms:
        values[("arm", arm)] = int(cross[arm].sum())
        cost[("arm", arm)] = 5.0
    for site in sites:
        values[("site", site)] = int(cross.loc[site].sum())
        cost[("site", site)] = 2.0
        for arm in arms:
            values[("cell", site, arm)] = int(cross.loc[site, arm])
    lines: list[tuple[list[Hashable], Hashable]] = [
        ([("arm", a) for a in arms], ("total",)),
        ([("site", s) for s in sites], ("total",)),
    ]
    lines += [([("cell", s, a) for a in arms], ("site", s)) for s in sites]
    lines += [([("cell", s, a) for s in sites], ("arm", a)) for a in arms]
    n_valid = int(validation.get("n_valid", len(df)))
    accepted: Hashable = ("total",) if n_valid == len(df) else ("dq", "accepted")
    values[accepted] = n_valid
    values[("dq", "received")] = int(validation.get("n_in", n_valid))
    values[("dq", "quarantined")] = int(validation.get("n_quarantined", 0))
    cost[("dq", "quarantined")] = 1.0
    lines.append(([accepted, ("dq", "quarantined")], ("dq", "received")))
    rules = dict(sorted((validation.get("rows_by_rule") or {}).items()))
    for rule, n in rules.items():
        values[("rule", rule)] = int(n)
    if rules:
        lines.append(([("rule", r) for r in rules], ("dq", "quarantined")))
    status = suppress_linked(values, lines, threshold, cost)
    return _Counts(values, status, threshold, accepted, tuple(rules))


def _trend_series(df: pd.DataFrame, threshold: int) -> tuple[list[pd.Period],
                                                             dict[str, list[float | None]]]:
    """Share pain-free by 12 weeks per quarter of first visit, by arm and for everyone."""
    quarter = df["first_visit_date"].dt.to_period("Q")
    quarters = list(pd.period_range(quarter.min(), quarter.max(), freq="Q")) if len(df) else []
    series: dict[str, list[float | None]] = {}
    for key in [*ARMS, "all"]:
        sub = df if key == "all" else df[df["arm"] == key]
        sub_q = quarter.loc[sub.index]
        series[key] = [
            km_rate(kaplan_meier(sub.loc[sub_q == q, "pain_free_weeks"],
                                 sub.loc[sub_q == q, "pain_free_event"]), PAIN_FREE_WEEKS,
                    threshold)
            for q in quarters
        ]
    return quarters, series


def _cards(arm_groups: dict[str, GroupFigures], counts: _Counts) -> str:
    """The headline cards, one per figure, each by arm, and a key to the symbols."""
    thr = counts.threshold

    def rates(fn: Any) -> list[tuple[str, str, str, float | None]]:
        return [(a, ARM_LABELS[a], _pct(fn(arm_groups[a])), fn(arm_groups[a])) for a in ARMS]

    cards = [
        _card("Episodes", "Treatment episodes in the data, by the treatment chosen.",
              [(a, ARM_LABELS[a], counts.text(("arm", a)), None) for a in ARMS]
              + [("all", "All treatments", counts.text(("total",)), None)], "episodes"),
        _card("Pain-free by 12 weeks",
              "Share of patients running pain-free (about half an hour with little or no pain) "
              "within 12 weeks of their first visit. Higher is better.",
              rates(GroupFigures.pain_free_rate), "pain_free_12w"),
        _card("Typical time to pain-free running",
              "Half of patients were running pain-free by this many weeks (the median). "
              "Shorter is better.",
              [(a, ARM_LABELS[a], _weeks(arm_groups[a].median_weeks()), None) for a in ARMS],
              "median_weeks"),
        _card("Injured again within six months",
              "Of patients who got back to running pain-free, the share injured again within "
              "26 weeks of their return. Lower is better.",
              rates(GroupFigures.reinjury_rate), "reinjury_26w"),
        _card("Lost to follow-up",
              "Share of episodes that ended because the patient stopped coming without being "
              "discharged. High values make the other figures less certain.",
              rates(GroupFigures.lost_rate), "lost_to_follow_up"),
        '<article class="card key"><h3>How to read these figures</h3><p>Each figure describes '
        "the patients of all sites together. To protect privacy:</p><dl>"
        f"<dt>&lt;{thr}</dt><dd>a count below {thr}.</dd>"
        "<dt>*</dt><dd>a count hidden so that a small one cannot be worked out by "
        "subtraction.</dd>"
        f"<dt>{NOT_SHOWN}</dt><dd>not shown: it would rest on fewer than {thr} patients still "
        f"being followed, or reveal a count below {thr}.</dd>"
        "<dt>not reached</dt><dd>fewer than half reached pain-free running while followed.</dd>"
        "</dl></article>",
    ]
    return "".join(cards)


def _site_table(site_groups: dict[str, GroupFigures], verdicts: dict[str, str],
                counts: _Counts) -> str:
    """Sites in alphabetical order with counts by arm, rates and the funnel verdict."""
    thr = counts.threshold
    rows = []
    for s, g in site_groups.items():
        verdict = verdicts.get(s, "Not plotted")
        cls = "verdict flag" if verdict.startswith(("Well", "A little")) else "verdict"
        cells = "".join(f"<td>{_esc(counts.text(('cell', s, a)))}</td>" for a in ARMS)
        rows.append(
            f'<tr><th scope="row">{_esc(s)}</th><td>{_esc(counts.text(("site", s)))}</td>{cells}'
            f"<td>{_pct(g.pain_free_rate())}</td><td>{_esc(_weeks(g.median_weeks()))}</td>"
            f'<td>{_pct(g.lost_rate())}</td><td class="{cls}">{_esc(verdict)}</td></tr>'
        )
    arm_heads = "".join(f'<th scope="col">{_esc(ARM_LABELS[a])}</th>' for a in ARMS)
    return (
        '<div class="table-wrap"><table><caption>Sites in alphabetical order'
        f"<span>Counts below {thr} show as &lt;{thr}; * marks a count hidden so a small one "
        "cannot be worked out; rates are not shown for hidden or small sites.</span></caption>"
        f'<thead><tr><th scope="col">Site</th><th scope="col">Episodes</th>{arm_heads}'
        '<th scope="col">Pain-free by 12 weeks</th><th scope="col">Typical weeks to pain-free'
        '</th><th scope="col">Lost to follow-up</th><th scope="col">Compared with all sites</th>'
        f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )


def _data_quality(counts: _Counts) -> str:
    """Rows received, accepted and set aside, and rows by rule broken."""
    dq_rows = [
        ("Rows received", counts.text(("dq", "received"))),
        ("Rows accepted", counts.text(counts.accepted)),
        ("Rows set aside (quarantined)", counts.text(("dq", "quarantined"))),
    ]
    dq_table = (
        '<table><caption>Rows in the clinic export</caption><thead><tr><th scope="col">What'
        '</th><th scope="col">Rows</th></tr></thead><tbody>'
        + "".join(f'<tr><th scope="row">{a}</th><td>{_esc(b)}</td></tr>' for a, b in dq_rows)
        + "</tbody></table>"
    )
    if not counts.rules:
        return dq_table + "<p>No rows were set aside.</p>"
    rule_rows = "".join(
        f'<tr><th scope="row">{_esc(plain_rule(r))}</th><td>{_esc(counts.text(("rule", r)))}'
        "</td></tr>" for r in counts.rules
    )
    return dq_table + (
        '<table><caption>Why rows were set aside<span>A row can break more than one rule, '
        "so these can add up to more than the rows set aside.</span></caption><thead><tr>"
        '<th scope="col">Rule broken</th><th scope="col">Rows</th></tr></thead>'
        f"<tbody>{rule_rows}</tbody></table>"
    )


def _provenance(provenance: Mapping[str, Any], validation: Mapping[str, Any], threshold: int,
                run_date: str) -> str:
    """Definition list of data hash, configuration, versions and run date."""
    config = provenance.get("config")
    config_text = "; ".join(_flatten_config(config)) if config else "defaults (none given)"
    source = validation.get("input") or {}
    data_hash = provenance.get("data_sha256") or source.get("sha256")
    data_file = provenance.get("data_file") or source.get("file")
    items = [
        ("Data file", _esc(data_file or "not recorded")),
        ("Data file SHA-256", f"<code>{_esc(data_hash or 'not recorded')}</code>"),
    ]
    if provenance.get("episodes_sha256"):
        items.append(("Validated episodes SHA-256",
                      f"<code>{_esc(provenance['episodes_sha256'])}</code>"))
    items += [
        ("Configuration", f"<code>{_esc(config_text)}</code>"),
        ("Package version", _esc(provenance.get("package_version")
                                 or validation.get("package_version", "not recorded"))),
        ("Data contract version", _esc(validation.get("contract_version", "not recorded"))),
        ("Small-number threshold", f"counts below {threshold} hidden"),
        ("Date of the run", f"<time>{_esc(run_date)}</time>"),
    ]
    return "".join(f"<dt>{a}</dt><dd>{b}</dd>" for a, b in items)


def build_dashboard(
    episodes: pd.DataFrame,
    validation: Mapping[str, Any],
    out_html: Path,
    *,
    threshold: int = 11,
    provenance: Mapping[str, Any],
) -> Path:
    """Write the clinic outcome dashboard as one self-contained HTML page.

    Parameters
    ----------
    episodes
        Validated episodes (``validate_episodes(...).valid`` or ``episodes.valid.parquet``).
    validation
        The ``validation.json`` report of ``rehab-outcomes validate``.
    out_html
        Output file; its folder is created.
    threshold
        Small-number threshold: counts from 1 to ``threshold - 1`` are suppressed, and no rate,
        median or curve point rests on fewer than ``threshold`` people.
    provenance
        ``run_date`` (required, ``YYYY-MM-DD`` or a date), and optionally ``data_file``,
        ``data_sha256`` (default: the input hash in ``validation``), ``episodes_sha256``,
        ``config`` (a dict), ``package_version``.

    Returns
    -------
    Path
        ``out_html``.
    """
    if int(threshold) < 1:
        raise ValueError(f"threshold must be at least 1, got {threshold}")
    if "run_date" not in provenance or provenance["run_date"] is None:
        raise ValueError("provenance must give run_date (for a reproducible page)")
    thr = int(threshold)
    df = derive_outcomes(episodes)
    df["arm"] = df["arm"].astype(str)
    df["site"] = df["site"].astype(str)
    sites = sorted(df["site"].unique().tolist(), key=lambda s: (s.casefold(), s))
    counts = _suppressed_counts(df, sites, validation, thr)
    status = counts.status
    arm_groups = {a: _group(df[df["arm"] == a], status[("arm", a)], thr) for a in ARMS}
    site_groups = {s: _group(df[df["site"] == s], status[("site", s)], thr) for s in sites}
    overall = _group(df, status[("total",)], thr).pain_free_rate()
    funnel = _funnel(overall, site_groups, thr)
    verdicts = {name: verdict for name, _, _, verdict in funnel.points}
    quarters, series = _trend_series(df, thr)
    dates = df["first_visit_date"]
    period = (f"first visits from {_month_year(dates.min())} to {_month_year(dates.max())}"
              if len(df) else "no episodes")
    run_date = str(provenance["run_date"])[:10]
    cards = _cards(arm_groups, counts)
    site_table = _site_table(site_groups, verdicts, counts)
    dq_html = _data_quality(counts)
    prov_html = _provenance(provenance, validation, thr, run_date)
    pf_figure = _km_figure("km-pf", arm_groups, "pain_free", thr)
    re_figure = _km_figure("km-re", arm_groups, "reinjury", thr)
    trend_figure = _trend_figure("trend", quarters, series)
    funnel_figure = _funnel_figure("funnel", funnel, thr)

    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Runner's knee: clinic outcomes</title>
<style>{_CSS}</style>
</head>
<body>
<header class="top"><div class="wrap">
<h1>Runner's knee: clinic outcomes</h1>
<p>All sites, {_esc(period)}. Report of {_esc(run_date)}.</p>
</div></header>
<main class="wrap">
<section aria-labelledby="h-headline">
<h2 id="h-headline">Headline figures by treatment</h2>
<p class="intro">How patients did under each of the three treatments. Patients were not assigned
to treatments at random, so differences can partly reflect who received which treatment.</p>
<div class="cards">{cards}</div>
</section>
<section aria-labelledby="h-pf">
<h2 id="h-pf">Time to pain-free running</h2>
<p class="intro">Each line rises as patients reach pain-free running. A line that rises earlier
and higher means faster recovery. The numbers below the chart count patients still being followed
who had not yet reached pain-free running.</p>
<figure>{_legend()}{pf_figure}
<figcaption>Kaplan–Meier estimates, which allow for patients who stopped being followed. Lines
stop where fewer than {thr} patients were still being followed. &lt;{thr}: fewer than {thr};
*: hidden so that a small count cannot be worked out from its neighbours.</figcaption></figure>
</section>
<section aria-labelledby="h-re">
<h2 id="h-re">Injured again after returning to running</h2>
<p class="intro">Among patients who reached pain-free running, the share injured again, counted
from the day they returned. Lower lines are better.</p>
<figure>{_legend()}{re_figure}
<figcaption>Kaplan–Meier estimates. Lines stop where fewer than {thr} patients were still being
followed. &lt;{thr}: fewer than {thr}; *: hidden so that a small count cannot be worked out from
its neighbours.</figcaption></figure>
</section>
<section aria-labelledby="h-trend">
<h2 id="h-trend">Trend by quarter of first visit</h2>
<p class="intro">Share of patients pain-free by 12 weeks, for patients who started treatment in
each quarter. Gaps mean too few patients, or a recent quarter not yet followed for 12 weeks.</p>
<figure>{_legend(include_all=True)}{trend_figure}</figure>
</section>
<section aria-labelledby="h-sites">
<h2 id="h-sites">Sites</h2>
<p class="intro">Each dot is a site. Small sites vary more by chance, so the expected range
(between the lines) is wider on the left. A dot outside the solid lines is unusual and worth a
conversation; sites are not ranked.</p>
<figure>{funnel_figure}
<figcaption>The horizontal line is the share for all sites together. Dashed lines: range expected
by chance 95 times in 100. Solid lines: 998 times in 1,000. Sites with fewer than {thr} episodes,
or whose count is hidden, are not plotted. The lines assume every patient was followed for 12
weeks.</figcaption></figure>
{site_table}
</section>
<section aria-labelledby="h-quality">
<h2 id="h-quality">Data quality</h2>
<p class="intro">Rows of the clinic export that broke a rule of the data contract are set aside
and not used above. A high number of rows set aside is worth raising with whoever prepares the
export.</p>
<div class="two">{dq_html}</div>
</section>
</main>
<footer><div class="wrap">
<h2>Where these numbers come from</h2>
<dl>{prov_html}</dl>
</div></footer>
</body>
</html>
"""
    out_html = Path(out_html)
    # Written atomically: into a temporary folder beside the page, then moved into place, so
    # a failed or killed run leaves the previous page whole.
    from rehab_outcomes.outputs import AtomicOutputs

    with AtomicOutputs(out_html.parent, managed=[out_html.name]) as tmp:
        with open(tmp / out_html.name, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(page)
    return out_html


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
