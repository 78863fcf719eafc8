"""Headless Chromium for the scorecard pages: prints them to PDF, and the tests open them in it.

Playwright drives the machine's own Chromium (Debian's `chromium` package, or a Chrome set
with `PARTNERPULSE_CHROMIUM`), never one it downloads: machines running the pipeline may
reach package registries and nothing else, and `playwright install` would fetch ~150 MB.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError

log = logging.getLogger(__name__)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Chromium otherwise calls Google's update, sync and component services in the background,
# which on a machine with a closed network hang or fail noisily. `--no-sandbox`: CI runs as
# root in containers, where Chromium refuses to start sandboxed; the pages are our own.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# Chromium fills the spans' classes in; the template's own styles are all it has (the
# page's stylesheet does not reach the footer, whose default font size is unreadable).
FOOTER = (
    '<div style="width: 100%; margin: 0 12mm; font: 8px sans-serif; color: #666; '
    'display: flex; justify-content: space-between;">'
    "<span>Printed {printed_on}</span>"
    '<span><span class="pageNumber"></span> / <span class="totalPages"></span></span></div>'
)

# Schemes a page may load from: everything else would leave the machine.
LOCAL_SCHEMES = frozenset({"file", "data"})


def find_chromium(explicit: str | Path | None = None) -> Path | None:
    """`explicit` if it is an executable file, else the first Chromium or Chrome on PATH."""
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


@contextmanager
def chromium_browser(executable: Path) -> Iterator[Browser]:
    """A headless Chromium driven by Playwright's sync API, closed (with its driver) on exit.

    The sync API refuses to start in a thread that runs an asyncio loop, or that already has
    a chromium_browser() open: call it from plain code, one at a time per thread.
    """
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
            )
        except PlaywrightError as error:
            raise RuntimeError(f"could not start Chromium {executable}: {error.message}") from error
        try:
            yield browser
        finally:
            browser.close()


def print_pdfs(
    executable: Path, pages: Sequence[tuple[Path, Path]], *, printed_on: date | None = None
) -> None:
    """Prints each `(html_file, pdf_file)` pair to an A4 PDF (or the page's CSS `@page` size),
    its footer giving the page number and `printed_on`: a PDF may be kept for some days while
    its web page changes (reports.build), so it says how old its figures are.

    One browser and one tab for all pages, one after the other: starting Chromium costs
    several pages' printing, and two tabs printing at once (async API) gained under 10% on two
    cores, within the noise, as the renderer, browser and driver processes keep ~1.5 cores
    busy already. Requests other than `file:` and `data:` are aborted, so a stray URL in a
    page costs a missing image and a logged warning, never a network call or a hang.
    """
    # In a thread of its own: Playwright's sync API refuses to start in a thread that runs an
    # event loop (an asyncio program, a notebook, or a chromium_browser() still open there).
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(_print_pdfs, executable, pages, printed_on or date.today()).result()


def _print_pdfs(executable: Path, pages: Sequence[tuple[Path, Path]], printed_on: date) -> None:
    printing: Path | None = None
    footer = FOOTER.format(printed_on=printed_on.isoformat())

    def local_only(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in LOCAL_SCHEMES:
            route.continue_()
        else:
            log.warning("%s: blocked a request to %s (pages must be self-contained)", printing, url)
            route.abort("blockedbyclient")

    with chromium_browser(executable) as browser:
        context = browser.new_context()
        try:
            context.route("**/*", local_only)
            page = context.new_page()
            for html_file, pdf_file in pages:
                printing = html_file
                try:
                    page.goto(Path(html_file).resolve().as_uri(), wait_until="load")
                    page.pdf(
                        path=pdf_file,
                        format="A4",
                        print_background=True,
                        prefer_css_page_size=True,
                        display_header_footer=True,
                        header_template="<span></span>",
                        footer_template=footer,
                    )
                except PlaywrightError as error:
                    raise RuntimeError(
                        f"could not print {html_file} to {pdf_file}: {error.message}"
                    ) from error
        finally:
            context.close()
