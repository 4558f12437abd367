"""Scales, axes and the dashboard's charts as inline SVG (escaped, deterministic, no scripts).

Every chart has a ``viewBox`` and is drawn twice, once for wide screens and paper and once for
phones (narrower, larger text, fewer ticks); the page's CSS shows one of them, so text never
shrinks below legibility and nothing scrolls sideways. Each SVG has ``role="img"``, a
``<title>`` and a ``<desc>`` that states the numbers in words.

>>> nice_ticks(0, 1000)
[0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
>>> nice_ticks(0, 52, step_multiple=13)
[0.0, 13.0, 26.0, 39.0, 52.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from markupsafe import Markup, escape

__all__ = [
    "Curve",
    "FunnelPoint",
    "LAYOUTS",
    "Layout",
    "LinearScale",
    "funnel_chart",
    "nice_ticks",
    "step_chart",
]


@dataclass(frozen=True)
class Layout:
    """Size and type of one variant of a chart (SVG user units)."""

    name: str
    width: float
    font: float
    left: float
    right: float
    max_ticks: int


LAYOUTS: Final = (
    Layout("wide", 880.0, 14.0, 64.0, 30.0, 9),
    Layout("narrow", 360.0, 13.0, 50.0, 24.0, 4),
)


def _f(x: float) -> str:
    """A coordinate with one decimal (deterministic text)."""
    return f"{float(x):.1f}"


def el(tag: str, attrs: dict[str, object] | None = None, *children: object) -> Markup:
    """An SVG element with escaped attributes and children (text children are escaped)."""
    parts = [f"<{tag}"]
    for key, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        parts.append(f' {key}="{escape(str(value))}"')
    if not children:
        return Markup("".join(parts) + "/>")
    inner = "".join(str(escape(c)) for c in children)
    return Markup("".join(parts) + ">" + inner + f"</{tag}>")


@dataclass(frozen=True)
class LinearScale:
    """Maps ``domain`` linearly onto ``range`` (either may be reversed)."""

    domain: tuple[float, float]
    range: tuple[float, float]

    def __call__(self, value: float | np.ndarray) -> np.ndarray:
        d0, d1 = self.domain
        r0, r1 = self.range
        span = (d1 - d0) or 1.0
        return r0 + (np.asarray(value, dtype=float) - d0) / span * (r1 - r0)


def nice_ticks(lo: float, hi: float, max_ticks: int = 6,
               step_multiple: float | None = None) -> list[float]:
    """Round tick values from ``lo`` up to at least ``hi``: the smallest step of 1, 2, 2.5 or
    5 × 10^k (or a multiple of ``step_multiple``) giving at most ``max_ticks`` ticks."""
    if not hi > lo:
        return [float(lo)]
    if step_multiple:
        candidates = [step_multiple * m for m in (1, 2, 3, 4, 6, 8, 12, 16, 24, 48)]
    else:
        candidates = sorted(b * 10.0**p for p in range(-4, 10) for b in (1, 2, 2.5, 5))
    step = candidates[-1]
    for c in candidates:
        first = math.floor(lo / c + 1e-9) * c
        last = math.ceil(hi / c - 1e-9) * c
        if round((last - first) / c) + 1 <= max_ticks:
            step = c
            break
    first = math.floor(lo / step + 1e-9) * step
    n = round((math.ceil(hi / step - 1e-9) * step - first) / step)
    return [float(round(first + k * step, 10)) for k in range(n + 1)]


def _svg(ident: str, layout: Layout, height: float, title: str, desc: str,
         body: Iterable[Markup]) -> Markup:
    tid, did = f"{ident}-{layout.name}-t", f"{ident}-{layout.name}-d"
    head = (f'<svg class="chart chart-{layout.name}" viewBox="0 0 {_f(layout.width)} {_f(height)}"'
            f' role="img" aria-labelledby="{tid} {did}" focusable="false"'
            f' style="--font:{_f(layout.font)}px">')
    inner = el("title", {"id": tid}, title) + el("desc", {"id": did}, desc)
    return Markup(head) + inner + Markup("".join(str(b) for b in body)) + Markup("</svg>")


def _y_axis(y: LinearScale, x0: float, x1: float, ticks: Sequence[float],
            fmt: Callable[[float], str], layout: Layout) -> list[Markup]:
    out = []
    for t in ticks:
        yy = float(y(t))
        out.append(el("line", {"x1": _f(x0), "x2": _f(x1), "y1": _f(yy), "y2": _f(yy),
                               "class": "grid"}))
        out.append(el("text", {"x": _f(x0 - 6), "y": _f(yy + layout.font * 0.35),
                               "text-anchor": "end", "class": "tick"}, fmt(t)))
    return out


def _x_axis(x: LinearScale, y0: float, ticks: Sequence[float], fmt: Callable[[float], str],
            label: str, layout: Layout, x0: float, x1: float) -> list[Markup]:
    out = [el("line", {"x1": _f(x0), "x2": _f(x1), "y1": _f(y0), "y2": _f(y0), "class": "axisline"})]
    for t in ticks:
        xx = float(x(t))
        out.append(el("line", {"x1": _f(xx), "x2": _f(xx), "y1": _f(y0), "y2": _f(y0 + 5),
                               "class": "axisline"}))
        out.append(el("text", {"x": _f(xx), "y": _f(y0 + 6 + layout.font), "text-anchor": "middle",
                               "class": "tick"}, fmt(t)))
    out.append(el("text", {"x": _f((x0 + x1) / 2), "y": _f(y0 + 10 + 2.2 * layout.font),
                           "text-anchor": "middle", "class": "axis"}, label))
    return out


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


# ----------------------------------------------------------------------------------------------
# step curves (Kaplan–Meier)


@dataclass(frozen=True)
class Curve:
    """One drawn step curve: its points (time, cumulative share) already coarsened."""

    key: str
    label: str
    colour: str
    dash: str
    points: Sequence[tuple[float, float]]
    end: float  # the curve is drawn flat from its last point up to here


def _step_path(c: Curve, x: LinearScale, y: LinearScale) -> str:
    d = [f"M{_f(x(0.0))},{_f(y(0.0))}"]
    for t, v in c.points:
        d.append(f"H{_f(x(t))}V{_f(y(v))}")
    d.append(f"H{_f(x(c.end))}")
    return "".join(d)


def step_chart(ident: str, title: str, desc: str, curves: Sequence[Curve], x_max: float,
               x_label: str, y_max: float = 1.0, mark: tuple[float, str] | None = None
               ) -> Markup:
    """Cumulative step curves by group (both layouts); ``mark`` draws a dotted vertical line."""
    out = []
    for layout in LAYOUTS:
        top, plot_h = 12.0, 250.0 if layout.name == "wide" else 220.0
        x0, x1 = layout.left, layout.width - layout.right
        y0, y1 = top + plot_h, top
        x = LinearScale((0.0, x_max), (x0, x1))
        y = LinearScale((0.0, y_max), (y0, y1))
        body: list[Markup] = []
        yt = nice_ticks(0.0, y_max, 6 if layout.name == "wide" else 5)
        body += _y_axis(y, x0, x1, yt, _pct, layout)
        step = 13.0 if x_max <= 13 * layout.max_ticks else 26.0
        xt = nice_ticks(0.0, x_max, layout.max_ticks + 1, step_multiple=step)
        body += _x_axis(x, y0, xt, lambda t: f"{t:.0f}", x_label, layout, x0, x1)
        if mark is not None:
            xm = float(x(mark[0]))
            body.append(el("line", {"x1": _f(xm), "x2": _f(xm), "y1": _f(y1), "y2": _f(y0),
                                    "class": "mark"}))
            body.append(el("text", {"x": _f(xm + 4), "y": _f(y1 + layout.font), "class": "note"},
                           mark[1]))
        for c in curves:
            if not c.points and not c.end:
                continue
            body.append(el("path", {"d": _step_path(c, x, y), "fill": "none",
                                    "stroke": c.colour, "stroke-width": "2.6",
                                    "stroke-dasharray": c.dash or None,
                                    "class": f"curve curve-{c.key}"}))
        height = y0 + 14 + 2.6 * layout.font
        out.append(_svg(ident, layout, height, title, desc, body))
    return Markup("").join(out)


# ----------------------------------------------------------------------------------------------
# funnel plot


@dataclass(frozen=True)
class FunnelPoint:
    """One site on the funnel plot."""

    label: str
    x: float
    y: float
    band: str  # within, above_95, above_998, below_95, below_998


@dataclass
class _Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def hits(self, other: _Box) -> bool:
        return not (self.x1 <= other.x0 or other.x1 <= self.x0
                    or self.y1 <= other.y0 or other.y1 <= self.y0)


@dataclass
class _Placer:
    """Places point labels without overlaps (greedy; a label that does not fit is left out)."""

    bounds: _Box
    font: float
    boxes: list[_Box] = field(default_factory=list)

    def reserve(self, box: _Box) -> None:
        self.boxes.append(box)

    def place(self, cx: float, cy: float, text: str) -> tuple[float, float, str] | None:
        w = 0.6 * self.font * len(text) + 2
        h = self.font * 1.15
        r = 7.0
        options = [
            (cx + r + 2, cy + h * 0.35, "start", _Box(cx + r, cy - h / 2, cx + r + 4 + w, cy + h / 2)),
            (cx - r - 2, cy + h * 0.35, "end", _Box(cx - r - 4 - w, cy - h / 2, cx - r, cy + h / 2)),
            (cx, cy - r - 4, "middle", _Box(cx - w / 2, cy - r - 4 - h, cx + w / 2, cy - r - 2)),
            (cx, cy + r + h, "middle", _Box(cx - w / 2, cy + r + 2, cx + w / 2, cy + r + 4 + h)),
        ]
        for tx, ty, anchor, box in options:
            inside = (box.x0 >= self.bounds.x0 and box.x1 <= self.bounds.x1
                      and box.y0 >= self.bounds.y0 and box.y1 <= self.bounds.y1)
            if inside and not any(box.hits(b) for b in self.boxes):
                self.boxes.append(box)
                return tx, ty, anchor
        return None


def marker(shape: str, cx: float, cy: float, colour: str, size: float = 6.0,
           label: str | None = None) -> Markup:
    """A filled marker (circle, square, triangle up/down, diamond) with an optional tooltip."""
    s = size
    if shape == "square":
        node = el("rect", {"x": _f(cx - s * 0.8), "y": _f(cy - s * 0.8), "width": _f(1.6 * s),
                           "height": _f(1.6 * s), "fill": colour})
    elif shape in ("triangle", "up"):
        node = el("path", {"d": f"M{_f(cx)},{_f(cy - s)}L{_f(cx + s)},{_f(cy + s * 0.75)}"
                                f"L{_f(cx - s)},{_f(cy + s * 0.75)}Z", "fill": colour})
    elif shape == "down":
        node = el("path", {"d": f"M{_f(cx)},{_f(cy + s)}L{_f(cx + s)},{_f(cy - s * 0.75)}"
                                f"L{_f(cx - s)},{_f(cy - s * 0.75)}Z", "fill": colour})
    elif shape == "diamond":
        node = el("path", {"d": f"M{_f(cx)},{_f(cy - s)}L{_f(cx + s)},{_f(cy)}L{_f(cx)},"
                                f"{_f(cy + s)}L{_f(cx - s)},{_f(cy)}Z", "fill": colour})
    else:
        node = el("circle", {"cx": _f(cx), "cy": _f(cy), "r": _f(s * 0.85), "fill": colour,
                             "stroke": "#fff", "stroke-width": "1.2"})
    if label:
        return el("g", {"class": "point"}, el("title", {}, label), node)
    return node


BAND_SHAPES: Final = {"within": "circle", "above_95": "up", "above_998": "up",
                      "below_95": "down", "below_998": "down"}


def funnel_chart(ident: str, title: str, desc: str, target: float,
                 limits: Callable[[np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]],
                 points: Sequence[FunnelPoint], colours: dict[str, str], x_label: str,
                 y_label: str) -> Markup:
    """Funnel plot: target line, 95 % (dashed) and 99.8 % (solid) limits, labelled sites."""
    xs = [p.x for p in points]
    x_hi = max(xs) * 1.1 if xs else 100.0
    out = []
    for layout in LAYOUTS:
        top, plot_h = 12.0, 300.0 if layout.name == "wide" else 260.0
        x0, x1 = layout.left + 8, layout.width - layout.right
        y0, y1 = top + plot_h, top
        xt = nice_ticks(0.0, x_hi, 6 if layout.name == "wide" else 4)
        x_max = xt[-1]
        x = LinearScale((0.0, x_max), (x0, x1))
        x_start = max(x_max / 60.0, 1.0)
        grid = np.geomspace(x_start, x_max, 120)
        lim = limits(grid)
        # y range: all points and the limits from a tenth of the axis on
        vis = grid >= x_max / 10.0
        lo_candidates = [p.y for p in points] + [target]
        hi_candidates = list(lo_candidates)
        for lo_l, hi_l in lim.values():
            lo_candidates.append(float(np.min(lo_l[vis])))
            hi_candidates.append(float(np.max(hi_l[vis])))
        y_lo = max(0.0, min(lo_candidates) - 0.05)
        y_hi = min(1.0, max(hi_candidates) + 0.05)
        yt = nice_ticks(y_lo, y_hi, 6 if layout.name == "wide" else 5)
        y_lo, y_hi = min(y_lo, yt[0]), max(y_hi, yt[-1])
        y = LinearScale((y_lo, y_hi), (y0, y1))
        body: list[Markup] = [Markup(f'<clipPath id="{ident}-{layout.name}-clip">'
                                     f'<rect x="{_f(x0)}" y="{_f(y1)}" width="{_f(x1 - x0)}" '
                                     f'height="{_f(y0 - y1)}"/></clipPath>')]
        body += _y_axis(y, x0, x1, yt, _pct, layout)
        label = x_label if layout.name == "wide" else x_label.split(" (")[0]
        body += _x_axis(x, y0, xt, lambda v: f"{v:,.0f}", label, layout, x0, x1)
        body.append(el("text", {"x": _f(12), "y": _f((y0 + y1) / 2), "class": "axis",
                                "text-anchor": "middle",
                                "transform": f"rotate(-90 12 {_f((y0 + y1) / 2)})"}, y_label))
        lines = [el("line", {"x1": _f(x0), "x2": _f(x1), "y1": _f(y(target)),
                             "y2": _f(y(target)), "stroke": colours["target"],
                             "stroke-width": "1.6"})]
        for key, (lo_l, hi_l) in lim.items():
            cls = "lim95" if key == "95" else "lim998"
            colour = colours["limit95"] if key == "95" else colours["limit998"]
            for arr in (lo_l, hi_l):
                d = "M" + "L".join(f"{_f(a)},{_f(b)}" for a, b in zip(x(grid), y(arr), strict=True))
                lines.append(el("path", {"d": d, "fill": "none", "stroke": colour,
                                         "stroke-width": "1.5", "class": cls}))
        body.append(el("g", {"clip-path": f"url(#{ident}-{layout.name}-clip)"}, *lines))
        placer = _Placer(_Box(x0, y1, x1, y0), layout.font)
        for p in points:
            cx, cy = float(x(p.x)), float(y(p.y))
            placer.reserve(_Box(cx - 7, cy - 7, cx + 7, cy + 7))
        marks, labels = [], []
        for p in sorted(points, key=lambda q: (q.band == "within", -q.x)):
            cx, cy = float(x(p.x)), float(y(p.y))
            colour = colours["within" if p.band == "within" else p.band.split("_")[0]]
            marks.append(marker(BAND_SHAPES.get(p.band, "circle"), cx, cy, colour, 7.0,
                                label=f"{p.label}: {_pct(p.y)}"))
            spot = placer.place(cx, cy, p.label)
            if spot is not None:
                tx, ty, anchor = spot
                labels.append(el("text", {"x": _f(tx), "y": _f(ty), "text-anchor": anchor,
                                          "class": "pointlabel"}, p.label))
        body += marks + labels
        height = y0 + 14 + 2.6 * layout.font
        out.append(_svg(ident, layout, height, title, desc, body))
    return Markup("").join(out)
