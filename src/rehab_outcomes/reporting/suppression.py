"""Small-number suppression for published tables, rates and curves.

Rules (the dashboard's defaults, after the CMS cell-size policy; the threshold is a parameter):

- **Primary suppression**: a displayed count from 1 to ``threshold - 1`` is shown as
  ``"<threshold"``; 0 stays 0.
- **Complementary suppression**: where a total and its parts are displayed (a *line*), a hidden
  cell must not be recoverable by subtraction: every line with a hidden cell has at least two
  hidden cells, and when its total is shown the hidden parts must not add up to a small number.
  Extra cells are withheld (shown as ``"*"``), smallest non-zero cell first, until every line
  holds; lines sharing cells (a two-way table with margins) are revisited until nothing changes.
- **Rates and curves**: no rate, median or curve point from fewer than ``threshold`` people at
  risk, and no rate that would let a small numerator (or its complement) be worked out.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np

DEFAULT_THRESHOLD: Final = 11
SHOWN: Final = "shown"
SMALL: Final = "small"
WITHHELD: Final = "withheld"
#: Marker of a cell withheld by complementary suppression.
WITHHELD_MARK: Final = "*"

Status = Literal["shown", "small", "withheld"]


def _check_threshold(threshold: int) -> None:
    if int(threshold) < 1:
        raise ValueError(f"threshold must be at least 1, got {threshold}")


def is_small(value: int, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """True for a count from 1 to ``threshold - 1`` (one that must not be shown).

    Examples
    --------
    >>> [is_small(v) for v in (0, 1, 10, 11)]
    [False, True, True, False]
    """
    _check_threshold(threshold)
    return 1 <= int(value) < threshold


def format_count(value: int, threshold: int = DEFAULT_THRESHOLD, status: Status | None = None) -> str:
    """Text of a count: ``"<threshold"`` if small, ``"*"`` if withheld, else ``"1,234"``.

    Examples
    --------
    >>> format_count(0), format_count(7), format_count(1234), format_count(40, status="withheld")
    ('0', '<11', '1,234', '*')
    """
    _check_threshold(threshold)
    value = int(value)
    if status is None:
        status = SMALL if is_small(value, threshold) else SHOWN
    if status == SMALL:
        return f"<{threshold}"
    if status == WITHHELD:
        return WITHHELD_MARK
    return f"{value:,}"


def suppress_linked(
    values: Mapping[Hashable, int],
    lines: Sequence[tuple[Sequence[Hashable], Hashable]],
    threshold: int = DEFAULT_THRESHOLD,
    cost: Mapping[Hashable, float] | None = None,
) -> dict[Hashable, Status]:
    """Primary and complementary suppression of counts linked by ``parts -> total`` lines.

    Parameters
    ----------
    values
        Every displayed count, by key.
    lines
        ``(parts, total)`` pairs: the parts add up to the total (or are listed next to it) on
        the page. A cell may belong to several lines.
    threshold
        Counts from 1 to ``threshold - 1`` are small.
    cost
        Optional preference: cells with a lower cost are withheld first (default 0); ties go to
        the smallest value, then to the order of ``values``.

    Returns
    -------
    dict
        ``"shown"``, ``"small"`` (primary) or ``"withheld"`` (complementary) for each key.

    Examples
    --------
    >>> s = suppress_linked({"a": 3, "b": 40, "c": 400, "all": 443}, [(["a", "b", "c"], "all")])
    >>> s["a"], s["b"], s["c"], s["all"]
    ('small', 'withheld', 'shown', 'shown')
    """
    _check_threshold(threshold)
    cost = cost or {}
    order = {k: i for i, k in enumerate(values)}
    status: dict[Hashable, Status] = {
        k: SMALL if is_small(v, threshold) else SHOWN for k, v in values.items()
    }
    for parts, total in lines:
        for k in (*parts, total):
            if k not in status:
                raise KeyError(f"line cell {k!r} has no value")
    changed = True
    while changed:
        changed = False
        for parts, total in lines:
            cells = [*parts, total]
            hidden = [c for c in cells if status[c] != SHOWN]
            if not hidden:
                continue
            need = len(hidden) < 2
            if not need and status[total] == SHOWN:
                hidden_sum = sum(int(values[c]) for c in parts if status[c] != SHOWN)
                need = 1 <= hidden_sum < threshold
            if not need:
                continue
            candidates = [c for c in cells if status[c] == SHOWN and int(values[c]) > 0]
            if not candidates:
                continue
            pick = min(candidates, key=lambda c: (cost.get(c, 0.0), int(values[c]), order[c]))
            status[pick] = WITHHELD
            changed = True
    return status


def proportion_allowed(numerator: int, denominator: int, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Whether ``numerator / denominator`` may be shown.

    The denominator must be at least ``threshold``, and neither the numerator nor
    ``denominator - numerator`` may be a small count (either could be worked out from the rate).
    """
    _check_threshold(threshold)
    if denominator < threshold:
        return False
    return not (is_small(numerator, threshold) or is_small(denominator - numerator, threshold))


def km_estimate_allowed(at_risk: int, events: int, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Whether a Kaplan–Meier estimate at a time point may be shown.

    ``at_risk`` is the number still at risk at that time and ``events`` the number of events up
    to it: at least ``threshold`` must remain at risk, and the number of events must not be small.
    """
    _check_threshold(threshold)
    return at_risk >= threshold and not is_small(events, threshold)


def at_risk_statuses(
    counts: Sequence[int] | np.ndarray,
    threshold: int = DEFAULT_THRESHOLD,
    start: int | None = None,
) -> list[Status]:
    """Statuses of a row of numbers at risk (non-increasing counts at successive times).

    A count below the threshold is small. A larger count is withheld when it differs from the
    previous *shown* count (or ``start``, a count shown elsewhere, e.g. the number of episodes)
    by a small number, since the difference would be a small count of people.

    Examples
    --------
    >>> at_risk_statuses([400, 395, 300, 120, 5])
    ['shown', 'withheld', 'shown', 'shown', 'small']
    """
    _check_threshold(threshold)
    previous = start
    out: list[Status] = []
    for value in (int(v) for v in counts):
        if is_small(value, threshold):
            out.append(SMALL)
        elif previous is not None and is_small(previous - value, threshold):
            out.append(WITHHELD)
        else:
            out.append(SHOWN)
            previous = value
    return out



# ----------------------------------------------------------------------------------------------
# a system of published counts, protected and audited by linear programming

#: Kinds of count in a :class:`CountSystem`.
TABLE: Final = "table"  # printed in a table: a number, "<t" or "*"
RATE: Final = "rate"  # revealed by a printed rate (or hidden: "—")
LATENT: Final = "latent"  # never printed, but tied to printed counts (exits between times)
HIDDEN: Final = "hidden"  # status of a rate that is not printed, and of latent counts

Kind = Literal["table", "rate", "latent"]


class DisclosureError(RuntimeError):
    """A published count could be worked out more precisely than the rules allow."""


@dataclass(frozen=True)
class Finding:
    """One hidden count whose feasible range is narrower than the rules allow."""

    key: Hashable
    value: int
    status: str
    lower: float
    upper: float
    rule: str

    def __str__(self) -> str:
        return (f"{self.key!r} ({self.status}) can be worked out to lie in "
                f"[{self.lower:g}, {self.upper:g}]: {self.rule}")


@dataclass
class CountSystem:
    """Every count the pages publish or imply, the equations that tie them, and their statuses.

    Keys are any hashable names. ``equal(parts, total)`` states ``Σ parts = total``: a table
    line, a rate's numerator plus its complement equal to its denominator, a number at risk
    minus the people who left before the next time. ``requires(a, b)``: ``a`` (a rate) is shown
    only while ``b`` (its denominator) is shown as a number; ``together(keys)``: shown or hidden
    together (a rate's numerator and complement).

    :meth:`protect` sets the statuses (primary, then complementary suppression verified by
    :meth:`audit`); :meth:`audit` checks them with linear programs (see ``docs/disclosure.md``).
    """

    threshold: int = DEFAULT_THRESHOLD
    values: dict[Hashable, int] = field(default_factory=dict)
    kinds: dict[Hashable, str] = field(default_factory=dict)
    cost: dict[Hashable, float] = field(default_factory=dict)
    equations: list[tuple[tuple[Hashable, ...], Hashable]] = field(default_factory=list)
    needs: dict[Hashable, list[Hashable]] = field(default_factory=dict)
    groups: dict[Hashable, tuple[Hashable, ...]] = field(default_factory=dict)
    forced: set[Hashable] = field(default_factory=set)
    status: dict[Hashable, str] = field(default_factory=dict)

    def add(self, key: Hashable, value: int, kind: Kind = TABLE, cost: float = 0.0) -> Hashable:
        """Add a count (``kind``: table, rate or latent); returns ``key``."""
        if key in self.values:
            if int(value) != self.values[key]:
                raise ValueError(f"count {key!r} added twice with different values")
            return key
        if int(value) < 0:
            raise ValueError(f"count {key!r} is negative")
        self.values[key] = int(value)
        self.kinds[key] = kind
        self.cost[key] = float(cost)
        return key

    def equal(self, parts: Sequence[Hashable], total: Hashable) -> None:
        """State ``Σ parts = total`` (the values must agree)."""
        for k in (*parts, total):
            if k not in self.values:
                raise KeyError(f"count {k!r} has no value")
        if sum(self.values[k] for k in parts) != self.values[total]:
            raise ValueError(f"parts of {total!r} do not add up to it")
        self.equations.append((tuple(parts), total))

    def requires(self, key: Hashable, other: Hashable) -> None:
        """``key`` may be shown only while ``other`` is shown as a number."""
        self.needs.setdefault(key, []).append(other)

    def together(self, keys: Sequence[Hashable]) -> None:
        """The ``keys`` are shown or hidden together."""
        group = tuple(keys)
        for k in group:
            self.groups[k] = group

    def hide(self, key: Hashable) -> None:
        """Hide ``key`` whatever its value (e.g. a rate resting on too few people at risk)."""
        self.forced.add(key)

    # -- statuses --------------------------------------------------------------------------

    def _primary(self) -> dict[Hashable, str]:
        t = self.threshold
        status: dict[Hashable, str] = {}
        for k, v in self.values.items():
            kind = self.kinds[k]
            if kind == LATENT:
                status[k] = HIDDEN
            elif kind == RATE:
                status[k] = HIDDEN if (is_small(v, t) or k in self.forced) else SHOWN
            else:
                hide = k in self.forced and v > 0
                status[k] = SMALL if is_small(v, t) else (WITHHELD if hide else SHOWN)
        return status

    def _propagate(self, status: dict[Hashable, str]) -> None:
        """Hide together-groups and rates whose denominators are hidden, until nothing changes."""
        changed = True
        while changed:
            changed = False
            for k in self.values:
                if status[k] != SHOWN or (self.kinds[k] == TABLE and self.values[k] == 0):
                    continue
                hide = any(status[o] != SHOWN for o in self.needs.get(k, ()))
                hide = hide or any(status[o] != SHOWN for o in self.groups.get(k, ()))
                if hide:
                    status[k] = self._hidden_status(k)
                    changed = True

    def _hidden_status(self, key: Hashable) -> str:
        if self.kinds[key] == TABLE:
            return SMALL if is_small(self.values[key], self.threshold) else WITHHELD
        return HIDDEN

    def protect(self, max_rounds: int = 10_000) -> dict[Hashable, str]:
        """Primary suppression, then complementary suppression until :meth:`audit` passes.

        Raises :class:`DisclosureError` when no further count can be withheld to protect one.
        """
        status = self._primary()
        self._propagate(status)
        lp = _LP(self)
        passed: set[Hashable] = set()
        for _ in range(max_rounds):
            finding = None
            for k in self.values:
                if k in passed or status[k] == SHOWN:
                    continue
                f = lp.check(k, status)
                if f is None:
                    passed.add(k)  # hiding more only widens ranges: it stays protected
                else:
                    finding = f
                    break
            if finding is None:
                self.status = status
                return dict(status)
            pick = self._complement(finding.key, status)
            if pick is None:
                raise DisclosureError(f"cannot protect {finding}")
            status[pick] = self._hidden_status(pick)
            self._propagate(status)
        raise DisclosureError("complementary suppression did not finish")

    def _complement(self, key: Hashable, status: dict[Hashable, str]) -> Hashable | None:
        """A shown count to withhold next: from an equation holding ``key`` (fewest hidden
        counts first), else from equations holding its hidden neighbours."""
        def shown_in(eq: tuple[tuple[Hashable, ...], Hashable]) -> list[Hashable]:
            return [c for c in (*eq[0], eq[1]) if status[c] == SHOWN and self.values[c] > 0
                    and self.kinds[c] != LATENT]

        def pick(eqs: list[tuple[tuple[Hashable, ...], Hashable]]) -> Hashable | None:
            best = None
            for eq in eqs:
                cells = (*eq[0], eq[1])
                n_hidden = sum(status[c] != SHOWN for c in cells)
                for c in shown_in(eq):
                    rank = (self.cost.get(c, 0.0), n_hidden, self.values[c])
                    if best is None or rank < best[0]:
                        best = (rank, c)
            return None if best is None else best[1]

        near = [eq for eq in self.equations if key in eq[0] or key == eq[1]]
        found = pick(near)
        if found is not None:
            return found
        seen = {key}
        frontier = [key]
        while frontier:
            nxt = []
            for k in frontier:
                for eq in self.equations:
                    cells = (*eq[0], eq[1])
                    if k not in cells:
                        continue
                    for c in cells:
                        if c not in seen and status[c] != SHOWN:
                            seen.add(c)
                            nxt.append(c)
            eqs = [eq for eq in self.equations if any(c in seen for c in (*eq[0], eq[1]))]
            found = pick(eqs)
            if found is not None:
                return found
            frontier = nxt
        return None

    def audit(self, status: Mapping[Hashable, str] | None = None) -> list[Finding]:
        """Every hidden count whose feasible range is narrower than the rules allow (LP)."""
        status = dict(self.status if status is None else status)
        lp = _LP(self)
        return [f for k in self.values if status[k] != SHOWN
                for f in [lp.check(k, status)] if f is not None]

    def ranges(self, status: Mapping[Hashable, str] | None = None) -> dict[Hashable, tuple[float, float]]:
        """Feasible range (LP min and max) of every hidden count, as an auditor computes it."""
        status = dict(self.status if status is None else status)
        lp = _LP(self)
        return {k: lp.range(k, status) for k in self.values if status[k] != SHOWN}

    def text(self, key: Hashable) -> str:
        """Printed text of a table count: number, ``<t`` or ``*``."""
        return format_count(self.values[key], self.threshold, self.status[key])  # type: ignore[arg-type]


class _LP:
    """The linear programs of an audit: one variable per count, the equations as equalities."""

    def __init__(self, system: CountSystem) -> None:
        from scipy.sparse import coo_matrix

        self.system = system
        self.keys = list(system.values)
        self.index = {k: i for i, k in enumerate(self.keys)}
        rows, cols, vals = [], [], []
        for r, (parts, total) in enumerate(system.equations):
            for p in parts:
                rows.append(r)
                cols.append(self.index[p])
                vals.append(1.0)
            rows.append(r)
            cols.append(self.index[total])
            vals.append(-1.0)
        n_eq = len(system.equations)
        self.a_eq = coo_matrix((vals, (rows, cols)), shape=(max(n_eq, 1), len(self.keys))).tocsr()
        self.b_eq = np.zeros(max(n_eq, 1))
        # an equation touches only its own counts: solve each connected part on its own
        parent = list(range(len(self.keys)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for parts, total in system.equations:
            root = find(self.index[total])
            for p in parts:
                parent[find(self.index[p])] = root
        comp = np.array([find(i) for i in range(len(self.keys))])
        self.component = comp
        self._cache: dict[int, Any] = {}

    def bounds(self, status: Mapping[Hashable, str]) -> list[tuple[float, float | None]]:
        t = self.system.threshold
        out: list[tuple[float, float | None]] = []
        for k in self.keys:
            v = self.system.values[k]
            s = status[k]
            if s == SHOWN:
                out.append((v, v))
            elif s == SMALL:
                out.append((1, t - 1))
            elif s == WITHHELD:
                out.append((t, None))
            else:
                out.append((0, None))
        return out

    def range(self, key: Hashable, status: Mapping[Hashable, str]) -> tuple[float, float]:
        from scipy.optimize import linprog

        i = self.index[key]
        comp = int(self.component[i])
        if comp not in self._cache:
            sel = np.flatnonzero(self.component == comp)
            sub = self.a_eq[:, sel]
            rows = np.flatnonzero(np.diff(sub.tocsr().indptr) > 0)
            self._cache[comp] = (sel, sub[rows] if rows.size else None,
                                 self.b_eq[rows] if rows.size else None)
        sel, a, beq = self._cache[comp]
        bounds = self.bounds(status)
        b = [bounds[j] for j in sel]
        c = np.zeros(sel.size)
        c[int(np.flatnonzero(sel == i)[0])] = 1.0
        out = []
        for sign in (1.0, -1.0):
            res = linprog(sign * c, A_eq=a, b_eq=beq, bounds=b, method="highs")
            if res.status == 3:  # unbounded
                out.append(-sign * np.inf)
            elif res.status != 0:
                raise DisclosureError(f"the audit LP of {key!r} failed: {res.message}")
            else:
                out.append(sign * float(res.fun))
        return out[0], out[1]

    def check(self, key: Hashable, status: Mapping[Hashable, str]) -> Finding | None:
        t = self.system.threshold
        v = self.system.values[key]
        s = status[key]
        kind = self.system.kinds[key]
        if t <= 1:
            return None
        if kind == TABLE and s == WITHHELD:
            rule = f"a * count must keep at least {t - 1} possible values"
        elif 1 <= v < t and kind == TABLE:
            rule = f"a <{t} count must stay anywhere from 1 to {t - 1}"
        elif 1 <= v < t:
            rule = f"a hidden small count must keep at least {t - 1} possible values"
        else:
            return None
        lo, hi = self.range(key, status)
        tol = 1e-6
        if kind == TABLE and s != WITHHELD:
            ok = lo <= 1 + tol and hi >= t - 1 - tol
        else:
            ok = hi - lo >= t - 2 - tol
        return None if ok else Finding(key, v, s, lo, hi, rule)
