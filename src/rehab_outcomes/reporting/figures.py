"""Publication figures of the survival analysis, written as PNG and SVG.

Every function takes tidy DataFrames and a path *stem*, writes ``stem.png`` and ``stem.svg`` and
returns both paths. Figures are drawn on the Agg canvas (no pyplot state), with the Okabe–Ito
colour-blind-safe palette, one fixed colour and line style per arm, and deterministic output:
fixed SVG hash salt, glyphs as paths, no dates or software versions in the metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Final

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter, PercentFormatter

from rehab_outcomes.contract.schema import ARMS, REFERENCE_ARM
from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.reporting.style import (  # one definition of the arms' styles
    ARM_COLOURS,
    ARM_LABELS,
    ARM_LINESTYLES,
    EXTRA_COLOURS,
    arm_label,
)

DEFAULT_AT_RISK_TIMES: Final = (0, 4, 8, 12, 26, 52)

_RC: Final = {
    "svg.hashsalt": "rehab-outcomes",
    "svg.fonttype": "path",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "savefig.dpi": 150,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
}


def _order_arms(arms: Iterable[str]) -> list[str]:
    present = set(map(str, arms))
    return [a for a in ARMS if a in present] + sorted(present - set(ARMS))


def _styles(arms: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``arm -> (colour, linestyle)``; arms outside the contract take the extra colours in order."""
    extra = iter(EXTRA_COLOURS * (1 + len(arms) // len(EXTRA_COLOURS)))
    return {
        a: (ARM_COLOURS[a], ARM_LINESTYLES[a]) if a in ARM_COLOURS else (next(extra), ":")
        for a in arms
    }


def _check(df: pd.DataFrame | None, columns: Sequence[str], name: str) -> pd.DataFrame:
    if df is None or len(df) == 0:
        raise AnalysisError(f"Nothing to plot: the {name} table is empty.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AnalysisError(f"The {name} table lacks columns {missing}.")
    return df


def _rc() -> AbstractContextManager[None]:
    return mpl.rc_context({**sns.axes_style("whitegrid"), **_RC})


def _new_figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, stem: str | Path) -> tuple[Path, Path]:
    """Write ``stem.png`` and ``stem.svg`` without dates or software versions."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.with_name(stem.name + ".png")
    svg = stem.with_name(stem.name + ".svg")
    fig.savefig(png, format="png", metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return png, svg


# ------------------------------------------------------------------------------ step curves
def _at_risk(times: np.ndarray, n_at_risk: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Number at risk at each time in ``at``: the count at the first table time ≥ it, else 0."""
    idx = np.searchsorted(times, at, side="left")
    inside = idx < times.size
    return np.where(inside, n_at_risk[np.minimum(idx, times.size - 1)], 0).astype(int)


#: Tick steps in weeks tried for the time axis, shortest first.
TICK_STEPS: Final = (1, 2, 4, 8, 13, 26, 52, 104)


def choose_ticks(t_max: float, preferred: Sequence[float] = DEFAULT_AT_RISK_TIMES,
                 label_chars: int = 4, axis_inches: float = 4.8,
                 font_pt: float = 9.0) -> np.ndarray:
    """Times of the x ticks (and of the at-risk numbers under them) that cover the follow-up
    and leave room for every number: ``preferred`` ticks when they fit and reach the end of
    follow-up, otherwise equally spaced ticks of the shortest step that fits.

    >>> choose_ticks(52.0, label_chars=3).tolist()
    [0.0, 4.0, 8.0, 12.0, 26.0, 52.0]
    >>> choose_ticks(52.0, label_chars=5).tolist()  # 0, 4, 8 would overlap
    [0.0, 8.0, 16.0, 24.0, 32.0, 40.0, 48.0]
    >>> choose_ticks(104.0, label_chars=5).tolist()
    [0.0, 13.0, 26.0, 39.0, 52.0, 65.0, 78.0, 91.0, 104.0]
    """
    right = max(float(t_max), 1.0)
    # a label needs about 0.6 em per digit plus a gap of one em between labels
    room = (0.6 * label_chars + 1.0) * font_pt / 72.0
    min_gap = right * room / axis_inches

    def fits(ticks: np.ndarray) -> bool:
        return len(ticks) < 2 or bool(np.min(np.diff(ticks)) >= min_gap)

    pref = np.array(sorted({0.0, *(float(t) for t in preferred if 0 <= t <= right)}))
    if fits(pref) and pref[-1] >= 0.75 * right:
        return pref
    for step in TICK_STEPS:
        if step >= min_gap:
            return np.arange(0.0, right + 1e-9, float(step))
    return np.array([0.0, right])


def _step_figure(
    table: pd.DataFrame,
    value: str,
    start: float,
    ylabel: str,
    xlabel: str,
    at_risk_times: Sequence[float],
    legend_loc: str,
    title: str | None,
) -> Figure:
    arms = _order_arms(table["arm"].unique())
    styles = _styles(arms)
    t_max = float(table["time"].max())
    widest = len(f"{int(table['n_at_risk'].max()):d}") if len(table) else 1
    ticks = choose_ticks(t_max, at_risk_times, label_chars=widest)
    fig = _new_figure((7.5, 4.6 + 0.3 * len(arms)))
    gs = fig.add_gridspec(2, 1, height_ratios=[4.0, 0.45 + 0.3 * len(arms)])
    ax = fig.add_subplot(gs[0])
    tab = fig.add_subplot(gs[1], sharex=ax)
    for i, arm in enumerate(arms):
        d = table[table["arm"].astype(str) == arm].sort_values("time", kind="mergesort")
        colour, ls = styles[arm]
        t = np.concatenate([[0.0], d["time"].to_numpy(float)])
        y = np.concatenate([[start], d[value].to_numpy(float)])
        lo = np.concatenate([[start], d["lower"].to_numpy(float)])
        hi = np.concatenate([[start], d["upper"].to_numpy(float)])
        ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.18, linewidth=0)
        ax.step(t, y, where="post", color=colour, linestyle=ls, linewidth=2, label=arm_label(arm))
        if "n_censored" in d.columns:
            cens = d["n_censored"].to_numpy() > 0
            ax.plot(t[1:][cens], y[1:][cens], "|", color=colour, markersize=6, markeredgewidth=1)
        counts = _at_risk(t[1:], d["n_at_risk"].to_numpy(), ticks)
        row = len(arms) - 1 - i
        for x, n in zip(ticks, counts, strict=True):
            tab.text(x, row, f"{n:d}", ha="center", va="center", color=colour, fontsize=9)
    right = max(t_max, float(ticks.max()))
    ax.set_xlim(-0.02 * right, right * 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(ticks)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="x", labelbottom=True)
    ax.legend(loc=legend_loc, frameon=True)
    if title:
        ax.set_title(title)
    tab.set_ylim(-0.6, len(arms) - 0.4)
    tab.set_yticks(range(len(arms)), [arm_label(a) for a in reversed(arms)], fontsize=9)
    tab.tick_params(axis="x", labelbottom=False, length=0)
    tab.tick_params(axis="y", length=0, pad=12)
    tab.grid(False)
    for spine in tab.spines.values():
        spine.set_visible(False)
    tab.set_title("Number at risk", loc="left", fontsize=9, fontweight="normal")
    return fig


def plot_km(
    km_table: pd.DataFrame,
    outcome_label: str,
    stem: str | Path,
    at_risk_times: Sequence[float] = DEFAULT_AT_RISK_TIMES,
    *,
    xlabel: str = "Weeks",
    title: str | None = None,
) -> tuple[Path, Path]:
    """Kaplan–Meier curves by arm with confidence bands, censoring ticks and an at-risk table.

    Parameters
    ----------
    km_table
        ``arm, time, n_at_risk, n_events, n_censored, survival, lower, upper``: one row per
        distinct time per arm (the time-0 point is added here).
    outcome_label
        Y-axis label, e.g. ``"Not yet running pain-free"``.
    stem
        Output path without suffix.
    at_risk_times
        Times of the at-risk table (those beyond the last time are dropped).
    xlabel, title
        Axis label and optional title.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and SVG paths.
    """
    cols = ["arm", "time", "n_at_risk", "n_events", "n_censored", "survival", "lower", "upper"]
    table = _check(km_table, cols, "Kaplan–Meier")
    with _rc():
        fig = _step_figure(
            table, "survival", 1.0, outcome_label, xlabel, at_risk_times, "upper right", title
        )
        return _save(fig, stem)


def plot_cumulative_incidence(
    cuminc_table: pd.DataFrame,
    stem: str | Path,
    *,
    outcome_label: str = "Cumulative incidence",
    xlabel: str = "Weeks",
    at_risk_times: Sequence[float] = DEFAULT_AT_RISK_TIMES,
    title: str | None = None,
) -> tuple[Path, Path]:
    """Cumulative incidence curves by arm with confidence bands and an at-risk table.

    Parameters
    ----------
    cuminc_table
        ``arm, time, n_at_risk, cum_incidence, lower, upper`` (the time-0 point is added here).
    stem
        Output path without suffix.
    outcome_label, xlabel, at_risk_times, title
        Labels and at-risk times as in :func:`plot_km`.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and SVG paths.
    """
    cols = ["arm", "time", "n_at_risk", "cum_incidence", "lower", "upper"]
    table = _check(cuminc_table, cols, "cumulative incidence")
    with _rc():
        fig = _step_figure(
            table, "cum_incidence", 0.0, outcome_label, xlabel, at_risk_times, "upper left", title
        )
        return _save(fig, stem)


# ------------------------------------------------------------------------------ forest
def _term_label(term: str) -> str:
    if term.startswith("arm:"):
        return f"{arm_label(term[4:])} vs {arm_label(REFERENCE_ARM).lower()}"
    return term.replace("_", " ")


def plot_forest(
    cox_summary: pd.DataFrame,
    stem: str | Path,
    title: str,
    *,
    xlabel: str = "Hazard ratio (95 % CI, log scale)",
) -> tuple[Path, Path]:
    """Forest plot of hazard ratios with confidence intervals on a log axis.

    Parameters
    ----------
    cox_summary
        ``term, hr, hr_lower, hr_upper`` (further columns are ignored); terms ``arm:<arm>`` are
        labelled and coloured by arm.
    stem
        Output path without suffix.
    title
        Figure title.
    xlabel
        X-axis label.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and SVG paths.
    """
    df = _check(cox_summary, ["term", "hr", "hr_lower", "hr_upper"], "Cox summary")
    vals = df[["hr", "hr_lower", "hr_upper"]].to_numpy(float)
    df = df[np.isfinite(vals).all(axis=1) & (vals > 0).all(axis=1)]
    if df.empty:
        raise AnalysisError("Nothing to plot: no finite, positive hazard ratios.")
    terms = df["term"].astype(str).to_list()
    n = len(terms)
    y = np.arange(n)[::-1]
    lo_all = float(min(df["hr_lower"].min(), 1.0))
    hi_all = float(max(df["hr_upper"].max(), 1.0))
    xlim = (lo_all / 1.25, hi_all * 1.25)
    with _rc():
        fig = _new_figure((7.5, 1.4 + 0.42 * n))
        ax = fig.add_subplot()
        ax.axvline(1.0, color="0.35", linewidth=1, linestyle="--", zorder=1)
        for yi, term, (hr, lo, hi) in zip(y, terms, df[["hr", "hr_lower", "hr_upper"]].to_numpy(float), strict=True):
            colour = ARM_COLOURS.get(term[4:], "0.2") if term.startswith("arm:") else "0.2"
            ax.plot([lo, hi], [yi, yi], color=colour, linewidth=2, solid_capstyle="butt", zorder=2)
            ax.plot([hr], [yi], marker="s", color=colour, markersize=7, zorder=3)
            ax.annotate(
                f"{hr:.2f} ({lo:.2f}–{hi:.2f})", xy=(1.02, yi), xycoords=("axes fraction", "data"),
                va="center", ha="left", fontsize=9,
            )
        ax.set_xscale("log")
        ax.set_xlim(*xlim)
        ticks = [v for v in (0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 10) if xlim[0] <= v <= xlim[1]]
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.tick_params(axis="x", which="minor", length=0)
        ax.set_yticks(y, [_term_label(t) for t in terms])
        ax.set_ylim(-0.7, n - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.annotate("HR (95 % CI)", xy=(1.02, n - 0.3), xycoords=("axes fraction", "data"),
                    va="bottom", ha="left", fontsize=9, fontweight="bold")
        return _save(fig, stem)


# ------------------------------------------------------------------------------ Love plot
def plot_love(
    balance_table: pd.DataFrame,
    stem: str | Path,
    *,
    threshold: float = 0.1,
    title: str = "Covariate balance before and after weighting",
) -> tuple[Path, Path]:
    """Love plot: standardised mean differences before (open) and after (filled) weighting.

    Parameters
    ----------
    balance_table
        ``term, arm, smd_before, smd_after`` (as ``PropensityModel.balance_``).
    stem
        Output path without suffix.
    threshold
        Dashed reference lines at ± this value.
    title
        Figure title.

    Returns
    -------
    tuple of pathlib.Path
        The PNG and SVG paths.
    """
    df = _check(balance_table, ["term", "arm", "smd_before", "smd_after"], "balance")
    vals = df[["smd_before", "smd_after"]].to_numpy(float)
    df = df[np.isfinite(vals).all(axis=1)]
    if df.empty:
        raise AnalysisError("Nothing to plot: no finite standardised mean differences.")
    terms = list(dict.fromkeys(df["term"].astype(str)))
    arms = _order_arms(df["arm"].unique())
    styles = _styles(arms)
    ypos = dict(zip(terms, np.arange(len(terms))[::-1], strict=True))
    step = 0.5 / max(len(arms), 1)
    with _rc():
        fig = _new_figure((7.5, 1.6 + 0.4 * len(terms) * max(1, len(arms) / 2)))
        ax = fig.add_subplot()
        for x in (-threshold, threshold):
            ax.axvline(x, color="0.35", linewidth=1, linestyle="--", zorder=1)
        ax.axvline(0, color="0.35", linewidth=0.8, zorder=1)
        for i, arm in enumerate(arms):
            d = df[df["arm"].astype(str) == arm]
            colour = styles[arm][0]
            y = d["term"].astype(str).map(ypos).to_numpy(float) + (i - (len(arms) - 1) / 2) * step
            before = d["smd_before"].to_numpy(float)
            after = d["smd_after"].to_numpy(float)
            ax.hlines(y, np.minimum(before, after), np.maximum(before, after),
                      color=colour, linewidth=0.8, alpha=0.6, zorder=2)
            ax.scatter(before, y, s=36, facecolors="white", edgecolors=colour, linewidths=1.5, zorder=3)
            ax.scatter(after, y, s=36, color=colour, zorder=4)
        ax.set_yticks(list(ypos.values()), [t.replace("_", " ") for t in ypos])
        ax.set_ylim(-0.7, len(terms) - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(f"Standardised mean difference vs {arm_label(REFERENCE_ARM).lower()}")
        ax.set_title(title)
        handles = [Line2D([], [], color=styles[a][0], marker="o", linestyle="", label=arm_label(a))
                   for a in arms]
        handles += [
            Line2D([], [], color="0.3", marker="o", markerfacecolor="white", linestyle="",
                   label="Before weighting"),
            Line2D([], [], color="0.3", marker="o", linestyle="", label="After weighting"),
        ]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  fontsize=9)
        return _save(fig, stem)


# ------------------------------------------------------------------------------ trajectories
def plot_trajectories(
    predicted: pd.DataFrame,
    stem: str | Path,
    observed: pd.DataFrame | None = None,
    *,
    xlabel: str = "Weeks since first visit",
    title: str = "Pain at clinic visits by arm: model mean and observed weekly means",
    min_observed_n: int = 11,
    ylabel: str = "Pain (NRS 0–10) recorded at clinic visits",
) -> tuple[Path, Path]:
    """The mixed model's mean pain by arm over weeks (line and band), with the observed weekly
    means beside it (points), so that misfit is visible.

    The outcome is pain recorded at clinic visits (it mixes pain in daily activity and in
    running); runners leave care when they recover, so the observed means at later weeks come
    from those still in care.

    Parameters
    ----------
    predicted
        ``arm, week, pain_nrs``; ``lower, upper`` columns, when present, are drawn as a band.
    stem
        Output path without suffix.
    observed
        Optional ``arm, week, pain_nrs`` of observed mean pain, drawn as points; with an ``n``
        column, means from fewer than ``min_observed_n`` visits are not drawn.
    xlabel, title, ylabel
        Axis labels and title.
    min_observed_n
        Smallest number of visits behind a drawn observed mean (default 11, as for the
        dashboard's small-number rule).

    Returns
    -------
    tuple of pathlib.Path
        The PNG and SVG paths.
    """
    pred = _check(predicted, ["arm", "week", "pain_nrs"], "predicted pain")
    obs = None if observed is None else _check(observed, ["arm", "week", "pain_nrs"], "observed pain")
    if obs is not None and "n" in obs.columns:
        obs = obs[obs["n"] >= min_observed_n]
    arms = _order_arms(pred["arm"].unique() if obs is None else [*pred["arm"].unique(), *obs["arm"].unique()])
    styles = _styles(arms)
    band = {"lower", "upper"} <= set(pred.columns)
    with _rc():
        fig = _new_figure((7.5, 4.6))
        ax = fig.add_subplot()
        for arm in arms:
            colour, ls = styles[arm]
            d = pred[pred["arm"].astype(str) == arm].sort_values("week", kind="mergesort")
            if band and not d.empty:
                ax.fill_between(d["week"].to_numpy(float), d["lower"].to_numpy(float),
                                d["upper"].to_numpy(float), color=colour, alpha=0.18, linewidth=0)
            if not d.empty:
                ax.plot(d["week"].to_numpy(float), d["pain_nrs"].to_numpy(float), color=colour,
                        linestyle=ls, linewidth=2, label=f"{arm_label(arm)} (model mean)")
            if obs is not None:
                o = obs[obs["arm"].astype(str) == arm].sort_values("week", kind="mergesort")
                ax.plot(o["week"].to_numpy(float), o["pain_nrs"].to_numpy(float), "o", color=colour,
                        markersize=4, alpha=0.8,
                        label=f"{arm_label(arm)} (observed mean)" if d.empty else None)
        ax.set_ylim(0, 10)
        ax.set_xlim(left=0)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        handles, labels = ax.get_legend_handles_labels()
        if obs is not None:
            handles.append(Line2D([], [], color="0.3", marker="o", linestyle="", markersize=4))
            labels.append(f"Observed weekly mean (≥ {min_observed_n} visits)")
        ax.legend(handles, labels, loc="upper right", frameon=True)
        return _save(fig, stem)


__all__ = [
    "ARM_COLOURS",
    "ARM_LABELS",
    "arm_label",
    "plot_cumulative_incidence",
    "plot_forest",
    "plot_km",
    "plot_love",
    "plot_trajectories",
]


def show(plot: Callable[..., tuple[Path, Path]], *args: Any, **kwargs: Any) -> None:
    """Draw one of this module's figures into a temporary folder and display the PNG inline
    (in Jupyter). ``show(plot_km, km_table, "Not yet pain-free")`` draws what
    ``plot_km(km_table, "Not yet pain-free", stem)`` would write, without leaving files behind."""
    import tempfile

    from IPython.display import Image, display

    with tempfile.TemporaryDirectory() as tmp:
        png, _svg = plot(*args, stem=Path(tmp) / "figure", **kwargs)
        display(Image(filename=str(png)))
