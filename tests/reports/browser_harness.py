"""Opens a scorecard page in headless Chromium and reports what a reader would have seen.

A page that renders in a test but needs the network would render blank charts on a reader's
machine that has none, or leak who reads which scorecard to a CDN: every request that would
leave the machine is recorded and aborted, so tests can assert there were none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Route, WebSocketRoute

from reports.browser import chromium_browser, find_chromium

LOCAL_SCHEMES = frozenset({"file", "data", "about", "blob"})
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# Local pages answer in milliseconds: fail in seconds rather than after Playwright's 30 s.
TIMEOUT_MS = 10_000

# Outermost <svg> only, so that an <svg> nested in a chart does not count as a second chart.
COUNT_CHARTS = """() => {
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const svgs = [...document.querySelectorAll('svg')]
    .filter((svg) => !svg.parentElement?.closest('svg'));
  const canvases = [...document.querySelectorAll('canvas')];
  return {
    rendered: svgs.filter((s) => s.childElementCount > 0 && shown(s)).length
      + canvases.filter((c) => c.width > 0 && c.height > 0 && shown(c)).length,
    empty: svgs.filter((s) => s.childElementCount === 0).length,
  };
}"""


@dataclass
class PageReport:
    console_errors: list[str]  # console errors and warnings, and uncaught exceptions
    network_requests: list[str]  # URLs that would have left the machine (all aborted)
    charts_rendered: int
    empty_charts: int
    title: str
    text: str  # document.body.innerText
    html: str  # the DOM once loaded, as page.content() serialises it


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS


def open_and_check(browser: Browser, url: str, screenshot: Path) -> PageReport:
    """Opens `url` in a fresh context (no cache or storage shared with other tests), waits
    for `load`, counts the charts, and saves a full-page screenshot to `screenshot`."""
    console_errors: list[str] = []
    network_requests: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            where = message.location
            console_errors.append(
                f"{message.type}: {message.text} ({where['url']}:{where['lineNumber']})"
            )

    def on_request(route: Route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            network_requests.append(route.request.url)
            route.abort("blockedbyclient")

    # Playwright's route() does not see WebSockets: routing them without connect_to_server()
    # keeps them inside the browser.
    def on_websocket(websocket: WebSocketRoute) -> None:
        if is_local(websocket.url):
            websocket.connect_to_server()
        else:
            network_requests.append(websocket.url)
            websocket.close()

    context = browser.new_context()
    try:
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", on_request)
        context.route_web_socket(re.compile(".*"), on_websocket)
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: console_errors.append(f"pageerror: {error}"))
        page.goto(url, wait_until="load")
        charts = page.evaluate(COUNT_CHARTS)
        page.screenshot(path=screenshot, full_page=True)
        return PageReport(
            console_errors=console_errors,
            network_requests=network_requests,
            charts_rendered=charts["rendered"],
            empty_charts=charts["empty"],
            title=page.title(),
            text=page.evaluate("() => document.body ? document.body.innerText : ''"),
            html=page.content(),
        )
    finally:
        context.close()


def chromium() -> Path:
    """The Chromium `PARTNERPULSE_CHROMIUM` names, or the first on PATH; fails the test with
    what to install when there is none (`make test` runs scripts/ensure-chromium first)."""
    explicit = os.environ.get("PARTNERPULSE_CHROMIUM")
    # find_chromium() would fall back to PATH: a mistyped setting must not go unnoticed.
    if explicit and find_chromium(explicit) != Path(explicit).expanduser():
        pytest.fail(
            f"PARTNERPULSE_CHROMIUM={explicit} is not an executable file: point it at a "
            "Chromium/Chrome executable, or unset it to use the chromium on PATH",
            pytrace=False,
        )
    executable = find_chromium(explicit)
    if executable is None:
        pytest.fail(
            "the scorecard page tests need Chromium: install Debian's chromium package "
            "(sudo apt-get install chromium) or set PARTNERPULSE_CHROMIUM to a "
            "Chromium/Chrome executable",
            pytrace=False,
        )
    return executable


@contextmanager
def launch() -> Iterator[Browser]:
    """A headless browser on `chromium()`, closed on exit."""
    with chromium_browser(chromium()) as browser:
        yield browser
