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
from typing import Final, Literal

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

