"""The Great Expectations Data Docs open without network, styled, with their lists and icons,
and each warehouse has its own.

A real check (GX in-process) validates a small warehouse and writes its page, the index is
built as `partnerpulse gx-docs` builds it, and headless Chromium opens the index and the
page, over HTTP (as `gx-docs` serves them) and from the file (the check's `data_docs_page`),
with every request that would leave the machine recorded and aborted.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest
from playwright.sync_api import Browser, Page, Route

from orchestration.checks import data_docs, gx_context
from tests.checks.data_docs_harness import on_warehouse, reconciliation_warehouse, validate
from tests.reports.browser_harness import TIMEOUT_MS, is_local, launch, open_and_check

# One worker runs every in-process GX test: each worker that imports GX pays ~6 s for it.
pytestmark = pytest.mark.xdist_group("gx_in_process")

RUN_ID = "data-docs-offline"

# What the DOM shows once loaded: styles, the index's list, the icons and the logo.
INSPECT = """async () => {
  await document.fonts.ready;
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const icons = [...document.querySelectorAll('i.fas, i.fa')].filter(visible);
  const logo = document.querySelector('.navbar-brand img');
  return {
    navbar: getComputedStyle(document.querySelector('.navbar')).display,
    stickyTop: getComputedStyle(document.querySelector('.sticky-top')).position,
    tableRows: [...document.querySelectorAll('.bootstrap-table table tbody tr')]
      .filter((tr) => !tr.classList.contains('no-records-found'))
      .map((tr) => tr.innerText),
    icons: icons.map((i) => ({
      family: getComputedStyle(i, '::before').fontFamily,
      width: i.getBoundingClientRect().width,
    })),
    solidFont: [...document.fonts]
      .filter((f) => f.family.replace(/"/g, '') === 'Font Awesome 6 Free' && f.weight === '900')
      .map((f) => f.status),
    logo: logo ? { complete: logo.complete, width: logo.naturalWidth, src: logo.src } : null,
  };
}"""


@dataclasses.dataclass(frozen=True)
class DataDocs:
    site: Path
    index: Path
    page: Path  # the check's validation page
    results: dict[str, dg.AssetCheckResult]
    server: str  # where this test serves the site, as `partnerpulse gx-docs` does


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataDocs]:
    warehouse = reconciliation_warehouse(tmp_path_factory.mktemp("data_docs"))
    with on_warehouse(warehouse):
        results = validate(RUN_ID)
        index = gx_context.build_data_docs_index()
        site = gx_context.data_docs_dir()
    page = Path(str(results["partner_reconciliation_structure"].metadata["data_docs_page"].value))
    with serve(site) as server:
        yield DataDocs(site, index, page, results, server)


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """The site over HTTP on a free loopback port, served as `partnerpulse gx-docs` does."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch() as browser:
        yield browser


@contextmanager
def offline_page(browser: Browser, url: str) -> Iterator[tuple[Page, list[str]]]:
    """`url` loaded in a fresh context that aborts (and lists) every non-local request, as
    the harness's open_and_check() does."""
    blocked: list[str] = []

    def on_request(route: Route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("blockedbyclient")

    context = browser.new_context()
    try:
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", on_request)
        page = context.new_page()
        page.goto(url, wait_until="load")
        yield page, blocked
    finally:
        context.close()


def url_of(docs: DataDocs, which: str, scheme: str) -> str:
    path = docs.index if which == "index" else docs.page
    if scheme == "file":
        return path.as_uri()
    return docs.server + path.relative_to(docs.site).as_posix()


# -- the pages as written --------------------------------------------------------------------

REMOTE_LOAD = re.compile(
    r"""<(?!a\b)[a-z][^<>]*\s(?:src|href)\s*=\s*["']https?:|url\(\s*["']?https?:|@import"""
    r"""|\sintegrity=|\scrossorigin""",
    re.IGNORECASE,
)


def test_the_pages_load_nothing_remote_and_the_vendored_files_are_copied(docs: DataDocs) -> None:
    suite_page = docs.site / "expectations" / "partner_reconciliation.html"
    for page in (docs.index, docs.page, suite_page):
        html = page.read_text()
        assert not REMOTE_LOAD.findall(html), page
        assert "amazonaws" not in html and "dataContextId" not in html, page
        assert "https://greatexpectations.io" in html  # links stay links
        for path in re.findall(r"""(?:src|href)=["']([^"'#?]*static/[^"'#?]*)""", html):
            assert (page.parent / path).is_file() or "favicon" in path, (page, path)
    copied = docs.site / "static" / "vendor"
    for file in data_docs.VENDOR_DIR.rglob("*"):
        if file.is_file():
            assert (copied / file.relative_to(data_docs.VENDOR_DIR)).read_bytes() == (
                file.read_bytes()
            )


def test_check_metadata_links_the_page_by_path_and_over_http(docs: DataDocs) -> None:
    for name in ("partner_reconciliation_structure", "partner_reconciliation_partner_behaviour"):
        metadata = docs.results[name].metadata
        assert metadata["data_docs_page"].value == str(docs.page)
        url = urlsplit(str(metadata["data_docs_url"].value))
        assert (url.scheme, url.netloc) == ("http", "127.0.0.1:8200")
        assert url.path == "/" + docs.page.relative_to(docs.site).as_posix()
    assert not docs.results["partner_reconciliation_partner_behaviour"].passed


def test_each_warehouse_has_its_own_results_and_data_docs(tmp_path: Path, gx_project: Path) -> None:
    warehouses = {name: reconciliation_warehouse(tmp_path / name) for name in ("east", "west")}
    pages = {}
    for name, warehouse in warehouses.items():
        with on_warehouse(warehouse):
            results = validate(f"{name}-run")
        pages[name] = Path(
            str(results["partner_reconciliation_structure"].metadata["data_docs_page"].value)
        )
    # Both indexes are built after both runs, as `partnerpulse gx-docs` would.
    for name, warehouse in warehouses.items():
        other = "west" if name == "east" else "east"
        with on_warehouse(warehouse):
            site = gx_context.data_docs_dir()
            html = gx_context.build_data_docs_index().read_text()
        assert site == warehouse.parent / "gx" / "data_docs"
        assert pages[name].is_relative_to(site)
        assert pages[name].relative_to(site).as_posix() in html
        assert f"{name}-run" in html
        assert f"{other}-run" not in html
        (result,) = (warehouse.parent / "gx" / "validations").rglob("*.json")
        assert f"{name}-run" in result.read_text()
    # Nothing is written into the GX project (the repository's `expectations/` in a run).
    assert not (gx_project / "gx" / "uncommitted").exists()


# -- the pages in a browser without network -------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "file"])
@pytest.mark.parametrize("which", ["index", "validation"])
def test_the_page_renders_offline(
    docs: DataDocs, browser: Browser, which: str, scheme: str, tmp_path: Path
) -> None:
    url = url_of(docs, which, scheme)
    report = open_and_check(browser, url, tmp_path / f"{which}.png")
    assert report.network_requests == []
    assert report.console_errors == []
    assert "Great Expectations" in report.title

    with offline_page(browser, url) as (page, blocked):
        seen = page.evaluate(INSPECT)
    assert blocked == []
    # Bootstrap's CSS: a flex navbar that sticks to the top (block and static without it).
    assert (seen["navbar"], seen["stickyTop"]) == ("flex", "sticky")
    # Font Awesome: the solid font loaded from the site, and every status icon drawn in it.
    assert seen["solidFont"] == ["loaded"]
    assert seen["icons"]
    for icon in seen["icons"]:
        assert "Font Awesome 6 Free" in icon["family"], icon
        assert icon["width"] > 0, icon
    # The logo, from the site's own static/images/ (not GX's S3 bucket).
    assert seen["logo"]["complete"] and seen["logo"]["width"] > 0, seen["logo"]
    assert "/static/images/logo-long.png" in seen["logo"]["src"]
    if which == "index":
        # bootstrap-table drew the list of validations from the page's data.
        assert any(RUN_ID in row for row in seen["tableRows"]), seen["tableRows"]


# -- the rewriting on its own ----------------------------------------------------------------


def test_every_vendored_file_is_one_the_pages_load() -> None:
    vendored = {
        p.relative_to(data_docs.VENDOR_DIR).as_posix()
        for p in data_docs.VENDOR_DIR.rglob("*")
        if p.is_file() and not re.match(r"(README|LICENSE)", p.name)
    }
    prefix = data_docs.SITE_VENDOR + "/"
    mapped = {p[len(prefix) :] for p in data_docs.LOCAL_COPIES.values() if p.startswith(prefix)}
    fonts = {
        f"fontawesome/webfonts/{name}"
        for name in re.findall(
            r"\.\./webfonts/([\w-]+\.woff2)",
            (data_docs.VENDOR_DIR / "fontawesome/css/all.min.css").read_text(),
        )
    }
    assert vendored == mapped | fonts
    for folder in {p.split("/")[0] for p in vendored}:
        assert list((data_docs.VENDOR_DIR / folder).glob("LICENSE*")), folder


def test_urls_become_paths_relative_to_the_page(tmp_path: Path) -> None:
    site = tmp_path / "site"
    page = site / "validations" / "suite" / "run" / "page.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '<html><head><style>@import url("https://fonts.example.com/x.css");\n'
        ".brand { background: url('https://great-expectations-web-assets.s3.us-east-2"
        ".amazonaws.com/full_logo_dark.png') }</style>\n"
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>\n'
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js"'
        ' integrity="sha384-x" crossorigin="anonymous"></script>\n'
        '<script src="https://cdn.example.com/unknown.js"></script>\n'
        '<link rel="stylesheet" href="https://cdn.example.com/unknown.css"></head>\n'
        '<body><img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/'
        'logo-long.png?d=20260101T000000Z&dataContextId=abc" alt="GX">\n'
        '<div style="background: url(https://example.com/bg.png)"></div>\n'
        '<a href="https://greatexpectations.io">Great Expectations</a></body></html>'
    )
    data_docs.make_offline(site, [page, site / "missing.html"])
    html = page.read_text()
    assert '<script src="../../../static/vendor/jquery/jquery.min.js"></script>' in html
    assert '<script src="../../../static/vendor/popper.js/umd/popper.min.js"></script>' in html
    assert 'src="../../../static/images/logo-long.png" alt="GX"' in html
    assert 'url("../../../static/images/logo-long.png")' in html
    assert 'src="data:,"' in html and 'href="data:,"' in html and 'url("data:,")' in html
    assert "@import" not in html and "integrity" not in html and "crossorigin" not in html
    assert '<a href="https://greatexpectations.io">' in html
    assert not REMOTE_LOAD.findall(html)
    data_docs.make_offline(site, [page])  # a second pass changes nothing
    assert page.read_text() == html


def test_the_vendored_files_are_copied_only_when_missing_or_changed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    data_docs.make_offline(site, [])
    jquery = site / "static" / "vendor" / "jquery" / "jquery.min.js"
    assert jquery.read_bytes() == (data_docs.VENDOR_DIR / "jquery" / "jquery.min.js").read_bytes()
    inode = jquery.stat().st_ino
    data_docs.make_offline(site, [])
    assert jquery.stat().st_ino == inode  # unchanged: not written again
    jquery.write_text("tampered")
    data_docs.make_offline(site, [])
    assert jquery.read_bytes() == (data_docs.VENDOR_DIR / "jquery" / "jquery.min.js").read_bytes()
