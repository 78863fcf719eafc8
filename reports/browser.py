"""Headless Chromium for the scorecard pages: prints them to PDF, and the tests open them in it.

Playwright drives the machine's own Chromium (Debian's `chromium` package, or a Chrome set
with `PARTNERPULSE_CHROMIUM`), never one it downloads: machines running the pipeline may
reach package registries and nothing else, and `playwright install` would fetch ~150 MB.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from reports.workers import relay

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
    """Prints each `(html_file, pdf_file)` pair to PDF (`pdf_printer`)."""
    with pdf_printer(executable, printed_on=printed_on) as submit:
        for html_file, pdf_file in pages:
            submit(html_file, pdf_file)


@contextmanager
def pdf_printer(
    executable: Path, *, printed_on: date | None = None
) -> Iterator[Callable[[Path, Path], None]]:
    """Yields `submit(html_file, pdf_file)`, which queues a page to print to an A4 PDF (or
    the page's CSS `@page` size), its footer giving the page number and `printed_on`: a PDF
    may be kept for some days while its web page changes (reports.build), so it says how old
    its figures are. On leaving the block, every page submitted is printed; a printing error
    is raised there, or by the next `submit` once it happened.

    The pages print in a process of their own (`python -m reports.browser`, started at the
    first page) while the caller goes on rendering the next ones. Not a thread: drawing a
    chart (vl-convert) holds the GIL, so a printing thread waited between charts and
    Chromium idled. One browser and one tab for all pages: starting Chromium costs several
    pages' printing, and two tabs printing at once gained under 10% on two cores, within
    the noise. Requests other than `file:` and `data:` are aborted, so a stray URL in a page
    costs a missing image and a logged warning, never a network call or a hang.
    """
    printed_on = printed_on or date.today()
    worker: subprocess.Popen[str] | None = None
    with tempfile.TemporaryFile("w+", encoding="utf-8") as messages:

        def submit(html_file: Path, pdf_file: Path) -> None:
            nonlocal worker
            if worker is None:
                worker = subprocess.Popen(
                    [sys.executable, "-m", __name__, str(executable), printed_on.isoformat()],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=messages,  # a file: a full pipe would stall the worker
                    text=True,
                    encoding="utf-8",
                )
            assert worker.stdin is not None
            try:
                if worker.poll() is None:
                    pages = [str(Path(html_file).resolve()), str(Path(pdf_file).resolve())]
                    worker.stdin.write(json.dumps(pages) + "\n")
                    worker.stdin.flush()
                    return
            except BrokenPipeError:
                pass
            _finish(worker, messages)  # it stopped: raises its error

        try:
            yield submit
        except BaseException:
            if worker is not None:  # the publication is abandoned: print no more
                worker.terminate()
                worker.wait()
            raise
        if worker is not None:
            _finish(worker, messages)


def _finish(worker: subprocess.Popen[str], messages: IO[str]) -> None:
    """Waits for the printing process to print what it was given, relays its warnings, and
    raises its error if it failed."""
    with contextlib.suppress(BrokenPipeError):
        worker.stdin.close()  # type: ignore[union-attr]
    relay("printing PDFs", __name__, worker.wait(), messages)


def _print_pdfs(executable: Path, pages: Iterator[tuple[Path, Path]], printed_on: date) -> None:
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


def _main(argv: Sequence[str]) -> int:
    """The printing process of `pdf_printer`: `python -m reports.browser CHROMIUM DATE`
    prints the `[html_file, pdf_file]` of each JSON line of its input, and writes its
    warnings and error as `LEVEL message` lines to stderr."""
    executable, printed_on = Path(argv[0]), date.fromisoformat(argv[1])
    # Terminated (the build was abandoned): unwind, so that Chromium is closed too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    logging.basicConfig(format="%(levelname)s %(message)s", level=logging.WARNING)
    pages = (tuple(Path(p) for p in json.loads(line)) for line in sys.stdin)
    try:
        _print_pdfs(executable, pages, printed_on)  # type: ignore[arg-type]
    except RuntimeError as error:
        print(f"ERROR {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
