"""The dashboard in headless Chromium (Debian's, driven by Playwright): it loads offline,
a window change redraws the genre chart, a user's recommendations appear."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Where the screenshots go: ENCORE_SCREENSHOTS (docs/img for the docs), else a temp folder.
SHOTS = os.environ.get("ENCORE_SCREENSHOTS")

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    pytest.skip("chromium is not installed (make test installs it)", allow_module_level=True)


def test_dashboard_draws_redraws_and_recommends(live: object, tmp_path: Path) -> None:
    url: str = live.url  # type: ignore[attr-defined]
    img = Path(SHOTS) if SHOTS else tmp_path
    outside: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        # offline: any request that leaves the service fails the test
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(url)
                else (outside.append(route.request.url), route.abort())
            ),
        )
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/dashboard")
        chart = page.locator("#genre-chart")
        page.wait_for_function("document.querySelector('#genre-chart').dataset.draws >= '1'")
        assert chart.locator(".main-svg").count() > 0
        page.wait_for_function("document.querySelector('#trend-chart').dataset.draws >= '1'")
        page.wait_for_selector("#top-tracks tbody tr")
        bars = page.evaluate("document.getElementById('genre-chart').data[0].y")
        draws = int(chart.get_attribute("data-draws") or 0)

        page.wait_for_function("document.querySelector('#segment-map').dataset.draws >= '1'")
        assert page.evaluate("document.getElementById('segment-map').data.length") == 3
        page.select_option("#preset", "30")
        page.wait_for_function(
            f"Number(document.querySelector('#genre-chart').dataset.draws) > {draws}"
        )
        month = page.evaluate("document.getElementById('genre-chart').data[0].y")
        assert sum(month) < sum(bars)  # 30 days hold fewer plays than 365

        page.check('input[name="by"][value="minutes"]')
        page.wait_for_function(
            f"Number(document.querySelector('#genre-chart').dataset.draws) > {draws + 1}"
        )
        assert "minutes" in page.inner_text("#genre-chart")
        img.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(img / "dashboard.png"), full_page=False)

        page.fill("#user", "lh:user_05")
        page.click("#recs-go")
        page.wait_for_selector("#recs tbody tr")
        rows = page.locator("#recs tbody tr")
        assert rows.count() == 10
        assert "new from" in page.inner_text("#recs") or "listeners" in page.inner_text("#recs")
        page.locator("#recs").scroll_into_view_if_needed()
        page.screenshot(path=str(img / "dashboard-recommendations.png"), full_page=True)

        page.fill("#user", "nobody")
        page.click("#recs-go")
        page.wait_for_selector("#recs .error")
        assert "unknown user" in page.inner_text("#recs")
        browser.close()
    assert outside == [] and errors == []
