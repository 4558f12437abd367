"""The dashboard in headless Chromium: no network requests, no console errors, figures visible.

Uses Debian's Chromium (never ``playwright install``). Without /usr/bin/chromium the test is
skipped, except under ``CI`` where it fails. Saves ``results/dashboard/screenshot.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _dashboard_data import make_cohort, make_validation, provenance

from rehab_outcomes.reporting.dashboard import build_dashboard

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "results" / "dashboard" / "screenshot.png"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
METRICS = ("episodes", "pain_free_12w", "median_weeks", "reinjury_26w", "lost_to_follow_up")


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing and CI is set: the browser test must run in CI")
    pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium to run the browser test)")


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cohort = make_cohort()
    out = tmp_path_factory.mktemp("browser") / "index.html"
    return build_dashboard(cohort, make_validation(len(cohort)), out, provenance=provenance())


def test_dashboard_in_chromium(page_file: Path) -> None:
    _require_chromium()
    from playwright.sync_api import Route, sync_playwright

    url = page_file.resolve().as_uri()
    control = page_file.parent / "control.html"
    control.write_text('<!DOCTYPE html><html lang="en"><title>c</title>'
                       '<img alt="" src="https://example.invalid/x.png"></html>', encoding="utf-8")
    control_url = control.resolve().as_uri()
    blocked: list[str] = []
    requests: list[str] = []
    errors: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()

            def route(r: Route) -> None:
                if r.request.url in (url, control_url):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            page.on("request", lambda req: requests.append(req.url))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")

            assert page.title() == "Runner's knee: clinic outcomes"
            for name in METRICS:
                value = page.locator(
                    f'[data-metric="{name}"][data-arm="strength_graded_running"]')
                assert value.is_visible(), name
                assert value.inner_text().strip() not in ("", "—"), name
            assert page.locator('[data-metric="episodes"][data-arm="all"]').inner_text() == "462"
            charts = page.locator("svg.chart")
            assert charts.count() == 4
            for i in range(4):
                box = charts.nth(i).bounding_box()
                assert box is not None and box["width"] > 600 and box["height"] > 250
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # a phone-sized window: the page reflows without sideways scrolling
            page.set_viewport_size({"width": 390, "height": 800})
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0

            page_requests, page_blocked, page_errors = list(requests), list(blocked), list(errors)

            # control: the same guard sees and blocks an outside request of another page
            other = context.new_page()
            other.goto(control_url, wait_until="load")
            control_blocked = blocked[len(page_blocked):]
        finally:
            browser.close()

    assert [u for u in page_requests if u != url] == []
    assert page_blocked == []
    assert page_errors == []
    assert control_blocked == ["https://example.invalid/x.png"]
    assert SCREENSHOT.stat().st_size > 50_000
