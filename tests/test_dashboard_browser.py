"""The dashboard in headless Chromium at 1440 and 390 px and printed on A4.

Asserted at both widths, on the network page and a site page: no horizontal overflow, no
network request (every request but the pages themselves is blocked and counted), no console
error, no serious or critical axe-core violation (``axe-playwright-python`` bundles axe-core and
injects it with ``page.evaluate``, not a request), every link reachable with the keyboard, and
no two site labels of the funnel plot overlapping. The analysis had a training log, so the
pain-rule section is on both pages. Printed (A4, print stylesheet): nothing wider
than the page. Screenshots at both widths and the PDF go to ``results/dashboard-check/``.

Uses Debian's Chromium (never ``playwright install``); without /usr/bin/chromium the test is
skipped, except under ``CI`` where it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from _dashboard_data import (
    CONFIG,
    make_cohort,
    make_sessions,
    make_validation,
    provenance,
    write_analysis,
)

from rehab_outcomes.reporting.dashboard import build_dashboard

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHECK = ROOT / "results" / "dashboard-check"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDTHS = (1440, 390)
RUN = {"source": "simulate", "simulate": {"n": 462, "seed": 20240611, "design": "randomised"}}


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing and CI is set: the browser test must run in CI")
    pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium to run the browser test)")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cohort = make_cohort()
    root = tmp_path_factory.mktemp("browser")
    # with a training log, so the pain-rule section is checked too
    analysis = write_analysis(cohort, root / "analysis", sessions=make_sessions(cohort))
    build_dashboard(cohort, make_validation(len(cohort)), root / "dashboard", analysis=analysis,
                    provenance={**provenance(), "config": {**CONFIG, **RUN}})
    return root / "dashboard"


OVERFLOW_JS = """() => {
  const w = document.documentElement.clientWidth;
  const wide = [];
  for (const e of document.querySelectorAll('body *')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (e.closest('svg') && e.tagName.toLowerCase() !== 'svg') continue;  // clipped by its svg
    if (r.right > w + 0.5 || r.left < -0.5) wide.push(e.tagName + '.' + e.className);
  }
  return {scroll: document.documentElement.scrollWidth - w, wide: wide.slice(0, 5)};
}"""

LABELS_JS = """() => {
  const boxes = [];
  for (const svg of document.querySelectorAll('svg.chart')) {
    if (svg.getBoundingClientRect().width === 0) continue;
    for (const t of svg.querySelectorAll('text.pointlabel')) {
      const r = t.getBoundingClientRect();
      boxes.push([r.left, r.top, r.right, r.bottom]);
    }
  }
  let hits = 0;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]) hits++;
  }
  return {labels: boxes.length, hits: hits};
}"""


def test_dashboard_in_chromium(folder: Path) -> None:
    _require_chromium()
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import Route, sync_playwright

    CHECK.mkdir(parents=True, exist_ok=True)
    pages = [folder / "index.html", folder / "site-elmfield.html"]
    urls = {p.resolve().as_uri() for p in pages}
    control = folder.parent / "control.html"
    control.write_text('<!DOCTYPE html><html lang="en"><title>c</title>'
                       '<img alt="" src="https://example.invalid/x.png"></html>', encoding="utf-8")
    urls.add(control.resolve().as_uri())
    blocked: list[str] = []
    requests: list[str] = []
    errors: list[str] = []
    report: dict[str, object] = {}
    axe = Axe()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for width in WIDTHS:
                context = browser.new_context(viewport={"width": width, "height": 900})

                def route(r: Route) -> None:
                    if r.request.url in urls:
                        r.continue_()
                    else:
                        blocked.append(r.request.url)
                        r.abort()

                context.route("**/*", route)
                page = context.new_page()
                page.on("request", lambda req: requests.append(req.url))
                page.on("console",
                        lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                for path in pages:
                    page.goto(path.resolve().as_uri(), wait_until="load")
                    page.wait_for_load_state("networkidle")
                    key = f"{path.stem}@{width}"
                    assert page.locator("#h-adherence").is_visible(), key
                    overflow = page.evaluate(OVERFLOW_JS)
                    assert overflow["scroll"] <= 0 and not overflow["wide"], (key, overflow)
                    result = axe.run(page)
                    bad = [v["id"] for v in result.response["violations"]
                           if v.get("impact") in ("serious", "critical")]
                    assert bad == [], (key, bad)
                    labels = page.evaluate(LABELS_JS)
                    assert labels["hits"] == 0, (key, labels)
                    report[key] = {"overflow": overflow["scroll"],
                                   "axe_violations": [(v["id"], v.get("impact")) for v in
                                                      result.response["violations"]],
                                   "labels": labels}
                    page.screenshot(path=str(CHECK / f"{path.stem}-{width}.png"), full_page=True)
                # every link is reachable with the keyboard
                page.goto(pages[0].resolve().as_uri(), wait_until="load")
                links = page.evaluate("() => document.querySelectorAll('a[href]').length")
                reached = set()
                for _ in range(links + 3):
                    page.keyboard.press("Tab")
                    reached.add(page.evaluate(
                        "() => document.activeElement && document.activeElement.getAttribute('href')"))
                hrefs = set(page.evaluate(
                    "() => Array.from(document.querySelectorAll('a[href]'), a => a.getAttribute('href'))"))
                assert hrefs <= reached, hrefs - reached
                context.close()

            # paper: A4 with the print stylesheet; nothing wider than the page
            context = browser.new_context(viewport={"width": 794, "height": 1123})
            context.route("**/*", lambda r: r.continue_() if r.request.url in urls else
                          (blocked.append(r.request.url), r.abort()))
            page = context.new_page()
            page.goto(pages[0].resolve().as_uri(), wait_until="load")
            page.emulate_media(media="print")
            printed = page.evaluate(OVERFLOW_JS)
            assert printed["scroll"] <= 0 and not printed["wide"], printed
            page.pdf(path=str(CHECK / "dashboard.pdf"), format="A4", print_background=True)
            page.goto(pages[1].resolve().as_uri(), wait_until="load")
            page.pdf(path=str(CHECK / "site-elmfield.pdf"), format="A4", print_background=True)
            context.close()

            page_requests, page_blocked, page_errors = list(requests), list(blocked), list(errors)
            # control: the same guard sees and blocks an outside request of another page
            context = browser.new_context()
            context.route("**/*", lambda r: r.continue_() if r.request.url in urls else
                          (blocked.append(r.request.url), r.abort()))
            other = context.new_page()
            other.goto(control.resolve().as_uri(), wait_until="load")
            control_blocked = blocked[len(page_blocked):]
        finally:
            browser.close()

    assert [u for u in page_requests if u not in urls] == []
    assert page_blocked == []
    assert page_errors == []
    assert control_blocked == ["https://example.invalid/x.png"]
    (CHECK / "browser-report.txt").write_text(
        "\n".join(f"{k}: {v}" for k, v in report.items()) + "\n", encoding="utf-8")
    shutil.copytree(folder, CHECK / "dashboard", dirs_exist_ok=True)
    for width in WIDTHS:
        assert (CHECK / f"index-{width}.png").stat().st_size > 50_000
    assert (CHECK / "dashboard.pdf").stat().st_size > 20_000
