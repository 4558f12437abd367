"""Every count the dashboard's pages print or imply, in one audited linear system.

See docs/disclosure.md: table counts, counts revealed by printed shares, latent counts (people
who left between two numbers at risk, ...), the equations that tie them; protected by
:meth:`~rehab_outcomes.reporting.suppression.CountSystem.protect` and audited again at build
time (a page that fails is not written).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rehab_outcomes.contract import ARMS
from rehab_outcomes.reporting.groups import ALL, NET, PAIN_FREE_WEEKS, Group
from rehab_outcomes.reporting.suppression import (
    LATENT,
    RATE,
    SHOWN,
    TABLE,
    CountSystem,
    DisclosureError,
)

if TYPE_CHECKING:
    from rehab_outcomes.reporting.adherence import AdherenceCounts

__all__ = ["Published", "published_counts"]


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


def published_counts(groups: dict[tuple[str, str], Group], sites: list[str],
                     validation: Mapping[str, Any], n_total: int, threshold: int, tau: float,
                     pf_ticks: list[float], re_ticks: list[float],
                     casemix_counts: dict[str, tuple[int, int]],
                     adherence: AdherenceCounts | None = None) -> Published:
    """Every count the pages print, and every count a printed rate or number at risk reveals.

    Table counts: episodes by site × arm with margins, data quality. Rates: each shown share
    reveals its numerator and complement (pain-free by 12 weeks, re-injury by ``tau`` among
    those who returned, lost to follow-up, and the funnel's complete-case shares). Numbers at
    risk: each shown number and the people who left between two times. With ``adherence``
    (training logs), the pain-rule section's counts (:func:`_adherence`), tied to the
    episodes of the same sites.
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
    if adherence is not None:
        _adherence(cs, adherence, sites, threshold)
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


#: Families of the pain-rule section's counts (keys ``(family, site or NET)``).
ADHERENCE_FAMILIES = ("adh-n", "adh-n~", "adh-wk", "adh-wk+", "adh-run", "adh-run~", "adh-risk",
                      "adh-norisk", "adh-brk", "adh-brk~")


def _adherence(cs: CountSystem, adh: AdherenceCounts, sites: list[str], threshold: int) -> None:
    """The pain-rule section: per site and for all sites (``NET``), in the arm ``adh.arm``.

    Printed: ``adh-n`` (episodes with logs) and ``adh-risk`` (weeks at risk of a rule break).
    Revealed by printed shares: ``adh-run``/``adh-run~`` (logged weeks with and without a run)
    and ``adh-brk``/``adh-brk~`` (weeks at risk with and without a rule break). Latent:
    ``adh-n~`` (episodes without logs: episodes with logs plus these are the arm's episodes of
    the site, printed in the sites table), ``adh-wk`` (logged weeks), ``adh-wk+`` (logged weeks
    beyond one per runner with a log: a runner with a log has at least one logged week) and
    ``adh-norisk`` (weeks with a run not at risk: weeks at risk are weeks with a run). Every
    family adds up over the sites to the all-sites count. Week figures are shown only for
    groups with at least ``threshold`` runners with logs, the rule-break share only with at
    least ``threshold`` runners at risk and its denominator printed as a number.
    """
    arm = adh.arm
    for g in [*sites, NET]:
        c = adh.rows[g]
        net = g == NET
        # far cheaper than every other count: withheld first, so that the pain rule's section
        # changes as little of the rest of the pages as possible
        rc = 0.1 if net else 0.02
        cs.add(("adh-n", g), c["episodes_logged"], TABLE, 0.2 if net else 0.05)
        cs.add(("adh-n~", g), c["episodes"] - c["episodes_logged"], LATENT)
        cs.equal([("adh-n", g), ("adh-n~", g)], ("n", (g, arm)))
        cs.add(("adh-wk", g), c["weeks_logged"], LATENT)
        # each runner with a log has at least one logged week: weeks = runners + the rest
        cs.add(("adh-wk+", g), c["weeks_logged"] - c["episodes_logged"], LATENT)
        cs.equal([("adh-n", g), ("adh-wk+", g)], ("adh-wk", g))
        cs.add(("adh-run", g), c["weeks_run"], RATE, rc)
        cs.add(("adh-run~", g), c["weeks_logged"] - c["weeks_run"], RATE, rc)
        cs.equal([("adh-run", g), ("adh-run~", g)], ("adh-wk", g))
        cs.add(("adh-risk", g), c["weeks_at_risk"], TABLE, 0.15 if net else 0.04)
        cs.add(("adh-norisk", g), c["weeks_run"] - c["weeks_at_risk"], LATENT)
        cs.equal([("adh-risk", g), ("adh-norisk", g)], ("adh-run", g))
        cs.add(("adh-brk", g), c["weeks_break"], RATE, rc)
        cs.add(("adh-brk~", g), c["weeks_at_risk"] - c["weeks_break"], RATE, rc)
        cs.equal([("adh-brk", g), ("adh-brk~", g)], ("adh-risk", g))
        for name in ("adh-run", "adh-brk"):
            cs.together([(name, g), (f"{name}~", g)])
        for name in ("adh-brk", "adh-brk~"):
            cs.requires((name, g), ("adh-risk", g))
        if c["episodes_logged"] < threshold or c["weeks_logged"] == 0:
            for name in ("adh-run", "adh-risk", "adh-brk"):
                cs.hide((name, g))
        if c["episodes_at_risk"] < threshold or c["weeks_at_risk"] == 0:
            cs.hide(("adh-brk", g))
    for name in ADHERENCE_FAMILIES:
        cs.equal([(name, s) for s in sites], (name, NET))
