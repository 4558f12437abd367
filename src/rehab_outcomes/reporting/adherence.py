"""The dashboard's section on keeping to the pain rule (strength + graded running, training logs).

Shown only when the analysis folder holds ``adherence.csv`` (written by ``rehab-outcomes
analyse --sessions``, :func:`~rehab_outcomes.survival.tv_analysis.adherence_table`): per site and
for all sites, the arm's episodes, those with training logs, the share of logged weeks with a
run, the weeks in which the rule forbade a step up and the share of them in which the runner
stepped up anyway. The table's exact counts are read (never recomputed), checked against the
episodes, and published through the dashboard's one count system
(:func:`~rehab_outcomes.reporting.published.published_counts`), so they are suppressed and
audited with every other count of the pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from rehab_outcomes.contract import ARMS
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.reporting import style
from rehab_outcomes.reporting.groups import NET

__all__ = ["ADHERENCE_FIELDS", "AdherenceCounts", "adherence_counts", "adherence_view"]

#: Count columns of ``adherence.csv`` that the dashboard reads.
ADHERENCE_FIELDS: Final = ("episodes", "episodes_logged", "weeks_logged", "weeks_run",
                           "weeks_at_risk", "episodes_at_risk", "weeks_break")
#: ``level`` of the all-sites row (:data:`rehab_outcomes.survival.tv_analysis.ALL_SITES`).
_ALL_SITES: Final = "all sites"
_NOT_MATCHING: Final = ("the analysis' adherence.csv does not match these episodes ({}): run "
                        "`analyse --sessions` on these episodes again")


@dataclass(frozen=True)
class AdherenceCounts:
    """The exact counts of ``adherence.csv``: ``rows[site]`` and ``rows[NET]`` (all sites),
    each a mapping of :data:`ADHERENCE_FIELDS` to integers, for the treatment ``arm``."""

    arm: str
    rows: dict[str, dict[str, int]]

    def share(self, group: str, numerator: str, denominator: str) -> float | None:
        """``numerator / denominator`` of ``group`` (``None`` when the denominator is 0)."""
        row = self.rows[group]
        return row[numerator] / row[denominator] if row[denominator] else None


def _int(value: Any, what: str) -> int:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(_NOT_MATCHING.format(f"{what} is not a count")) from None
    if not number.is_integer() or number < 0:
        raise ConfigError(_NOT_MATCHING.format(f"{what} is not a count"))
    return int(number)


def adherence_counts(table: pd.DataFrame | None, sites: Sequence[str],
                     episodes_in_arm: Callable[[str, str], int]) -> AdherenceCounts | None:
    """The counts of ``adherence.csv`` (read as text), checked against the episodes.

    Parameters
    ----------
    table
        ``AnalysisOutputs.adherence``; ``None`` or a table without rows (no training logs, or
        the piece could not be computed): the section is left out.
    sites
        The sites of the episodes.
    episodes_in_arm
        ``(site or NET, arm) -> episodes`` counted from the episodes given to the dashboard.

    Raises
    ------
    ConfigError
        When the table does not describe these episodes: another arm, an unknown or missing
        site, other numbers of episodes, an all-sites row that is not the sum of the sites, or
        counts that cannot hold together (more weeks with a run than logged weeks, ...).
    """
    if table is None or len(table) == 0:
        return None
    missing = [c for c in ("level", "site", "arm", *ADHERENCE_FIELDS) if c not in table.columns]
    if missing:
        raise ConfigError(_NOT_MATCHING.format(f"no column {missing[0]}"))
    arms = set(table["arm"].astype(str))
    if len(arms) != 1 or next(iter(arms)) not in ARMS:
        raise ConfigError(_NOT_MATCHING.format("not one known treatment"))
    arm = next(iter(arms))
    rows: dict[str, dict[str, int]] = {}
    for n, rec in enumerate(table.to_dict(orient="records")):
        level = str(rec["level"])
        key = NET if level == _ALL_SITES else str(rec["site"])
        if level not in ("site", _ALL_SITES) or key in rows or (key != NET and key not in sites):
            raise ConfigError(_NOT_MATCHING.format(f"row {n + 1} names no site of the episodes "
                                                   "or repeats one"))
        rows[key] = {f: _int(rec[f], f) for f in ADHERENCE_FIELDS}
    if NET not in rows:
        raise ConfigError(_NOT_MATCHING.format("no row of all sites"))
    for s in sites:
        if s not in rows:
            if episodes_in_arm(s, arm):
                raise ConfigError(_NOT_MATCHING.format("a site is missing"))
            rows[s] = dict.fromkeys(ADHERENCE_FIELDS, 0)
    for key, row in rows.items():
        if row["episodes"] != episodes_in_arm(key, arm):
            raise ConfigError(_NOT_MATCHING.format("other numbers of episodes"))
        ordered = (row["weeks_break"] <= row["weeks_at_risk"] <= row["weeks_run"]
                   <= row["weeks_logged"] and row["episodes_at_risk"] <= row["episodes_logged"]
                   <= row["episodes"] and row["episodes_logged"] <= row["weeks_logged"]
                   and row["episodes_at_risk"] <= row["weeks_at_risk"])
        if not ordered:
            raise ConfigError(_NOT_MATCHING.format("counts that do not hold together"))
    for f in ADHERENCE_FIELDS:
        if sum(rows[s][f] for s in sites) != rows[NET][f]:
            raise ConfigError(_NOT_MATCHING.format("the all-sites row is not the sum of the "
                                                   "sites"))
    return AdherenceCounts(arm, {k: rows[k] for k in [*sites, NET]})


def _pct(p: float | None, not_shown: str) -> str:
    return not_shown if p is None else f"{100.0 * p:.1f}%"


def adherence_view(counts: AdherenceCounts, groups: Sequence[tuple[str, str]],
                   text: Callable[[Any], str], shown: Callable[[Any], bool], threshold: int,
                   not_shown: str, data_href: str, lead: tuple[str, str] = (NET, "all sites")
                   ) -> tuple[dict[str, Any], pd.DataFrame]:
    """What the section shows for ``groups`` (``(site or NET, row label)``), and its CSV.

    ``text(key)`` and ``shown(key)`` are the published statuses of the count system (keys
    ``("adh-n", g)``, ``("adh-risk", g)``, ``("adh-run", g)``, ``("adh-brk", g)`` and
    ``("n", (g, arm))``): the page and the CSV hold exactly the printed values. ``lead``:
    the group and its words for the opening sentence.
    """
    arm = counts.arm
    rows, records = [], []
    for g, label in groups:
        run = counts.share(g, "weeks_run", "weeks_logged") if shown(("adh-run", g)) else None
        brk = counts.share(g, "weeks_break", "weeks_at_risk") if shown(("adh-brk", g)) else None
        cells = [text(("n", (g, arm))), text(("adh-n", g)), _pct(run, not_shown),
                 text(("adh-risk", g)), _pct(brk, not_shown)]
        rows.append({"label": label, "all": g == NET, "cells": cells})
        records.append({
            "site": label, "episodes": cells[0].replace(",", ""),
            "episodes_with_logs": cells[1].replace(",", ""),
            "logged_weeks_with_a_run_percent": not_shown if run is None else f"{100 * run:.1f}",
            "weeks_rule_said_do_not_step_up": cells[3].replace(",", ""),
            "stepped_up_anyway_percent": not_shown if brk is None else f"{100 * brk:.1f}"})
    g, words = lead
    lead_brk = (counts.share(g, "weeks_break", "weeks_at_risk")
                if shown(("adh-brk", g)) else None)
    lead_text = (f"At {words}, runners stepped up anyway in {_pct(lead_brk, not_shown)} of the "
                 "logged weeks in which the pain rule said not to." if lead_brk is not None else
                 f"How often runners at {words} stepped up when the pain rule said not to is "
                 "not shown: too few runners or weeks lie behind it.")
    view = {
        "arm": arm, "arm_label": style.arm_label(arm), "rows": rows, "lead": lead_text,
        "columns": ["Episodes", "With training logs",
                    "Logged weeks with a run", "Weeks the rule said “do not step up”",
                    "Stepped up anyway"],
        "limits": ("These figures come from the runners' own training logs, which are "
                   "incomplete and self-reported, so they describe the weeks that were logged "
                   "rather than everything runners did; whether breaking the rule makes a new "
                   "injury more likely is estimated, from observational data, in the analysis "
                   "tables (msm_rule.csv), not on this page."),
        "data_href": data_href, "threshold": threshold,
    }
    return view, pd.DataFrame(records, columns=[
        "site", "episodes", "episodes_with_logs", "logged_weeks_with_a_run_percent",
        "weeks_rule_said_do_not_step_up", "stepped_up_anyway_percent"])


def episodes_in_arm_of(groups: Mapping[tuple[str, str], Any]) -> Callable[[str, str], int]:
    """``(site or NET, arm) -> episodes`` from the dashboard's groups (0 when absent)."""
    def count(site: str, arm: str) -> int:
        grp = groups.get((site, arm))
        return int(grp.n) if grp is not None else 0

    return count
