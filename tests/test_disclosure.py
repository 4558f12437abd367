"""Disclosure control as an auditor checks it: linear programs over every published constraint.

The auditor's programs here are written independently of the package (scipy's ``linprog`` on
the printed symbols): ``<t`` is 1..t-1, ``*`` is at least t, a number is itself, and every
table line adds up. The rule (docs/disclosure.md): every hidden count keeps at least t-1
possible values, or as many as the symbols and zeros alone leave.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from _dashboard_data import (
    ATTACK_SITE_ARMS,
    make_attack_cohort,
    make_sessions,
    make_validation,
    provenance,
    write_analysis,
)
from _disclosure_audit import dashboard_program
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from rehab_outcomes.contract import derive_outcomes
from rehab_outcomes.reporting.dashboard import build_dashboard
from rehab_outcomes.reporting.suppression import (
    _LP,
    SHOWN,
    CountSystem,
    _Solver,
    coarsen_steps,
    format_count,
    suppress_linked,
)

ARMS = ("rest_only", "stretching_only", "strength_graded_running")


# ----------------------------------------------------------------------------------------------
# the auditor's own programs


def symbol_bounds(text: str, threshold: int, free_numbers: bool = False) -> tuple[float, float | None]:
    """What a printed cell says about its value."""
    if text == f"<{threshold}":
        return 1, threshold - 1
    if text == "*":
        return threshold, None
    v = int(text.replace(",", ""))
    return (0, None) if free_numbers and v > 0 else (v, v)


def auditor_ranges(table: dict[str, list[str]], col_totals: list[str], grand: str,
                   threshold: int, free_numbers: bool = False) -> dict[tuple[str, int], tuple[float, float]]:
    """LP ranges of every cell of a sites × (total, arms...) table with arm totals printed.

    ``table[site] = [site total, arm 1, arm 2, arm 3]`` as printed.
    """
    names: list[tuple[str, int]] = []
    bounds = []
    for site, row in table.items():
        for j, text in enumerate(row):
            names.append((site, j))
            bounds.append(symbol_bounds(text, threshold, free_numbers))
    for j, text in enumerate(col_totals, start=1):
        names.append(("__total__", j))
        bounds.append(symbol_bounds(text, threshold, free_numbers))
    names.append(("__total__", 0))
    bounds.append(symbol_bounds(grand, threshold, free_numbers))
    idx = {n: i for i, n in enumerate(names)}
    rows = []
    sites = [*table, "__total__"]
    for s in sites:  # each row: arms add up to its total
        r = np.zeros(len(names))
        r[idx[(s, 0)]] = -1
        for j in (1, 2, 3):
            r[idx[(s, j)]] = 1
        rows.append(r)
    for j in (0, 1, 2, 3):  # each column: sites add up to the total
        r = np.zeros(len(names))
        r[idx[("__total__", j)]] = -1
        for s in table:
            r[idx[(s, j)]] = 1
        rows.append(r)
    a = np.array(rows)
    out = {}
    for n in names:
        if n[0] == "__total__":
            continue
        c = np.zeros(len(names))
        c[idx[n]] = 1
        lo = linprog(c, A_eq=a, b_eq=np.zeros(len(rows)), bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=a, b_eq=np.zeros(len(rows)), bounds=bounds, method="highs")
        assert lo.status == 0, lo.message
        out[n] = (lo.fun, np.inf if hi.status == 3 else -hi.fun)
    return out


def assert_protected(table: dict[str, list[str]], col_totals: list[str], grand: str,
                     true: dict[str, list[int]], threshold: int) -> None:
    """Every hidden cell keeps t-1 values, or as many as symbols and zeros alone leave."""
    ranges = auditor_ranges(table, col_totals, grand, threshold)
    base = auditor_ranges(table, col_totals, grand, threshold, free_numbers=True)
    for (site, j), (lo, hi) in ranges.items():
        text = table[site][j]
        if text not in (f"<{threshold}", "*"):
            assert lo == hi == true[site][j]
            continue
        assert lo <= true[site][j] <= hi
        need = min(threshold - 2, base[(site, j)][1] - base[(site, j)][0])
        assert hi - lo >= need - 1e-6, (site, j, text, (lo, hi), base[(site, j)])


def table_system(cells: dict[str, tuple[int, ...]], threshold: int) -> CountSystem:
    """The sites × arms table with site, arm and grand totals (as the dashboard prints it)."""
    cs = CountSystem(threshold)
    arms = range(len(next(iter(cells.values()))))
    cs.add("T", sum(map(sum, cells.values())), cost=10)
    for a in arms:
        cs.add(("arm", a), sum(v[a] for v in cells.values()), cost=6)
    for s, v in cells.items():
        cs.add(("site", s), sum(v), cost=4)
        for a in arms:
            cs.add((s, a), v[a], cost=3)
    for s in cells:
        cs.equal([(s, a) for a in arms], ("site", s))
    for a in arms:
        cs.equal([(s, a) for s in cells], ("arm", a))
    cs.equal([("arm", a) for a in arms], "T")
    cs.equal([("site", s) for s in cells], "T")
    return cs


def printed(cs: CountSystem, cells: dict[str, tuple[int, ...]]) -> tuple[dict, list, str]:
    table = {s: [cs.text(("site", s))] + [cs.text((s, a)) for a in range(len(v))]
             for s, v in cells.items()}
    arms = [cs.text(("arm", a)) for a in range(len(next(iter(cells.values()))))]
    return table, arms, cs.text("T")


# ----------------------------------------------------------------------------------------------
# the measured attacks


def test_the_old_rules_leaked_what_the_issue_measured() -> None:
    """A site of 12 split 11/0/1 printed 12 | * | 0 | <11: the <11 was exactly 1."""
    cells = dict(ATTACK_SITE_ARMS)
    values: dict = {("c", s, a): v[a] for s, v in cells.items() for a in range(3)}
    values.update({("s", s): sum(v) for s, v in cells.items()})
    values.update({("a", a): sum(v[a] for v in cells.values()) for a in range(3)})
    values["T"] = sum(map(sum, cells.values()))
    lines = [([("c", s, a) for a in range(3)], ("s", s)) for s in cells]
    lines += [([("c", s, a) for s in cells], ("a", a)) for a in range(3)]
    status = suppress_linked(values, lines, 11)
    table = {s: [format_count(values[("s", s)], 11, status[("s", s)])]
             + [format_count(values[("c", s, a)], 11, status[("c", s, a)]) for a in range(3)]
             for s in cells}
    assert table["Kirkby"] == ["12", "*", "0", "<11"]
    ranges = auditor_ranges(table, [f"{values[('a', a)]:,}" for a in range(3)],
                            f"{values['T']:,}", 11)
    assert ranges[("Kirkby", 3)] == (1, 1)  # exactly one person


def test_attack_table_is_protected() -> None:
    cells = dict(ATTACK_SITE_ARMS)
    cs = table_system(cells, 11)
    cs.protect()
    assert cs.audit() == []
    table, arms, grand = printed(cs, cells)
    true = {s: [sum(v), *v] for s, v in cells.items()}
    assert_protected(table, arms, grand, true, 11)
    # the attacks: neither the 11/0/1 site nor the 10/10/0 site is pinned down any more
    ranges = auditor_ranges(table, arms, grand, 11)
    assert table["Kirkby"][3] == "<11" and ranges[("Kirkby", 3)] == (1, 10)
    assert table["Lowfield"][1:3] == ["<11", "<11"]
    assert ranges[("Lowfield", 1)] == (1, 10) and ranges[("Lowfield", 2)] == (1, 10)
    for site in ("Marsh", "Northgate"):  # 20/20/10: the 10 is hidden and not recoverable
        assert table[site][3] == "<11"
        lo, hi = ranges[(site, 3)]
        assert hi - lo >= 9


@pytest.mark.parametrize("threshold", [5, 11, 16])
def test_measured_attack_cases_at_other_thresholds(threshold: int) -> None:
    cells = {"A": (11, 0, 1), "B": (10, 10, 0), "C": (20, 20, 10), "D": (20, 20, 10),
             "E": (130, 130, 140)}
    cs = table_system(cells, threshold)
    cs.protect()
    assert cs.audit() == []
    table, arms, grand = printed(cs, cells)
    assert_protected(table, arms, grand, {s: [sum(v), *v] for s, v in cells.items()}, threshold)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 25)] * 3), min_size=2, max_size=5),
       st.sampled_from([5, 11]))
def test_random_small_tables_pass_the_auditor(rows: list[tuple[int, int, int]],
                                              threshold: int) -> None:
    cells = {f"s{i}": r for i, r in enumerate(rows)}
    if sum(map(sum, cells.values())) == 0:
        return
    cs = table_system(cells, threshold)
    cs.protect()
    assert cs.audit() == []
    table, arms, grand = printed(cs, cells)
    assert_protected(table, arms, grand, {s: [sum(v), *v] for s, v in cells.items()}, threshold)
    for s, v in cells.items():  # every count from 1 to t-1 is hidden
        for a, x in enumerate(v):
            if 1 <= x < threshold:
                assert table[s][a + 1] == f"<{threshold}"


def test_warm_highs_agrees_with_linprog() -> None:
    rng = np.random.default_rng(3)
    cells = {f"s{i}": tuple(int(x) for x in rng.integers(0, 30, 3)) for i in range(6)}
    cs = table_system(cells, 11)
    status = cs.protect()
    lp = _LP(cs, status)
    for key in [k for k in cs.values if status[k] != SHOWN]:
        sel, a, b, bounds = lp._component(int(lp.component[lp.index[key]]))
        if a is None:
            continue
        j = int(np.flatnonzero(sel == lp.index[key])[0])
        fast = _Solver(a, b, bounds)
        slow = _Solver(a, b, bounds)
        slow.h = None
        assert fast.range(j) == pytest.approx(slow.range(j))


# ----------------------------------------------------------------------------------------------
# curves


def test_curve_steps_hold_threshold_events() -> None:
    t = np.arange(1.0, 31.0)
    d = np.ones(30)
    s = np.cumprod(1 - d / np.arange(100.0, 70.0, -1))
    pts = coarsen_steps(t, d, s, 11, keep=[12.0])
    times = [p[0] for p in pts]
    # a step ends at the 12-week horizon (events 1..12), then every 11 events
    assert times[0] == 12.0
    counts = np.diff(np.searchsorted(t, [0.0, *times], side="right"))
    assert all(c >= 11 for c in counts)
    assert coarsen_steps(t[:3], d[:3], s[:3], 11) == []  # an arm with 3 events: no curve


# ----------------------------------------------------------------------------------------------
# the whole dashboard on the attack cohort, audited from its CSV files


@pytest.fixture(scope="module")
def attack_dashboard(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """The attack cohort with a training log (so the pain-rule section is published too):
    strength + graded running has 1 runner at Kirkby, 10 each at Marsh and Northgate, 93 at
    Oakham and 310 at Pellow, of whom 3 keep no log."""
    cohort = make_attack_cohort()
    root = tmp_path_factory.mktemp("attack")
    analysis = write_analysis(cohort, root / "analysis", sessions=make_sessions(cohort))
    build_dashboard(cohort, make_validation(len(cohort)), root / "dash", analysis=analysis,
                    provenance=provenance())
    return root / "dash", cohort


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_attack_dashboard_passes_the_auditor_from_its_csv(attack_dashboard: tuple) -> None:
    folder, cohort = attack_dashboard
    sites = _csv(folder / "data" / "sites.csv")
    arms_label = ["Rest only", "Stretching only", "Strength + graded running"]
    table = {r["site"]: [r["episodes"]] + [r[a] for a in arms_label] for r in sites}
    cards = [r for r in _csv(folder / "data" / "headline-by-treatment.csv")
             if r["figure"] == "Episodes"]
    by_arm = {r["treatment"]: r["value"] for r in cards}
    col_totals = [by_arm[a] for a in arms_label]
    grand = by_arm["All treatments"]
    counts = cohort.groupby(["site", "arm"], observed=True).size()
    true = {s: [int(counts.loc[s].sum())] + [int(counts.get((s, a), 0)) for a in ARMS]
            for s in table}
    assert_protected(table, col_totals, grand, true, 11)
    # the page shows exactly what the CSV holds
    page = (folder / "index.html").read_text(encoding="utf-8")
    for site, row in table.items():
        cells = re.search(rf'>{re.escape(site)}</a></th>(.*?)</tr>', page).group(1)
        shown = re.findall(r"<td[^>]*>([^<]*)</td>", cells)[:4]
        assert [c.replace(",", "").replace("&lt;", "<") for c in shown] == row


def test_attack_pain_rule_section_passes_the_auditor_from_its_csv(attack_dashboard: tuple
                                                                  ) -> None:
    """The pain-rule table solved with the sites table and the episode cards: the small sites'
    runners with logs, Pellow's 3 runners without a log and every hidden week count keep the
    range the rule requires, whatever the all-sites row and the other sites say."""
    import pandas as pd

    folder, cohort = attack_dashboard
    table = pd.read_csv(folder.parent / "analysis" / "adherence.csv", keep_default_na=False)
    rows = {r["site"]: r for r in _csv(folder / "data" / "adherence.csv")}
    for site in ("Kirkby", "Marsh", "Northgate"):  # 1, 10 and 10 runners with logs
        assert rows[site]["episodes_with_logs"] == "<11"
        assert rows[site]["stepped_up_anyway_percent"] == "—"
        assert rows[site]["logged_weeks_with_a_run_percent"] == "—"
    assert rows["Lowfield"]["episodes_with_logs"] == "0"
    assert "*" in (rows["Pellow"]["episodes"], rows["Pellow"]["episodes_with_logs"])
    program = dashboard_program(folder, cohort, table)
    assert program.failures(11) == []
    # a control: the same auditor finds Pellow's runners without a log once both are printed
    exact = {**rows["Pellow"]}
    exact["episodes"] = str(int(table.loc[table["site"] == "Pellow", "episodes"].iloc[0]))
    exact["episodes_with_logs"] = str(
        int(table.loc[table["site"] == "Pellow", "episodes_logged"].iloc[0]))
    leaked = folder.parent / "leaked"
    (leaked / "data").mkdir(parents=True, exist_ok=True)
    for name in ("sites.csv", "headline-by-treatment.csv"):
        (leaked / "data" / name).write_bytes((folder / "data" / name).read_bytes())
    sites = _csv(folder / "data" / "sites.csv")
    for r in sites:
        if r["site"] == "Pellow":
            r["Strength + graded running"] = exact["episodes"]
            r["episodes"] = str(int(cohort["site"].astype(str).eq("Pellow").sum()))
    _write_rows(leaked / "data" / "sites.csv", sites)
    _write_rows(leaked / "data" / "adherence.csv",
                [exact if r["site"] == "Pellow" else r for r in rows.values()])
    found = dashboard_program(leaked, cohort, table).failures(11)
    assert any("('U', 'Pellow') = 3" in f for f in found), found


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_attack_curves_group_threshold_events(attack_dashboard: tuple) -> None:
    folder, cohort = attack_dashboard
    d = derive_outcomes(cohort)
    curve = _csv(folder / "data" / "time-to-pain-free-curve.csv")
    labels = {"Rest only": "rest_only", "Stretching only": "stretching_only",
              "Strength + graded running": "strength_graded_running"}
    for label, arm in labels.items():
        pts = [float(r["weeks"]) for r in curve if r["treatment"] == label]
        ev = np.sort(d.loc[(d["arm"].astype(str) == arm) & (d["pain_free_event"] == 1),
                           "pain_free_weeks"].to_numpy())
        steps = pts[:-1]  # the last row is where the flat line ends
        counts = np.diff(np.searchsorted(ev, np.array([0.0, *steps]) + 1e-5, side="right"))
        assert len(steps) and all(c >= 11 for c in counts), (label, counts)
    # the arm of 93 with 3 pain-free events (Oakham, strength + graded running): not drawn
    oak = _csv(folder / "data" / "site-oakham-time-to-pain-free-curve.csv")
    assert not [r for r in oak if r["treatment"] == "Strength + graded running"]


def test_attack_numbers_at_risk_are_suppressed(attack_dashboard: tuple) -> None:
    folder, _ = attack_dashboard
    rows = _csv(folder / "data" / "time-to-pain-free-at-risk.csv")
    for r in rows:
        values = [v for k, v in r.items() if k.startswith("week_")]
        for v in values:
            assert v in ("*", "<11", "0") or int(v) >= 11


@settings(max_examples=6, deadline=None)
@given(st.dictionaries(st.sampled_from(["Ash", "Birch", "Cedar", "Dale"]),
                       st.tuples(*[st.integers(0, 16)] * 3), min_size=2, max_size=4),
       st.integers(0, 10_000))
def test_random_small_cohorts_pass_the_auditor(tmp_path_factory: pytest.TempPathFactory,
                                               site_arms: dict[str, tuple[int, int, int]],
                                               seed: int) -> None:
    from _dashboard_data import make_raw

    from rehab_outcomes.contract import validate_episodes

    if sum(map(sum, site_arms.values())) < 3:
        return
    cohort = validate_episodes(make_raw(seed, site_arms)).valid
    folder = tmp_path_factory.mktemp("random") / "dash"
    build_dashboard(cohort, {"n_in": len(cohort), "n_valid": len(cohort), "n_quarantined": 0},
                    folder, analysis=None, provenance=provenance())
    sites = _csv(folder / "data" / "sites.csv")
    arms_label = ["Rest only", "Stretching only", "Strength + graded running"]
    table = {r["site"]: [r["episodes"]] + [r[a] for a in arms_label] for r in sites}
    cards = {r["treatment"]: r["value"] for r in _csv(folder / "data" / "headline-by-treatment.csv")
             if r["figure"] == "Episodes"}
    true = {s: [sum(site_arms[s]), *site_arms[s]] for s in table}
    assert_protected(table, [cards[a] for a in arms_label], cards["All treatments"], true, 11)


def test_a_page_that_fails_the_audit_is_not_written(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """If protection left a count recoverable, the build raises and the old pages stay."""
    from rehab_outcomes.reporting import suppression
    from rehab_outcomes.reporting.suppression import DisclosureError

    cohort = make_attack_cohort()
    folder = tmp_path / "dash"
    build_dashboard(cohort, make_validation(len(cohort)), folder, analysis=None,
                    provenance=provenance())
    before = {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    def primary_only(self: CountSystem, max_rounds: int = 0) -> dict:
        status = self._primary()  # no complementary suppression: the 11/0/1 site leaks
        self._propagate(status)
        self.status = status
        return dict(status)

    monkeypatch.setattr(suppression.CountSystem, "protect", primary_only)
    with pytest.raises(DisclosureError, match="not written"):
        build_dashboard(cohort, make_validation(len(cohort)), folder, analysis=None,
                        provenance=provenance("2025-07-01"))
    after = {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before
