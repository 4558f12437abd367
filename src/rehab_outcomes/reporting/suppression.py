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

from collections.abc import Callable, Hashable, Mapping, Sequence
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
        self._by_key: dict[Hashable, list[int]] = {}
        for n, (parts, total) in enumerate(self.equations):
            for k in (*parts, total):
                self._by_key.setdefault(k, []).append(n)
        status = self._primary()
        self._propagate(status)
        passed: set[Hashable] = set()
        for _ in range(max_rounds):
            finding = None
            lp = _LP(self, status)
            base = _Lazy(lambda: _LP(self, status, free_shown=True))
            for k in self.values:
                if k in passed or status[k] == SHOWN:
                    continue
                f = _check(self, k, status, lp, base)
                if f is None:
                    passed.add(k)  # hiding more only widens ranges: it stays protected
                else:
                    finding = f
                    break
            if finding is None:
                self.status = status
                return dict(status)
            pick = self._complement(finding, status)
            if pick is None:
                raise DisclosureError(f"cannot protect {finding}")
            status[pick] = self._hidden_status(pick)
            self._propagate(status)
        raise DisclosureError("complementary suppression did not finish")

    def _candidates(self, key: Hashable, status: Mapping[Hashable, str]) -> list[Hashable]:
        """Shown counts that could protect ``key``: those in equations with ``key``, then in
        equations with the hidden counts tied to it (breadth first), cheapest first."""
        def usable(c: Hashable) -> bool:
            return status[c] == SHOWN and self.values[c] > 0 and self.kinds[c] != LATENT

        seen, frontier, found = {key}, [key], []
        while frontier and len(found) < 40:
            nxt = []
            for k in frontier:
                for eq in self._by_key.get(k, ()):
                    parts, total = self.equations[eq]
                    for c in (*parts, total):
                        if c in seen:
                            continue
                        seen.add(c)
                        if usable(c):
                            found.append(c)
                        elif status[c] != SHOWN:
                            nxt.append(c)
            frontier = nxt
        fam = _family(key)
        return sorted(found, key=lambda c: (_family(c) != fam, self.cost.get(c, 0.0),
                                            self.values[c]))

    def _complement(self, finding: Finding, status: dict[Hashable, str]) -> Hashable | None:
        """The shown count whose withholding widens the range of ``finding.key`` most per cost
        (each of the cheapest candidates is tried with the linear programs)."""
        cands = self._candidates(finding.key, status)
        if not cands:
            return None
        width = finding.upper - finding.lower
        best: tuple[tuple[float, int], Hashable] | None = None
        for c in cands[:12]:
            trial = dict(status)
            trial[c] = self._hidden_status(c)
            self._propagate(trial)
            lo, hi = _LP(self, trial).range(finding.key)
            gain = (hi - lo) - width
            if gain <= 1e-9:
                continue
            rank = (self.cost.get(c, 0.0) / min(gain, self.threshold), self.values[c])
            if best is None or rank < best[0]:
                best = (rank, c)
        return best[1] if best is not None else cands[0]  # same family, cheapest first


    def audit(self, status: Mapping[Hashable, str] | None = None) -> list[Finding]:
        """Every hidden count whose feasible range is narrower than the rules allow (LP)."""
        status = dict(self.status if status is None else status)
        lp = _LP(self, status)
        base = _Lazy(lambda: _LP(self, status, free_shown=True))
        return [f for k in self.values if status[k] != SHOWN
                for f in [_check(self, k, status, lp, base)] if f is not None]

    def ranges(self, status: Mapping[Hashable, str] | None = None) -> dict[Hashable, tuple[float, float]]:
        """Feasible range (LP min and max) of every hidden count, as an auditor computes it."""
        status = dict(self.status if status is None else status)
        lp = _LP(self, status)
        return {k: lp.range(k) for k in self.values if status[k] != SHOWN}

    def text(self, key: Hashable) -> str:
        """Printed text of a table count: number, ``<t`` or ``*``."""
        return format_count(self.values[key], self.threshold, self.status[key])  # type: ignore[arg-type]


def _family(key: Hashable) -> Hashable:
    """The table a key belongs to: its first element when it is a tuple (``("n", g)``: n)."""
    return key[0] if isinstance(key, tuple) and key else key


class _Lazy:
    """A value built on first use."""

    def __init__(self, make: Callable[[], _LP]) -> None:
        self.make = make
        self.value: _LP | None = None

    def __call__(self) -> _LP:
        if self.value is None:
            self.value = self.make()
        return self.value


class _LP:
    """The linear programs of an audit for one set of statuses.

    Shown counts are known numbers: they are moved to the right-hand side, so the programs hold
    only the hidden counts, split into the groups that equations tie together (each solved on
    its own). ``free_shown``: counts shown as numbers other than 0 are unknown too (what the
    symbols and zeros alone tell).
    """

    def __init__(self, system: CountSystem, status: Mapping[Hashable, str],
                 free_shown: bool = False) -> None:
        self.system = system
        self.status = status
        self.free_shown = free_shown
        t = system.threshold
        unknown = [k for k in system.values
                   if status[k] != SHOWN or (free_shown and system.values[k] > 0)]
        self.index = {k: i for i, k in enumerate(unknown)}
        self.keys = unknown
        bounds: list[tuple[float, float | None]] = []
        for k in unknown:
            st = status[k]
            bounds.append((1, t - 1) if st == SMALL else (t, None) if st == WITHHELD else (0, None))
        self.bounds = bounds
        parent = list(range(len(unknown)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        rows: list[tuple[list[int], list[float], float]] = []
        for parts, total in system.equations:
            cols, coefs, rhs = [], [], 0.0
            for k, c in [*((p, 1.0) for p in parts), (total, -1.0)]:
                if k in self.index:
                    cols.append(self.index[k])
                    coefs.append(c)
                else:
                    rhs -= c * system.values[k]
            if not cols:
                continue
            rows.append((cols, coefs, rhs))
            root = find(cols[0])
            for c in cols[1:]:
                parent[find(c)] = root
        comp = np.array([find(i) for i in range(len(unknown))], dtype=np.int64)
        self.component = comp
        self.rows_of: dict[int, list[int]] = {}
        for r, (cols, _c, _r) in enumerate(rows):
            self.rows_of.setdefault(int(comp[cols[0]]), []).append(r)
        self.rows = rows
        self._cache: dict[int, Any] = {}
        self._solvers: dict[int, _Solver] = {}

    def _component(self, comp: int) -> Any:
        if comp not in self._cache:
            from scipy.sparse import coo_matrix

            sel = np.flatnonzero(self.component == comp)
            local = {int(g): i for i, g in enumerate(sel)}
            rr, cc, vv, b = [], [], [], []
            for n, r in enumerate(self.rows_of.get(comp, [])):
                cols, coefs, rhs = self.rows[r]
                for c, v in zip(cols, coefs, strict=True):
                    rr.append(n)
                    cc.append(local[c])
                    vv.append(v)
                b.append(rhs)
            a = (coo_matrix((vv, (rr, cc)), shape=(len(b), sel.size)).tocsr() if b else None)
            self._cache[comp] = (sel, a, np.asarray(b) if b else None,
                                 [self.bounds[int(g)] for g in sel])
        return self._cache[comp]

    def range(self, key: Hashable) -> tuple[float, float]:
        """Smallest and largest value of ``key`` consistent with everything printed."""
        i = self.index[key]
        comp = int(self.component[i])
        sel, a, beq, bounds = self._component(comp)
        j = int(np.flatnonzero(sel == i)[0])
        if a is None:  # tied to nothing printed: only its symbol bounds it
            lo, hi = bounds[j]
            return float(lo), float("inf") if hi is None else float(hi)
        solver = self._solvers.get(comp)
        if solver is None:
            solver = self._solvers[comp] = _Solver(a, beq, bounds)
        out = solver.range(j)
        if out is None:
            raise DisclosureError(f"the audit LP of {key!r} failed")
        return out


class _Solver:
    """Minimum and maximum of each variable of one linear program ``A x = b``, bounds.

    Uses one HiGHS model kept warm between objectives (SciPy's bundled HiGHS); if that is not
    available it falls back to :func:`scipy.optimize.linprog` (same solver, one model per call).
    """

    def __init__(self, a: Any, b: np.ndarray, bounds: list[tuple[float, float | None]]) -> None:
        self.a, self.b, self.bounds = a, b, bounds
        self.h: Any = None
        try:
            self._build()
        except Exception:  # a private SciPy API: fall back to linprog
            self.h = None

    def _build(self) -> None:
        from scipy.optimize._highspy import _core

        self.core = _core
        n = self.a.shape[1]
        csc = self.a.tocsc()
        lp = _core.HighsLp()
        lp.num_col_, lp.num_row_ = n, self.a.shape[0]
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.array([float(lo) for lo, _ in self.bounds])
        lp.col_upper_ = np.array([_core.kHighsInf if hi is None else float(hi)
                                  for _, hi in self.bounds])
        lp.row_lower_ = np.asarray(self.b, dtype=float)
        lp.row_upper_ = np.asarray(self.b, dtype=float)
        lp.a_matrix_.format_ = _core.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr
        lp.a_matrix_.index_ = csc.indices
        lp.a_matrix_.value_ = csc.data.astype(float)
        lp.a_matrix_.num_col_ = n
        lp.a_matrix_.num_row_ = self.a.shape[0]
        h = _core._Highs()
        h.setOptionValue("output_flag", False)
        if h.passModel(lp) != _core.HighsStatus.kOk:
            raise RuntimeError("HiGHS refused the model")
        self.cols = np.arange(n, dtype=np.int32)
        self.h = h

    def range(self, j: int) -> tuple[float, float] | None:
        if self.h is None:
            return self._linprog(j)
        core, h = self.core, self.h
        cost = np.zeros(self.cols.size)
        cost[j] = 1.0
        h.changeColsCost(self.cols.size, self.cols, cost)
        out = []
        for sense in (core.ObjSense.kMinimize, core.ObjSense.kMaximize):
            h.changeObjectiveSense(sense)
            h.run()
            status = h.getModelStatus()
            if status == core.HighsModelStatus.kOptimal:
                out.append(float(h.getInfo().objective_function_value))
            elif status == core.HighsModelStatus.kUnbounded and sense == core.ObjSense.kMaximize:
                out.append(float("inf"))
            else:
                return self._linprog(j)
        return out[0], out[1]

    def _linprog(self, j: int) -> tuple[float, float] | None:
        from scipy.optimize import linprog

        c = np.zeros(self.a.shape[1])
        c[j] = 1.0
        out = []
        for sign in (1.0, -1.0):
            res = linprog(sign * c, A_eq=self.a, b_eq=self.b, bounds=self.bounds, method="highs")
            if res.status == 3:
                out.append(-sign * np.inf)
            elif res.status != 0:
                return None
            else:
                out.append(sign * float(res.fun))
        return out[0], out[1]


def _check(system: CountSystem, key: Hashable, status: Mapping[Hashable, str], lp: _LP,
           baseline: Callable[[], _LP]) -> Finding | None:
    """The finding of ``key`` if its range is too narrow (see :meth:`CountSystem.audit`)."""
    t = system.threshold
    v = system.values[key]
    s = status[key]
    if t <= 2 or not (s == WITHHELD or 1 <= v < t):
        return None
    lo, hi = lp.range(key)
    need = t - 2  # t - 1 possible values, as many as a "<t" symbol leaves
    tol = 1e-6
    if hi - lo >= need - tol:
        return None
    lo0, hi0 = baseline().range(key)
    if hi - lo >= min(need, hi0 - lo0) - tol:
        return None  # as wide as the symbols alone allow: the shown numbers add nothing
    rule = (f"at least {t - 1} possible values (or as many as the symbols and zeros alone "
            f"leave: {hi0 - lo0 + 1:g})")
    return Finding(key, v, s, lo, hi, rule)


# ----------------------------------------------------------------------------------------------
# curves


def coarsen_steps(
    time: np.ndarray,
    n_event: np.ndarray,
    surv: np.ndarray,
    threshold: int = DEFAULT_THRESHOLD,
    *,
    keep: Sequence[float] = (),
    end: float = float("inf"),
) -> list[tuple[float, float]]:
    """Points ``(time, 1 - S)`` of a step curve in which every step holds ``threshold`` events.

    Adjacent event times are merged until a step holds at least ``threshold`` events; the
    step is drawn at the last of its times, at the curve's value there. At each published
    horizon in ``keep`` (a share printed elsewhere) a step ends, so that the printed share and
    the curve never differ by fewer than ``threshold`` events: events since the last step that
    are too few to form one are merged into that step. Leftover events after the last full step
    are merged into it too. Events after ``end`` (where fewer than ``threshold`` are at risk) are
    not drawn. A curve with fewer than ``threshold`` events gets no point (it is not drawn).

    Examples
    --------
    >>> t = np.arange(1.0, 7.0); d = np.ones(6); s = np.cumprod(1 - d / np.arange(20.0, 14.0, -1))
    >>> [(a, round(b, 3)) for a, b in coarsen_steps(t, d, s, 3)]
    [(3.0, 0.15), (6.0, 0.3)]
    >>> coarsen_steps(t, d, s, 7)
    []
    """
    _check_threshold(threshold)
    time = np.asarray(time, dtype=float)
    n_event = np.asarray(n_event, dtype=float)
    surv = np.asarray(surv, dtype=float)
    sel = (n_event > 0) & (time <= end)
    t, d, s = time[sel], n_event[sel], surv[sel]
    horizons = sorted(float(h) for h in keep)
    points: list[list[float]] = []  # time, survival, events
    acc = 0.0
    for i in range(t.size):
        acc += d[i]
        nxt = t[i + 1] if i + 1 < t.size else float("inf")
        at_horizon = any(t[i] <= h < nxt for h in horizons)
        if acc >= threshold:
            points.append([t[i], s[i], acc])
            acc = 0.0
        elif at_horizon and acc > 0 and points:
            points[-1] = [t[i], s[i], points[-1][2] + acc]
            acc = 0.0
    if acc > 0 and points:
        points[-1] = [t[-1], s[-1], points[-1][2] + acc]
    return [(float(a), float(1.0 - b)) for a, b, _ in points]
