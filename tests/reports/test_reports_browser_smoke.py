"""The browser the scorecard tests rely on: it starts, renders an inline chart, catches
requests that would leave the machine, and prints PDFs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from reports.browser import print_pdfs
from reports.build import build_reports
from tests.reports.browser_harness import chromium, launch, open_and_check
from tests.reports.serving_file import Partner
from tests.reports.serving_file import write as write_serving

CHART_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Partner scorecard</title>
<style>@page { size: A4; margin: 12mm } body { font-family: sans-serif }</style></head>
<body><h1>Partner scorecard</h1>
<svg xmlns="http://www.w3.org/2000/svg" width="240" height="120" role="img">
  <rect x="10" y="40" width="40" height="80" fill="#4c78a8"/>
  <rect x="70" y="10" width="40" height="110" fill="#4c78a8"/>
  <polyline points="30,60 90,30 150,50" fill="none" stroke="#f58518"/>
</svg>
<table><tr><th>Partner</th><th>Revenue</th></tr><tr><td>Acme</td><td>1,200</td></tr></table>
</body></html>
"""

LEAKY_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Leaky</title>
<script src="https://cdn.example.com/x.js"></script></head>
<body><img src="https://example.com/x.png" alt="logo">
<script>new WebSocket("wss://ws.example.com/live");</script></body></html>
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch() as browser:
        yield browser


def write(path: Path, html: str) -> Path:
    path.write_text(html, encoding="utf-8")
    return path


def test_inline_chart_renders_offline(browser: Browser, tmp_path: Path) -> None:
    page = write(tmp_path / "scorecard.html", CHART_PAGE)
    screenshot = tmp_path / "scorecard.png"

    report = open_and_check(browser, page.as_uri(), screenshot)

    assert report.console_errors == []
    assert report.network_requests == []
    assert (report.charts_rendered, report.empty_charts) == (1, 0)
    assert report.title == "Partner scorecard"
    assert "Acme" in report.text
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert screenshot.stat().st_size > 1000


def test_requests_leaving_the_machine_are_caught_and_blocked(
    browser: Browser, tmp_path: Path
) -> None:
    page = write(tmp_path / "leaky.html", LEAKY_PAGE)

    report = open_and_check(browser, page.as_uri(), tmp_path / "leaky.png")

    assert set(report.network_requests) == {
        "https://cdn.example.com/x.js",
        "https://example.com/x.png",
        "wss://ws.example.com/live",
    }
    # Chromium reports each blocked load as a console error.
    assert any("ERR_BLOCKED_BY_CLIENT" in error for error in report.console_errors)


def test_print_pdfs(tmp_path: Path) -> None:
    page = write(tmp_path / "scorecard.html", CHART_PAGE)
    pdf = tmp_path / "scorecard.pdf"

    print_pdfs(chromium(), [(page, pdf)])

    content = pdf.read_bytes()
    assert content.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b", content)) >= 1


def test_a_printed_page_that_asks_the_network_gets_a_logged_warning_and_still_prints(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = write(tmp_path / "leaky.html", LEAKY_PAGE)
    pdf = tmp_path / "leaky.pdf"

    with caplog.at_level(logging.WARNING, logger="reports.browser"):
        print_pdfs(chromium(), [(page, pdf)])

    assert pdf.read_bytes().startswith(b"%PDF-")
    blocked = [r.getMessage() for r in caplog.records if "blocked a request" in r.getMessage()]
    assert any("https://cdn.example.com/x.js" in message for message in blocked)
    assert all(str(page) in message for message in blocked)


def test_a_pdf_that_cannot_be_printed_fails_the_build_and_readers_keep_the_last_pages(
    tmp_path: Path,
) -> None:
    partner = Partner("0018d000030AAA1AAA", "Alder Trading GmbH", 2, 4_000, "too_new", "none")
    serving = write_serving(tmp_path / "serving.duckdb", [partner])
    first = build_reports(serving, tmp_path / "reports", pdf=False)
    broken = tmp_path / "chromium"  # starts, and exits before Playwright can drive it
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)

    with pytest.raises(RuntimeError, match="could not start Chromium"):
        build_reports(serving, tmp_path / "reports", chromium=broken)

    assert (tmp_path / "reports").resolve() == first.path
    publications = tmp_path / "reports-publications"
    assert sorted(p.name for p in publications.iterdir()) == [".charts", first.publication_id]
