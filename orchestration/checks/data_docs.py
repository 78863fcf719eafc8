"""Great Expectations Data Docs that open without network.

GX 1.x's page templates load Bootstrap, bootstrap-table, jQuery, Font Awesome, Vega, ... from
CDNs and the logo from GX's S3 bucket (with the data context id attached): offline, the
index is unstyled, its lists (bootstrap-table) stay empty and the status icons are blank.
Those files are vendored in `expectations/static/vendor/` (versions and licences in its
README.md). After GX writes pages, `make_offline` copies that folder into the site
(`<site>/static/vendor/`) and points every page at the copies, by paths relative to the
page, so the site works from `file://` as well as over `partnerpulse gx-docs`.

The vendored files belong to the code (like GX's own templates), not to the GX project
(`PARTNERPULSE_GX_PROJECT_DIR`): they are always read from this checkout.

`data_docs_server` serves a site (`partnerpulse gx-docs`, `make gx-docs`, `make dev`) and
rebuilds its index when the index is asked for and a validation page or a suite is newer
than the last build, so the validations of runs made since it started are listed.
"""

from __future__ import annotations

import filecmp
import functools
import http.server
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import quote, urlsplit

log = logging.getLogger(__name__)

VENDOR_DIR = Path(__file__).resolve().parents[2] / "expectations" / "static" / "vendor"
SITE_VENDOR = "static/vendor"  # where the site keeps its copy, relative to the site

# `partnerpulse gx-docs` (`make gx-docs`) serves the site here (its default --port).
DATA_DOCS_PORT = 8200
DATA_DOCS_SERVER = f"http://127.0.0.1:{DATA_DOCS_PORT}/"

_S3 = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"

# Every remote file GX 1.x's templates load (the URL as written, query string ignored) ->
# the local file, relative to the site's root. After a GX upgrade, a URL missing here is
# logged and blanked (never loaded): add it here and vendor its file.
LOCAL_COPIES: dict[str, str] = {
    **{
        url: f"{SITE_VENDOR}/{path}"
        for url, path in {
            "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
                "bootstrap/css/bootstrap.min.css"
            ),
            "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
                "bootstrap/js/bootstrap.min.js"
            ),
            "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
                "bootstrap-table/bootstrap-table.min.css"
            ),
            "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
                "bootstrap-table/bootstrap-table.min.js"
            ),
            "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
            "bootstrap-table-filter-control.min.js": (
                "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.js"
            ),
            # GX asks for 1.19.0's filter-control CSS (minified on the index only): 1.19.1's
            # serves both.
            "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
            "bootstrap-table-filter-control.min.css": (
                "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
            ),
            "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
            "bootstrap-table-filter-control.css": (
                "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
            ),
            "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
            "bootstrap-datepicker.min.css": "bootstrap-datepicker/css/bootstrap-datepicker.min.css",
            "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
            "bootstrap-datepicker.min.js": "bootstrap-datepicker/js/bootstrap-datepicker.min.js",
            "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
            "bootstrap-prefers-dark.css": "bootstrap-dark/css/bootstrap-prefers-dark.min.css",
            "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
                "fontawesome/css/all.min.css"
            ),
            "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
            "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
                "popper.js/umd/popper.min.js"
            ),
            # jsdelivr serves a package's `jsdelivr` file: build/<name>.min.js.
            "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
            "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/vega-lite.min.js",
            "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/vega-embed.min.js",
        }.items()
    },
    # The logo, which GX also ships in the site's static/images/ (no dark variant: the
    # dark-mode CSS shows the same logo).
    f"{_S3}logo-long.png": "static/images/logo-long.png",
    f"{_S3}full_logo_dark.png": "static/images/logo-long.png",
}

BLANK = "data:,"  # what a remote load that has no local copy becomes: an empty resource

# An opening tag, an attribute that loads a URL, the attributes that only hold for the CDN
# copy (subresource integrity and CORS: a file:// page cannot load a file with either), a
# <style> block, a CSS url() and @import.
_TAG = re.compile(r"<(?P<name>[a-zA-Z][\w:-]*)(?P<attrs>\s[^<>]*)?>")
_LOAD_ATTR = re.compile(
    r"""(?P<attr>(?<![\w-])(?:src|href|srcset|poster|data|background)\s*=\s*)"""
    r"""(?P<q>["'])(?P<url>https?://[^"']*)(?P=q)""",
    re.IGNORECASE,
)
_STYLE_ATTR = re.compile(r"""(?P<attr>(?<![\w-])style\s*=\s*)(?P<q>["'])(?P<css>.*?)(?P=q)""")
_CDN_ONLY_ATTR = re.compile(
    r"""\s+(?:integrity|crossorigin)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?""", re.IGNORECASE
)
_STYLE_BLOCK = re.compile(r"(<style\b[^>]*>)(.*?)(</style>)", re.IGNORECASE | re.DOTALL)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*["']?https?://[^;]*;""", re.IGNORECASE)
_CSS_URL = re.compile(
    r"""url\(\s*(?P<q>["']?)(?P<url>https?://[^"')\s]*)(?P=q)\s*\)""", re.IGNORECASE
)


def make_offline(site_dir: Path, pages: Iterable[Path], vendor: Path = VENDOR_DIR) -> None:
    """Copies the vendored files into `site_dir` (those missing or changed) and rewrites
    each of `pages` (HTML files GX wrote into the site) to load nothing from the network.

    Every URL of `LOCAL_COPIES` becomes the local file's path relative to the page; any
    other absolute http(s) load (`src=`, `<link href>`, CSS `url()`, `@import`) is blanked.
    Links (`<a href>`) stay. Pages that are missing or already offline are left as they are.
    """
    _copy_tree(vendor, site_dir / SITE_VENDOR)
    for page in pages:
        if not page.is_file():
            continue
        html = page.read_text(encoding="utf-8")
        offline = offline_html(html, site_dir, page)
        if offline != html:
            _write_atomically(page, offline.encode("utf-8"))


def offline_html(html: str, site_dir: Path, page: Path) -> str:
    """`html` (the page at `page`, in the site at `site_dir`) with its remote loads local."""

    def local(url: str) -> str:
        bare = re.split(r"[?#]", url, maxsplit=1)[0]
        path = LOCAL_COPIES.get(bare)
        if path is None:
            log.warning("Data Docs %s: no local copy of %s, not loaded", page.name, url)
            return BLANK
        return Path(os.path.relpath(site_dir / path, page.parent)).as_posix()

    def css(text: str) -> str:
        text = _CSS_IMPORT.sub("", text)
        return _CSS_URL.sub(lambda m: f'url("{local(m["url"])}")', text)

    def tag(m: re.Match[str]) -> str:
        attrs = m["attrs"] or ""
        if m["name"].lower() in ("a", "area"):  # links, not loads
            return m[0]
        new = _LOAD_ATTR.sub(lambda a: f"{a['attr']}{a['q']}{local(a['url'])}{a['q']}", attrs)
        if new != attrs:
            new = _CDN_ONLY_ATTR.sub("", new)
        new = _STYLE_ATTR.sub(lambda s: f"{s['attr']}{s['q']}{css(s['css'])}{s['q']}", new)
        return m[0] if new == attrs else f"<{m['name']}{new}>"

    html = _STYLE_BLOCK.sub(lambda m: m[1] + css(m[2]) + m[3], html)
    return _TAG.sub(tag, html)


def page_url(site_dir: Path, page: Path) -> str:
    """The page's address where `partnerpulse gx-docs` serves the site."""
    return DATA_DOCS_SERVER + quote(page.relative_to(site_dir).as_posix())


# -- serving the site ------------------------------------------------------------------------


class DataDocsIndex:
    """A site's index, rebuilt (`build`) when a page or suite is newer than its last build.

    `stamp` is taken before each build: a page written while the index is built counts as
    newer, and the next request of the index rebuilds it again.
    """

    def __init__(self, build: Callable[[], object], stamp: Callable[[], int]) -> None:
        self._build = build
        self._stamp = stamp
        self._built_at: int | None = None
        self._lock = threading.Lock()  # one build at a time; other requests wait for it

    def refresh(self) -> bool:
        """Builds the index unless it is up to date; True when it was built."""
        with self._lock:
            stamp = self._stamp()
            if self._built_at is not None and stamp <= self._built_at:
                return False
            self._build()
            self._built_at = stamp
            return True


class _Handler(http.server.SimpleHTTPRequestHandler):
    index: DataDocsIndex

    def send_head(self):  # noqa: ANN201 (the stdlib's signature)
        if urlsplit(self.path).path in ("/", "/index.html"):
            try:
                self.index.refresh()
            except Exception:  # the index as it was is served; the server goes on
                log.exception("the Data Docs index could not be rebuilt")
        return super().send_head()

    def end_headers(self) -> None:
        # Asked again on every visit: a cached index would hide the new validations.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def data_docs_server(
    site: Path, index: DataDocsIndex, port: int = DATA_DOCS_PORT
) -> http.server.ThreadingHTTPServer:
    """A server of the Data Docs `site` on 127.0.0.1:`port` (0: any free port), not yet
    serving; a request of `/` or `/index.html` first brings `index` up to date."""
    handler = type("DataDocsHandler", (_Handler,), {"index": index})
    return http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(handler, directory=str(site))
    )


def _copy_tree(source: Path, target: Path) -> None:
    """Copies each file of `source` that `target` lacks or holds in another version."""
    for file in sorted(source.rglob("*")):
        copy = target / file.relative_to(source)
        if file.is_file() and not (copy.is_file() and filecmp.cmp(file, copy, shallow=True)):
            copy.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(copy, file.read_bytes(), like=file)


def _write_atomically(path: Path, data: bytes, like: Path | None = None) -> None:
    """Replaces `path` in one step: checks running in parallel may write the same site, and
    a reader never sees half a file. `like`: a file whose times the new one takes (a copy
    with the same size and mtime is found unchanged by its stat alone)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        if like is not None:
            shutil.copystat(like, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
