"""The demo world's pages in a real browser, opened from the files and through
`partnerpulse reports serve`: no console error, no request to the network, every chart
drawn, a screenshot of each (kept under the test's temporary folder)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.reports.browser_harness import launch, open_and_check
from tests.reports.pages import mart
from tests.worlds import WorldRun

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("world_7")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch() as browser:
        yield browser


@pytest.fixture(scope="module")
def reports(default_world: WorldRun) -> Path:
    return default_world.warehouse.parent / "reports"


@pytest.fixture(scope="module")
def sample(default_world: WorldRun) -> list[str]:
    """A partner of each tier, and the newest partner (the shortest history)."""
    serving = default_world.warehouse.parent / "serving.duckdb"
    rows = mart(
        serving,
        "select partner_id from (select partner_id, row_number() over "
        "(partition by partner_tier order by partner_id) as n from marts.dim_partners "
        "where is_active) where n = 1 union "
        "(select partner_id from marts.dim_partners where is_active "
        "order by partner_since_date desc, partner_id limit 1)",
    )
    return sorted(r["partner_id"] for r in rows)


def _charts_in(path: Path) -> int:
    return len(re.findall(r'<svg role="img"', path.read_text(encoding="utf-8")))


def test_the_index_and_partner_pages_open_from_file_offline_with_every_chart_drawn(
    browser: Browser, reports: Path, sample: list[str], tmp_path: Path
) -> None:
    pages = [reports / "index.html", *(reports / "partners" / f"{p}.html" for p in sample)]
    assert len(pages) >= 5
    drawn: dict[str, str] = {}  # the DOM of each page as the browser holds it
    for page in pages:
        shot = tmp_path / f"{page.stem}.png"
        report = open_and_check(browser, page.resolve().as_uri(), shot)
        drawn[page.stem] = report.html
        assert report.console_errors == [], page
        assert report.network_requests == [], page
        assert report.empty_charts == 0, page
        assert report.charts_rendered == _charts_in(page) >= 2, page
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 50_000  # a page, not a blank
    index = open_and_check(browser, (reports / "index.html").as_uri(), tmp_path / "i.png")
    assert index.title.startswith("Partner ecosystem")
    assert index.charts_rendered == 6
    assert "aria-label=\"The ecosystem's monthly sales volume in USD" in index.html
    # The sample's partners with a forecast have its chart among those drawn.
    forecast_label = 'aria-label="Monthly sales volume in USD: the last 12 months, then'
    assert any(forecast_label in drawn[pid] for pid in sample)


@pytest.fixture(scope="module")
def served(default_world: WorldRun) -> Iterator[str]:
    """`partnerpulse reports serve` on a free port; its base URL."""
    env = {**os.environ, **default_world.env}
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "reports", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()  # the server names its address once it listens
        match = re.search(r"http://127\.0\.0\.1:\d+/", first)
        assert match, first
        yield match.group(0)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_reports_serve_serves_the_pages_on_loopback_and_the_index_links_work(
    browser: Browser, served: str, sample: list[str], tmp_path: Path
) -> None:
    index = open_and_check(browser, served, tmp_path / "served-index.png")
    assert index.console_errors == [] and index.network_requests == []
    assert index.charts_rendered == 6
    for pid in sample[:2]:
        report = open_and_check(
            browser, f"{served}partners/{pid}.html", tmp_path / f"served-{pid}.png"
        )
        assert report.console_errors == [] and report.network_requests == []
        assert report.charts_rendered >= 3 and report.empty_charts == 0
        assert pid in report.text
    # Following the index's link to a partner page, as the channel manager would.
    page = browser.new_page()
    try:
        page.goto(served)
        page.click(f'a[href="partners/{sample[0]}.html"] >> nth=0')
        page.wait_for_load_state()
        assert page.url == f"{served}partners/{sample[0]}.html"
        assert "Partner scorecard" in page.inner_text("header")
    finally:
        page.close()
