"""The clinic dashboard: bottom line from the analysis, small numbers, pages, provenance, command."""

from __future__ import annotations

import csv
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
import yaml
from _dashboard_data import CONFIG, make_cohort, make_validation, provenance, write_analysis
from lifelines import KaplanMeierFitter
from typer.testing import CliRunner

from rehab_outcomes.contract import derive_outcomes
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.reporting.dashboard import (
    AnalysisOutputs,
    build_dashboard,
    data_context,
    plain_rule,
    site_slug,
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
)

# ----------------------------------------------------------------------------------------------
# helpers: what a person can read on the page

PEOPLE_ATTRS = {"aria-label", "title", "alt", "aria-description", "placeholder"}
VOID = {"meta", "br", "img", "input", "link", "hr", "area", "base", "col", "source", "wbr"}
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
HEX_HASH = re.compile(r"\b[0-9a-f]{16,}\b")
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
RANDOMISED = {"source": "simulate", "simulate": {"n": 462, "seed": 20240611,
                                                "design": "randomised"}}


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


def without_claim_texts(page: str) -> str:
    """The page without the clinic claims' own words (pain scores such as "2/10", not counts)."""
    page = re.sub(r'<section aria-labelledby="h-claims">.*?</section>', "", page, flags=re.S)
    return re.sub(r'<span class="claim">.*?</span>', "", page, flags=re.S)


def metric(page: str, name: str, arm: str, where: str | None = None) -> str:
    extra = f' data-where="{where}"' if where else ""
    m = re.search(rf'data-metric="{name}" data-arm="{arm}"{extra}>([^<]*)<', page)
    assert m, (name, arm)
    return m.group(1)


# ----------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return make_cohort()


@pytest.fixture(scope="module")
def analysis(cohort: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_analysis(cohort, tmp_path_factory.mktemp("analysis") / "analyse")


@pytest.fixture(scope="module")
def folder(cohort: pd.DataFrame, analysis: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dash") / "dashboard"
    build_dashboard(cohort, make_validation(len(cohort)), out, analysis=analysis,
                    provenance={**provenance(), "config": {**CONFIG, **RANDOMISED}})
    return out


@pytest.fixture(scope="module")
def page(folder: Path) -> str:
    return (folder / "index.html").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------
# small-number rules kept from before


def test_small_counts_and_formatting() -> None:
    assert [is_small(v) for v in (0, 1, 10, 11, 500)] == [False, True, True, False, False]
    assert format_count(0) == "0" and format_count(10) == "<11"
    assert format_count(15, threshold=16) == "<16" and format_count(12345) == "12,345"
    assert format_count(400, status=WITHHELD) == "*"
    with pytest.raises(ValueError, match="threshold"):
        format_count(3, threshold=0)


def test_rate_rules() -> None:
    assert proportion_allowed(0, 40) and not proportion_allowed(3, 40)
    assert not proportion_allowed(35, 40) and not proportion_allowed(0, 10)
    assert km_estimate_allowed(at_risk=11, events=0) and not km_estimate_allowed(10, 50)
    assert at_risk_statuses([400, 395, 300, 120, 5, 0]) == [
        SHOWN, WITHHELD, SHOWN, SHOWN, SMALL, SHOWN]


def test_rules_in_plain_words_carry_no_numbers() -> None:
    assert plain_rule("age_years:less_than_or_equal_to(90)") == (
        "age years: above the allowed maximum")
    assert not re.search(r"\d", plain_rule("bmi:str_length(1, 32)"))


def test_site_slugs_are_safe_and_unique() -> None:
    taken: set[str] = set()
    slugs = [site_slug(s, taken) for s in ("Ashby", "ashby", "../x", "Ü Nord", "", "<b>")]
    assert slugs == ["ashby", "ashby-2", "x", "u-nord", "site", "b"]
    assert all(re.fullmatch(r"[a-z0-9-]+", s) for s in slugs)


# ----------------------------------------------------------------------------------------------
# the pages


def pages(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.html"))}


def test_folder_has_a_page_per_site_linked_from_the_network_page(folder: Path, page: str) -> None:
    names = sorted(p.name for p in folder.glob("*.html"))
    assert names == ["index.html", "site-ashby.html", "site-brook.html", "site-calder.html",
                     "site-dunmore.html", "site-elmfield.html"]
    for name in names[1:]:
        assert f'href="{name}"' in page
    site = (folder / "site-elmfield.html").read_text(encoding="utf-8")
    assert 'href="index.html"' in site and "All sites" in site
    assert metric(site, "episodes", "all", "all") == "462"  # the network beside the site
    csvs = sorted(p.name for p in (folder / "data").glob("*.csv"))
    assert "sites.csv" in csvs and "site-elmfield-headline.csv" in csvs
    for href in re.findall(r'href="(data/[^"]+)"', page):
        assert (folder / href).is_file(), href


def test_no_count_below_the_threshold_anywhere(folder: Path) -> None:
    for name, text in pages(folder).items():
        reader = read_page(without_claim_texts(text))
        bad = {t: small_numbers(t, 11) for t in reader.texts + reader.people_attrs}
        bad = {t: v for t, v in bad.items() if v}
        assert not bad, name
    for path in (folder / "data").glob("*.csv"):
        with open(path, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for key, value in row.items():
                    if key in ("claim_id", "claim", "statement", "verdicts", "detail", "answer",
                               "question"):
                        continue  # the analysis' words, not counts
                    if value and re.fullmatch(r"\d+", value):
                        assert not 1 <= int(value) < 11, (path.name, key, value)


def test_small_sites_are_suppressed_and_the_rest_adds_up(page: str) -> None:
    rows = dict(re.findall(r'>(\w+)</a></th>(.*?)</tr>', page))
    assert list(rows) == ["Ashby", "Brook", "Calder", "Dunmore", "Elmfield"]  # not ranked
    cells = {s: re.findall(r"<td[^>]*>([^<]*)</td>", r) for s, r in rows.items()}
    assert cells["Ashby"][:4] == ["&lt;11"] * 4
    assert cells["Brook"][0] == "&lt;11"
    assert cells["Dunmore"][2] == "&lt;11"  # four in stretching only
    for site in ("Ashby", "Brook", "Calder"):
        assert set(cells[site][4:7]) == {"—"}  # no shares for small sites
    for site in rows:  # no line with exactly one hidden cell
        assert sum(v in ("&lt;11", "*") for v in cells[site][:4]) != 1


def test_data_quality_counts_are_suppressed(page: str) -> None:
    dq = dict(re.findall(r'<tr><th scope="row">(Rows [^<]*)</th><td>([^<]*)</td>', page))
    assert dq["Rows set aside (quarantined)"] == "&lt;11"
    assert dq["Rows received"] == "*"
    assert "age years: above the allowed maximum</th><td>&lt;11" in page


def test_pages_are_self_contained(folder: Path) -> None:
    for name, text in pages(folder).items():
        lowered = text.lower()
        for forbidden in ("http://", "https://", "<script", "<link", "@import", "url(", "<img",
                          "<iframe", "src="):
            assert forbidden not in lowered.replace("url(#", ""), (name, forbidden)
        for href in re.findall(r'href="([^"]+)"', text):
            assert re.fullmatch(r"(#[\w-]+|data/[\w.-]+\.csv|site-[a-z0-9-]+\.html|index\.html)",
                                href), (name, href)


def test_pages_are_accessible(folder: Path) -> None:
    for name, text in pages(folder).items():
        reader = read_page(text)
        assert ("html", {"lang": "en"}) in reader.tags
        assert reader.headings[0] == 1 and reader.headings.count(1) == 1, name
        assert all(b - a <= 1 for a, b in zip(reader.headings, reader.headings[1:], strict=False))
        ids = [a.get("id") for _, a in reader.tags if a.get("id")]
        assert len(ids) == len(set(ids)), name  # no duplicate ids
        charts = [a for t, a in reader.tags if t == "svg" and "chart" in (a.get("class") or "")]
        assert charts, name
        for attrs in charts:
            assert attrs.get("role") == "img" and "viewbox" in {k.lower() for k in attrs}
            assert all(i in ids for i in (attrs.get("aria-labelledby") or "").split())
        tables = sum(t == "table" for t, _ in reader.tags)
        assert tables == text.count("<caption>"), name


def test_bottom_line_is_read_from_the_analysis(page: str, analysis: Path) -> None:
    claims = pd.read_csv(analysis / "claims.csv", dtype={"claim_id": str})
    bottom = page[page.index('id="h-bottom"'):page.index('id="h-headline"')]
    hrs = claims[claims["quantity"].str.startswith("hazard ratio of re-injury")]
    hr = hrs.loc[hrs["estimate"].idxmin()]
    assert f"{hr['estimate']:.2f} (95 % interval {hr['lower']:.2f} to {hr['upper']:.2f})" in bottom
    rmst = pd.read_csv(analysis / "rmst.csv")
    row = rmst[(rmst.outcome == "pain_free") & (rmst.arm == "strength_graded_running")].iloc[0]
    assert f"{abs(row['diff_vs_rest']):.1f} weeks" in bottom
    assert "Which treatment got runners back to pain-free running soonest?" in bottom
    assert "Did they stay injury-free" in bottom
    assert "verdict-" in bottom and "assigned at random" in bottom


def test_bottom_line_takes_new_columns_and_verdicts_as_given(cohort: pd.DataFrame,
                                                            analysis: Path,
                                                            tmp_path: Path) -> None:
    changed = tmp_path / "analysis"
    shutil.copytree(analysis, changed)
    claims = pd.read_csv(changed / "claims.csv", dtype={"claim_id": str})
    claims["p"] = 0.01
    claims["p_adjusted"] = 0.03
    claims["family"] = "primary"
    claims["estimand"] = "conditional hazard ratio"
    hr_rows = claims["quantity"].str.startswith("hazard ratio of re-injury")
    claims.loc[hr_rows, "verdict"] = "partly_supported"
    claims.loc[hr_rows, "estimate"] = 0.5  # never recomputed: shown as given
    claims.to_csv(changed / "claims.csv", index=False)
    out = build_dashboard(cohort, make_validation(len(cohort)), tmp_path / "d", analysis=changed,
                          provenance=provenance())
    text = out.read_text(encoding="utf-8")
    assert "partly supported by the data" in text and "verdict-partly_supported" in text
    assert "0.50 (95 % interval" in text


def test_caveat_and_banner_follow_the_data() -> None:
    cfg = {"covariates": ["arm", "age_years"], "adjust": "none"}
    sim = data_context(RANDOMISED, cfg)
    assert sim.simulated and "simulated cohort" in sim.banner and "at random" in sim.caveat
    obs = data_context({"source": "simulate", "simulate": {"design": "observational"}},
                       {**cfg, "adjust": "iptw", "propensity_covariates": ["age_years"]})
    assert "not assigned at random" in obs.caveat and "inverse-probability" in obs.caveat
    rec = data_context({"source": "records"}, cfg)
    assert not rec.banner and "clinic records" in rec.caveat and "adjusted for age" in rec.caveat
    unknown = data_context(None, cfg)
    assert "does not record" in unknown.caveat


def test_headline_numbers_match_the_analysis_and_lifelines(page: str, cohort: pd.DataFrame,
                                                            analysis: Path) -> None:
    km = pd.read_csv(analysis / "km_summary.csv")
    arm = "strength_graded_running"
    row = km[(km.outcome == "pain_free") & (km.arm == arm)].iloc[0]
    assert metric(page, "pain_free_12w", arm) == f"{100 * (1 - row['surv_12w']):.1f}%"
    assert metric(page, "median_weeks", arm) == f"{row['median']:.1f} weeks"
    re_row = km[(km.outcome == "reinjury") & (km.arm == arm)].iloc[0]
    assert metric(page, "reinjury", arm) == f"{100 * (1 - re_row['surv_26w']):.1f}%"
    d = derive_outcomes(cohort)
    d = d[d["arm"].astype(str) == arm]
    pf = KaplanMeierFitter().fit(d["pain_free_weeks"], d["pain_free_event"])
    assert metric(page, "pain_free_12w", arm) == f"{100 * (1 - pf.predict(12.0)):.1f}%"
    lost = (d["exit_reason"].astype(str) == "lost_to_follow_up").mean()
    assert metric(page, "lost_to_follow_up", arm) == f"{100 * lost:.1f}%"
    assert metric(page, "episodes", "all") == f"{len(cohort):,}"
    assert "95 % CI" in page


def test_provenance_in_words(page: str, analysis: Path) -> None:
    footer = page[page.index("<footer>"):]
    assert "ab" * 32 in footer
    assert "seed=20240611" in footer and "source=&#34;simulate&#34;" in footer
    assert "Report date</dt><dd>2025-06-01" in footer
    assert re.search(r"Data extract</dt><dd>latest date recorded in the data: 2025-0", footer)
    digest = AnalysisOutputs.read(analysis).hashes["claims.csv"]
    assert digest in footer


def test_output_is_deterministic(cohort: pd.DataFrame, analysis: Path, tmp_path: Path) -> None:
    a = build_dashboard(cohort, make_validation(len(cohort)), tmp_path / "a", analysis=analysis,
                        provenance=provenance())
    b = build_dashboard(cohort.sample(frac=1.0, random_state=1), make_validation(len(cohort)),
                        tmp_path / "b", analysis=analysis, provenance=provenance())
    assert a.read_bytes() == b.read_bytes()
    for p in (tmp_path / "a" / "data").glob("*.csv"):
        assert p.read_bytes() == (tmp_path / "b" / "data" / p.name).read_bytes()


def test_threshold_is_configurable(cohort: pd.DataFrame, analysis: Path, tmp_path: Path) -> None:
    out = build_dashboard(cohort, make_validation(len(cohort)), tmp_path / "p", analysis=analysis,
                          threshold=16, provenance=provenance())
    text = without_claim_texts(out.read_text(encoding="utf-8"))
    counts = re.findall(r"<td[^>]*>([^<]*)</td>", text)
    counts += re.findall(r'data-metric="episodes" data-arm="\w+">([^<]*)<', text)
    assert not [c for c in counts if small_numbers(c, 16)]
    assert "&lt;16" in text and "&lt;11" not in text


def test_empty_or_all_quarantined_input_says_so(cohort: pd.DataFrame, tmp_path: Path) -> None:
    empty = cohort.iloc[0:0]
    out = build_dashboard(empty, {"n_in": 7, "n_valid": 0, "n_quarantined": 7},
                          tmp_path / "e", analysis=None, provenance=provenance())
    text = out.read_text(encoding="utf-8")
    assert "None of the &lt;11 rows of the export passed validation" in text
    assert "<svg" not in text and "data-metric" not in text and "<table" not in text
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["index.html"]


def test_analysis_of_other_episodes_is_refused(cohort: pd.DataFrame, analysis: Path,
                                               tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(analysis, other)
    summary = json.loads((other / "summary.json").read_text())
    summary["provenance"] = {"episodes_sha256": "0" * 64}
    (other / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ConfigError, match="other episodes"):
        build_dashboard(cohort, make_validation(len(cohort)), tmp_path / "x", analysis=other,
                        provenance={**provenance(), "episodes_sha256": "1" * 64})


def test_run_date_is_required(cohort: pd.DataFrame, analysis: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run_date"):
        build_dashboard(cohort, make_validation(len(cohort)), tmp_path / "x", analysis=analysis,
                        provenance={})


def test_command_writes_the_folder(cohort: pd.DataFrame, analysis: Path, tmp_path: Path) -> None:
    cohort.to_parquet(tmp_path / "episodes.valid.parquet", index=False)
    (tmp_path / "validation.json").write_text(json.dumps(make_validation(len(cohort))))
    (tmp_path / "config.json").write_text(json.dumps({**CONFIG, **RANDOMISED}))
    app = typer.Typer()
    app.command()(dashboard)
    app.command("noop")(lambda: None)  # keeps `dashboard` a named subcommand
    result = CliRunner().invoke(app, [
        "dashboard", str(tmp_path / "episodes.valid.parquet"),
        "--validation", str(tmp_path / "validation.json"), "--analysis", str(analysis),
        "--run-config", str(tmp_path / "config.json"),
        "--threshold", "16", "--run-date", "2025-06-01", "--out", str(tmp_path / "d"),
    ])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "d" / "index.html").read_text(encoding="utf-8")
    assert "&lt;16" in text and "seed=20240611" in text and "Validated episodes SHA-256" in text
    assert "Simulated data." in text
    assert (tmp_path / "d" / "data" / "sites.csv").is_file()
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(CONFIG))
    result = CliRunner().invoke(app, [
        "dashboard", str(tmp_path / "episodes.valid.parquet"),
        "--validation", str(tmp_path / "validation.json"), "--analysis", str(analysis),
        "--config", str(tmp_path / "c.yaml"), "--run-date", "2025-06-01",
        "--out", str(tmp_path / "d2" / "index.html"),
    ])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d2" / "index.html").is_file()


@pytest.mark.parametrize("sites", [("Ashby", "Brook"), ("Elmfield",)])
def test_sub_cohorts_show_nothing_small(cohort: pd.DataFrame, sites: tuple[str, ...],
                                        tmp_path: Path) -> None:
    small = cohort[cohort["site"].isin(sites)].reset_index(drop=True)
    analysis = write_analysis(small, tmp_path / "a") if len(small) > 100 else None
    if analysis is None:
        analysis = tmp_path / "a"
        analysis.mkdir()
        (analysis / "summary.json").write_text("{}")
        pd.DataFrame(columns=["claim_id", "claim", "verdict"]).to_csv(analysis / "claims.csv",
                                                                       index=False)
    out = build_dashboard(small, {"n_in": len(small), "n_valid": len(small), "n_quarantined": 0},
                          tmp_path / "t", analysis=analysis, provenance=provenance())
    for name, text in pages(out.parent).items():
        reader = read_page(without_claim_texts(text))
        assert not [t for t in reader.texts if small_numbers(t, 11)], name
    text = out.read_text(encoding="utf-8")
    assert "No rows were set aside." in text
    if sites == ("Ashby", "Brook"):
        assert metric(text, "pain_free_12w", "rest_only") == "—"
        assert "class=\"curve" not in text  # no curves


def test_curves_are_drawn_in_steps_and_stop_early(page: str) -> None:
    svg = page[page.index('id="km-pf-wide-t"'):]
    svg = svg[:svg.index("</svg>")]
    paths = re.findall(r'<path d="([^"]+)"[^>]*class="curve', svg)
    assert len(paths) == 3
    assert np.all([p.count("V") < 60 for p in paths])  # grouped steps, not one per event


def test_without_an_analysis_the_page_says_so(cohort: pd.DataFrame, tmp_path: Path) -> None:
    out = build_dashboard(cohort, make_validation(len(cohort)), tmp_path / "n", analysis=None,
                          provenance=provenance())
    text = out.read_text(encoding="utf-8")
    assert text.count("No analysis was given") == 2
    assert 'data-metric="pain_free_12w"' in text  # cards and curves still build
