"""The clinic dashboard: small-number suppression, self-containment, headline figures."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
import yaml
from _dashboard_data import CONFIG, make_cohort, make_validation, provenance
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from typer.testing import CliRunner

from rehab_outcomes.contract import derive_outcomes
from rehab_outcomes.reporting.dashboard import (
    binomial_limits,
    build_dashboard,
    kaplan_meier,
    plain_rule,
)
from rehab_outcomes.reporting.dashboard_command import dashboard
from rehab_outcomes.reporting.suppression import (
    SHOWN,
    SMALL,
    WITHHELD,
    at_risk_statuses,
    format_count,
    is_small,
    km_estimate_allowed,
    proportion_allowed,
    suppress_linked,
)

# ----------------------------------------------------------------------------------------------
# helpers: what a person can read on the page

PEOPLE_ATTRS = {"aria-label", "title", "alt", "aria-description", "placeholder"}
VOID = {"meta", "br", "img", "input", "link", "hr", "area", "base", "col", "source", "wbr"}
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
HEX_HASH = re.compile(r"\b[0-9a-f]{16,}\b")
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")


class PageReader(HTMLParser):
    """Collects visible text, attributes meant for people, tags and headings of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.people_attrs: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[int] = []
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.people_attrs += [v for k, v in attrs if k in PEOPLE_ATTRS and v]
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag not in VOID:
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if not {"style", "script"} & set(self._stack) and data.strip():
            self.texts.append(data)


def read_page(text: str) -> PageReader:
    reader = PageReader()
    reader.feed(text)
    reader.close()
    return reader


def small_numbers(text: str, threshold: int) -> list[str]:
    """Integer tokens from 1 to threshold - 1 (dates and hashes removed; decimals are rates)."""
    text = HEX_HASH.sub(" ", ISO_DATE.sub(" ", text))
    found = []
    for m in NUMBER.finditer(text):
        token = m.group().rstrip(",")
        if "." in token:
            continue
        if 1 <= int(token.replace(",", "")) < threshold:
            found.append(token)
    return found


def metric(page: str, name: str, arm: str) -> str:
    m = re.search(rf'data-metric="{name}" data-arm="{arm}">([^<]*)<', page)
    assert m, (name, arm)
    return m.group(1)


# ----------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return make_cohort()


@pytest.fixture(scope="module")
def page(cohort: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("dash") / "index.html"
    build_dashboard(cohort, make_validation(len(cohort)), out, provenance=provenance())
    return out.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------
# suppression rules


def test_small_counts_and_formatting() -> None:
    assert [is_small(v) for v in (0, 1, 10, 11, 500)] == [False, True, True, False, False]
    assert [is_small(v, 16) for v in (15, 16)] == [True, False]
    assert format_count(0) == "0"
    assert format_count(10) == "<11"
    assert format_count(15, threshold=16) == "<16"
    assert format_count(12345) == "12,345"
    assert format_count(400, status=WITHHELD) == "*"
    with pytest.raises(ValueError, match="threshold"):
        format_count(3, threshold=0)


def test_complementary_suppression_of_a_line() -> None:
    values = {"a": 3, "b": 40, "c": 400, "all": 443}
    status = suppress_linked(values, [(["a", "b", "c"], "all")])
    assert status == {"a": SMALL, "b": WITHHELD, "c": SHOWN, "all": SHOWN}
    # two small parts adding to a small number: a third cell is withheld
    values = {"a": 3, "b": 7, "c": 12, "d": 400, "all": 422}
    status = suppress_linked(values, [(["a", "b", "c", "d"], "all")])
    assert [status[k] for k in "abcd"] == [SMALL, SMALL, WITHHELD, SHOWN]
    # zeros stay visible and are never used as the complement
    values = {"a": 0, "b": 5, "c": 30, "all": 35}
    status = suppress_linked(values, [(["a", "b", "c"], "all")])
    assert status["a"] == SHOWN and status["c"] == WITHHELD
    # a lower cost is withheld first
    values = {"acc": 500, "q": 4, "rec": 504}
    status = suppress_linked(values, [(["acc", "q"], "rec")], cost={"acc": 10})
    assert status == {"acc": SHOWN, "q": SMALL, "rec": WITHHELD}


def test_complementary_suppression_of_a_table_with_margins() -> None:
    cells = np.array([[1, 1, 1], [18, 4, 18], [130, 130, 140]])
    values: dict = {("c", i, j): int(cells[i, j]) for i in range(3) for j in range(3)}
    values.update({("r", i): int(cells[i].sum()) for i in range(3)})
    values.update({("k", j): int(cells[:, j].sum()) for j in range(3)})
    values["T"] = int(cells.sum())
    lines = [([("c", i, j) for j in range(3)], ("r", i)) for i in range(3)]
    lines += [([("c", i, j) for i in range(3)], ("k", j)) for j in range(3)]
    lines += [([("r", i) for i in range(3)], "T"), ([("k", j) for j in range(3)], "T")]
    status = suppress_linked(values, lines)
    assert_lines_safe(values, lines, status, 11)
    assert status[("c", 1, 1)] == SMALL
    assert status["T"] == SHOWN


def assert_lines_safe(values: dict, lines: list, status: dict, threshold: int) -> None:
    for parts, total in lines:
        hidden = [c for c in [*parts, total] if status[c] != SHOWN]
        assert len(hidden) != 1, (parts, total)
        if hidden and status[total] == SHOWN:
            assert not is_small(sum(values[c] for c in parts if status[c] != SHOWN), threshold)
    for key, value in values.items():
        if is_small(value, threshold):
            assert status[key] == SMALL


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 60), min_size=3, max_size=3), min_size=1, max_size=6),
       st.sampled_from([11, 16]))
def test_suppressed_tables_never_reveal_a_small_cell(rows: list[list[int]], threshold: int) -> None:
    cells = np.array(rows)
    r, c = cells.shape
    values: dict = {("c", i, j): int(cells[i, j]) for i in range(r) for j in range(c)}
    values.update({("r", i): int(cells[i].sum()) for i in range(r)})
    values.update({("k", j): int(cells[:, j].sum()) for j in range(c)})
    values["T"] = int(cells.sum())
    lines = [([("c", i, j) for j in range(c)], ("r", i)) for i in range(r)]
    lines += [([("c", i, j) for i in range(r)], ("k", j)) for j in range(c)]
    lines += [([("r", i) for i in range(r)], "T"), ([("k", j) for j in range(c)], "T")]
    status = suppress_linked(values, lines, threshold)
    # the property holds unless a line has no non-zero cell left to withhold
    for parts, total in lines:
        hidden = [k for k in [*parts, total] if status[k] != SHOWN]
        if len(hidden) == 1:
            others = [k for k in [*parts, total] if status[k] == SHOWN and values[k] > 0]
            assert not others
    for key, value in values.items():
        assert (status[key] == SMALL) == is_small(value, threshold)


def test_rate_rules() -> None:
    assert proportion_allowed(0, 40) and proportion_allowed(20, 40) and proportion_allowed(40, 40)
    assert not proportion_allowed(3, 40)  # small numerator
    assert not proportion_allowed(35, 40)  # small complement
    assert not proportion_allowed(0, 10)  # small denominator
    assert km_estimate_allowed(at_risk=11, events=0)
    assert not km_estimate_allowed(at_risk=10, events=50)
    assert not km_estimate_allowed(at_risk=50, events=4)
    assert at_risk_statuses([400, 395, 300, 120, 5, 0]) == [
        SHOWN, WITHHELD, SHOWN, SHOWN, SMALL, SHOWN]
    assert at_risk_statuses([200, 150], start=205) == [WITHHELD, SHOWN]


# ----------------------------------------------------------------------------------------------
# statistics helpers


def test_kaplan_meier_matches_lifelines(cohort: pd.DataFrame) -> None:
    d = derive_outcomes(cohort)
    km = kaplan_meier(d["pain_free_weeks"], d["pain_free_event"])
    ref = KaplanMeierFitter().fit(d["pain_free_weeks"], d["pain_free_event"])
    grid = np.linspace(0, 104, 209)
    np.testing.assert_allclose(km.survival_at(grid), ref.predict(grid).to_numpy(), atol=1e-12)
    assert km.median() == pytest.approx(ref.median_survival_time_)
    at_risk = ref.event_table["at_risk"]
    np.testing.assert_array_equal(km.at_risk(at_risk.index.to_numpy()), at_risk.to_numpy())


def test_binomial_limits() -> None:
    n = np.array([20, 100, 10_000])
    lo, hi = binomial_limits(0.4, n, 0.025), binomial_limits(0.4, n, 0.975)
    assert np.all(lo < 0.4) and np.all(hi > 0.4)
    assert np.all(np.diff(hi) < 0) and np.all(np.diff(lo) > 0)  # the funnel narrows
    normal = 1.959964 * np.sqrt(0.4 * 0.6 / 10_000)
    assert hi[-1] == pytest.approx(0.4 + normal, abs=2e-4)
    assert lo[-1] == pytest.approx(0.4 - normal, abs=2e-4)
    assert binomial_limits(0.4, n, 0.999)[0] > hi[0]


def test_rules_in_plain_words_carry_no_numbers() -> None:
    assert plain_rule("age_years:less_than_or_equal_to(90)") == (
        "age years: above the allowed maximum")
    assert plain_rule("first_visit_date:type:iso_date") == "first visit date: could not be read"
    assert not re.search(r"\d", plain_rule("bmi:str_length(1, 32)"))
    assert not re.search(r"\d", plain_rule("x:some_check_2(5)"))


# ----------------------------------------------------------------------------------------------
# the page


def test_checker_finds_small_numbers() -> None:
    assert small_numbers("5 patients; 1,234 episodes; 7.5%; <11; 2025-06-01", 11) == ["5"]
    assert small_numbers("Jan–Mar 2023, 12 weeks, 0%", 11) == []


def test_no_count_from_one_to_ten_anywhere(page: str) -> None:
    reader = read_page(page)
    assert "Weeks since first visit" in reader.texts and len(reader.texts) > 200
    bad = {t: small_numbers(t, 11) for t in reader.texts + reader.people_attrs}
    bad = {t: v for t, v in bad.items() if v}
    assert not bad
    assert "&lt;11" in page


def test_small_sites_and_small_arm_are_suppressed(page: str) -> None:
    rows = dict(re.findall(r'<tr><th scope="row">(\w+)</th>(.*?)</tr>', page))
    assert list(rows)[:5] == ["Ashby", "Brook", "Calder", "Dunmore", "Elmfield"]  # not ranked
    cells = {s: re.findall(r"<td[^>]*>([^<]*)</td>", r) for s, r in rows.items() if s[0] in "ABCDE"}
    assert cells["Ashby"][:4] == ["&lt;11"] * 4
    assert cells["Brook"][0] == "&lt;11"
    assert cells["Calder"][0] == "*"  # 12 episodes, withheld so that 3 + 7 cannot be recovered
    assert cells["Dunmore"][2] == "&lt;11"  # four in stretching only
    assert cells["Dunmore"][1:4].count("*") >= 1  # its complement in the row
    assert cells["Elmfield"][:4] == ["400", "130", "130", "140"]
    for site in ("Ashby", "Brook", "Calder"):
        assert set(cells[site][4:7]) == {"—"}  # no rates for small or hidden sites
    for site in ("Dunmore", "Elmfield"):  # every row line with a hidden cell has two
        assert sum(v in ("&lt;11", "*") for v in cells[site][:4]) != 1
    funnel = re.search(r'<svg class="chart"[^>]*aria-labelledby="funnel-t.*?</svg>', page, re.S)
    assert funnel and "Elmfield</text>" in funnel.group() and "Ashby</text>" not in funnel.group()


def test_data_quality_counts_are_suppressed(page: str) -> None:
    dq = re.findall(r'<tr><th scope="row">(Rows [^<]*)</th><td>([^<]*)</td>', page)
    assert dict(dq) == {"Rows received": "*", "Rows accepted": "462",
                        "Rows set aside (quarantined)": "&lt;11"}
    assert "age years: above the allowed maximum</th><td>&lt;11" in page


def test_page_is_self_contained(page: str) -> None:
    lowered = page.lower()
    for forbidden in ("http://", "https://", "<script", "<link", "@import", "url(", "<img",
                      "<iframe", "src="):
        assert forbidden not in lowered, forbidden


def test_page_is_accessible(page: str) -> None:
    reader = read_page(page)
    assert ("html", {"lang": "en"}) in reader.tags
    assert reader.headings[0] == 1 and reader.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(reader.headings, reader.headings[1:], strict=False))
    ids = {a.get("id") for _, a in reader.tags}
    charts = [a for t, a in reader.tags if t == "svg" and a.get("class") == "chart"]
    assert len(charts) == 4
    for attrs in charts:
        assert attrs.get("role") == "img"
        assert all(i in ids for i in (attrs.get("aria-labelledby") or "").split())
    n_tables = sum(t == "table" for t, _ in reader.tags)
    assert n_tables == page.count("<caption>") == 3
    assert all(c in page for c in ("#D55E00", "#0072B2", "#009E73"))  # Okabe–Ito


def test_headline_numbers_match_independent_estimates(page: str, cohort: pd.DataFrame) -> None:
    arm = "strength_graded_running"
    d = derive_outcomes(cohort)
    d = d[d["arm"].astype(str) == arm]
    pf = KaplanMeierFitter().fit(d["pain_free_weeks"], d["pain_free_event"])
    back = d[d["pain_free_event"] == 1]
    re_km = KaplanMeierFitter().fit(back["reinjury_weeks"], back["reinjury_event"].astype(int))
    lost = (d["exit_reason"].astype(str) == "lost_to_follow_up").mean()
    assert metric(page, "episodes", arm) == f"{len(d):,}"
    assert metric(page, "pain_free_12w", arm) == f"{100 * (1 - pf.predict(12.0)):.1f}%"
    assert metric(page, "median_weeks", arm) == f"{pf.median_survival_time_:.1f} weeks"
    assert metric(page, "reinjury_26w", arm) == f"{100 * (1 - re_km.predict(26.0)):.1f}%"
    assert metric(page, "lost_to_follow_up", arm) == f"{100 * lost:.1f}%"
    assert metric(page, "episodes", "all") == f"{len(cohort):,}"


def test_provenance_footer(page: str) -> None:
    footer = page[page.index("<footer>"):]
    assert "ab" * 32 in footer
    assert "seed=20240611" in footer and "hazard_ratio=1.5" in footer
    assert "<time>2025-06-01</time>" in footer and "0.1.0" in footer


def test_output_is_deterministic(cohort: pd.DataFrame, tmp_path: Path) -> None:
    a = build_dashboard(cohort, make_validation(len(cohort)), tmp_path / "a.html",
                        provenance=provenance())
    b = build_dashboard(cohort.sample(frac=1.0, random_state=1), make_validation(len(cohort)),
                        tmp_path / "b" / "index.html", provenance=provenance())
    assert a.read_bytes() == b.read_bytes()
    c = build_dashboard(cohort, make_validation(len(cohort)), tmp_path / "c.html",
                        provenance=provenance("2025-07-01"))
    assert c.read_bytes() != a.read_bytes()


def test_threshold_is_configurable(cohort: pd.DataFrame, page: str, tmp_path: Path) -> None:
    out = build_dashboard(cohort, make_validation(len(cohort)), tmp_path / "p.html",
                          threshold=16, provenance=provenance())
    text = out.read_text(encoding="utf-8")
    reader = read_page(text)
    # numbers below 16 left on the page are the 12-week mark and the 13-week axis tick
    left = {n for t in reader.texts + reader.people_attrs for n in small_numbers(t, 16)}
    assert left == {"12", "13"}
    counts = re.findall(r"<td[^>]*>([^<]*)</td>", text)
    counts += re.findall(r'class="tick risk">([^<]*)<', text)
    counts += re.findall(r'data-metric="episodes" data-arm="\w+">([^<]*)<', text)
    assert len(counts) > 60
    assert not [c for c in counts if small_numbers(c, 16)]
    assert "&lt;16" in text and "&lt;11" not in text
    assert text.count("&lt;16") >= page.count("&lt;11")


def test_run_date_is_required(cohort: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run_date"):
        build_dashboard(cohort, make_validation(len(cohort)), tmp_path / "x.html", provenance={})


def test_command_writes_the_page(cohort: pd.DataFrame, tmp_path: Path) -> None:
    cohort.to_parquet(tmp_path / "episodes.valid.parquet", index=False)
    (tmp_path / "validation.json").write_text(json.dumps(make_validation(len(cohort))))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    app = typer.Typer()
    app.command()(dashboard)
    app.command("noop")(lambda: None)  # keeps `dashboard` a named subcommand
    result = CliRunner().invoke(app, [
        "dashboard", str(tmp_path / "episodes.valid.parquet"),
        "--validation", str(tmp_path / "validation.json"), "--config", str(tmp_path / "config.yaml"),
        "--threshold", "16", "--run-date", "2025-06-01", "--out", str(tmp_path / "d" / "index.html"),
    ])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "d" / "index.html").read_text(encoding="utf-8")
    assert "&lt;16" in text and "seed=20240611" in text and "Validated episodes SHA-256" in text


@pytest.mark.parametrize("sites", [("Ashby", "Brook"), ("Ashby",), ()])
def test_tiny_cohorts_show_nothing_small(cohort: pd.DataFrame, sites: tuple[str, ...],
                                         tmp_path: Path) -> None:
    small = cohort[cohort["site"].isin(sites)].reset_index(drop=True)
    out = build_dashboard(small, {"n_in": len(small), "n_valid": len(small), "n_quarantined": 0},
                          tmp_path / "tiny.html", provenance=provenance())
    text = out.read_text(encoding="utf-8")
    reader = read_page(text)
    assert not [t for t in reader.texts if small_numbers(t, 11)]
    assert "No rows were set aside." in text
    assert metric(text, "pain_free_12w", "rest_only") == "—"
    assert "<path d=" not in text.split('id="km-pf-d"')[1].split("</svg>")[0]  # no curves
