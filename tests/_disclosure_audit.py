"""An auditor of the published dashboard, written independently of the package.

It reads only what a page publishes (``data/sites.csv``, the episode cards of
``data/headline-by-treatment.csv`` and, with training logs, ``data/adherence.csv``), states every
fact a reader knows as a linear program (scipy's ``linprog``) and asks, for every hidden count,
how far it can be narrowed. Symbols: ``<t`` is 1..t-1, ``*`` is at least t, a number is itself,
``—`` says nothing. A printed share is taken to reveal its numerator and complement exactly
(the pessimistic assumption of docs/disclosure.md). The rule: every hidden count keeps at least
t-1 possible values, or as many as the symbols and zeros alone leave.
"""

from __future__ import annotations

import csv
from collections.abc import Hashable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linprog

ARMS = ("rest_only", "stretching_only", "strength_graded_running")
ARM_LABELS = ("Rest only", "Stretching only", "Strength + graded running")
NET = "__all__"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def symbol_bounds(text: str, threshold: int) -> tuple[float, float | None]:
    """What a printed cell says about its value."""
    if text == f"<{threshold}":
        return 1, threshold - 1
    if text == "*":
        return threshold, None
    v = int(text.replace(",", ""))
    return v, v


class Program:
    """Unknown counts with bounds, tied by ``Σ parts = total`` equations."""

    def __init__(self) -> None:
        self.bounds: dict[Hashable, tuple[float, float | None]] = {}
        self.true: dict[Hashable, int] = {}
        self.printed: dict[Hashable, bool] = {}
        self.equations: list[tuple[list[Hashable], Hashable]] = []

    def var(self, key: Hashable, true: int, bounds: tuple[float, float | None] = (0, None),
            printed: bool = False) -> None:
        assert bounds[0] <= true and (bounds[1] is None or true <= bounds[1]), (key, true, bounds)
        self.bounds[key] = bounds
        self.true[key] = int(true)
        self.printed[key] = printed

    def equal(self, parts: list[Hashable], total: Hashable) -> None:
        assert sum(self.true[p] for p in parts) == self.true[total], (parts, total)
        self.equations.append((parts, total))

    def _matrix(self) -> tuple[list[Hashable], np.ndarray]:
        keys = list(self.bounds)
        idx = {k: i for i, k in enumerate(keys)}
        a = np.zeros((len(self.equations), len(keys)))
        for r, (parts, total) in enumerate(self.equations):
            for p in parts:
                a[r, idx[p]] += 1
            a[r, idx[total]] -= 1
        return keys, a

    def ranges(self, targets: list[Hashable], free_numbers: bool = False
               ) -> dict[Hashable, tuple[float, float]]:
        keys, a = self._matrix()
        bounds = []
        for k in keys:
            lo, hi = self.bounds[k]
            exact = hi is not None and lo == hi
            if free_numbers and exact and lo > 0:  # every number other than 0 unknown
                lo, hi = 0, None
            bounds.append((lo, hi))
        out = {}
        for t in targets:
            c = np.zeros(len(keys))
            c[keys.index(t)] = 1
            lo = linprog(c, A_eq=a, b_eq=np.zeros(len(a)), bounds=bounds, method="highs")
            hi = linprog(-c, A_eq=a, b_eq=np.zeros(len(a)), bounds=bounds, method="highs")
            assert lo.status == 0, (t, lo.message)
            out[t] = (lo.fun, np.inf if hi.status == 3 else -hi.fun)
        return out

    def failures(self, threshold: int) -> list[str]:
        """Hidden counts narrower than the rule allows (empty: the publication is safe)."""
        targets = [k for k, (lo, hi) in self.bounds.items()
                   if not (hi is not None and lo == hi)
                   and (lo >= threshold or 1 <= self.true[k] < threshold)]
        found = self.ranges(targets)
        base = self.ranges(targets, free_numbers=True)
        bad = []
        for k in targets:
            lo, hi = found[k]
            assert lo - 1e-6 <= self.true[k] <= hi + 1e-6, (k, self.true[k], lo, hi)
            need = min(threshold - 2, base[k][1] - base[k][0])
            if hi - lo < need - 1e-6:
                bad.append(f"{k!r} = {self.true[k]} lies in [{lo:g}, {hi:g}]")
        return bad


def dashboard_program(folder: Path, cohort: pd.DataFrame, adherence: pd.DataFrame | None,
                      threshold: int = 11) -> Program:
    """The program of what ``folder`` publishes: the sites × treatments table with its margins
    and, with ``adherence`` (the analysis' exact ``adherence.csv``), the pain-rule table.

    The true values come from ``cohort`` and ``adherence``; only the printed symbols bound them.
    """
    pr = Program()
    sites_rows = read_csv(folder / "data" / "sites.csv")
    cards = {r["treatment"]: r["value"] for r in
             read_csv(folder / "data" / "headline-by-treatment.csv") if r["figure"] == "Episodes"}
    counts = cohort.groupby([cohort["site"].astype(str), cohort["arm"].astype(str)]).size()
    sites = [r["site"] for r in sites_rows]
    for r in sites_rows:
        s = r["site"]
        true = [int(counts.get((s, a), 0)) for a in ARMS]
        pr.var(("n", s, "all"), sum(true), symbol_bounds(r["episodes"], threshold), True)
        for a, label, v in zip(ARMS, ARM_LABELS, true, strict=True):
            pr.var(("n", s, a), v, symbol_bounds(r[label], threshold), True)
        pr.equal([("n", s, a) for a in ARMS], ("n", s, "all"))
    for a, label in zip(ARMS, ARM_LABELS, strict=True):
        pr.var(("n", NET, a), int(counts.xs(a, level=1).sum()) if a in
               counts.index.get_level_values(1) else 0, symbol_bounds(cards[label], threshold),
               True)
    pr.var(("n", NET, "all"), len(cohort), symbol_bounds(cards["All treatments"], threshold),
           True)
    for a in (*ARMS, "all"):
        pr.equal([("n", s, a) for s in sites], ("n", NET, a))
    pr.equal([("n", NET, a) for a in ARMS], ("n", NET, "all"))
    if adherence is None:
        return pr
    published = {r["site"]: r for r in read_csv(folder / "data" / "adherence.csv")}
    true_rows = {(NET if r["level"] == "all sites" else str(r["site"])): r
                 for r in adherence.to_dict(orient="records")}
    arm = str(adherence["arm"].iloc[0])
    groups = [*sites, NET]
    for g in groups:
        p = published["All sites" if g == NET else g]
        t = {k: int(v) for k, v in true_rows[g].items()
             if k not in ("level", "site", "arm", "run_share", "break_share")}
        assert p["episodes"] == pr_text(pr, ("n", g, arm), threshold)
        pr.var(("L", g), t["episodes_logged"], symbol_bounds(p["episodes_with_logs"], threshold),
               True)
        pr.var(("U", g), t["episodes"] - t["episodes_logged"])
        pr.equal([("L", g), ("U", g)], ("n", g, arm))
        pr.var(("R", g), t["weeks_at_risk"],
               symbol_bounds(p["weeks_rule_said_do_not_step_up"], threshold), True)
        pr.var(("W", g), t["weeks_logged"])
        run_shown = p["logged_weeks_with_a_run_percent"] != "—"
        brk_shown = p["stepped_up_anyway_percent"] != "—"
        for key, value, shown in (
                (("Rn", g), t["weeks_run"], run_shown),
                (("Rn~", g), t["weeks_logged"] - t["weeks_run"], run_shown),
                (("B", g), t["weeks_break"], brk_shown),
                (("B~", g), t["weeks_at_risk"] - t["weeks_break"], brk_shown)):
            pr.var(key, value, (value, value) if shown else (0, None), shown)
        pr.var(("NR", g), t["weeks_run"] - t["weeks_at_risk"])
        pr.var(("W+", g), t["weeks_logged"] - t["episodes_logged"])  # a runner logs a week
        pr.equal([("L", g), ("W+", g)], ("W", g))
        pr.equal([("Rn", g), ("Rn~", g)], ("W", g))
        pr.equal([("R", g), ("NR", g)], ("Rn", g))
        pr.equal([("B", g), ("B~", g)], ("R", g))
        if run_shown:  # the printed share is the true one
            assert p["logged_weeks_with_a_run_percent"] == f"{100 * t['weeks_run'] / t['weeks_logged']:.1f}"
        if brk_shown:
            assert p["stepped_up_anyway_percent"] == f"{100 * t['weeks_break'] / t['weeks_at_risk']:.1f}"
    for fam in ("L", "U", "R", "W", "W+", "Rn", "Rn~", "NR", "B", "B~"):
        pr.equal([(fam, s) for s in sites], (fam, NET))
    return pr


def pr_text(pr: Program, key: Hashable, threshold: int) -> str:
    """The printed text a program variable came from (for cross-checking two tables)."""
    lo, hi = pr.bounds[key]
    if hi is None:
        return "*"
    if lo == 1 and hi == threshold - 1:
        return f"<{threshold}"
    return str(int(lo))
