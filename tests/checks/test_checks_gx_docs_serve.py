"""`partnerpulse gx-docs` serves the warehouse's Data Docs and lists the validations made
since it started, over real HTTP.

The command runs as a process on a free port (`--port 0`); the test waits for its first
line (the address), validates the warehouse in-process and asks for the index again.
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from orchestration.checks import gx_context
from orchestration.checks.data_docs import DataDocsIndex
from tests.checks.data_docs_harness import on_warehouse, reconciliation_warehouse, validate

# One worker runs every in-process GX test: each worker that imports GX pays ~6 s for it.
pytestmark = pytest.mark.xdist_group("gx_in_process")

# Loopback only, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> tuple[str, str | None]:
    """The page's text and its Cache-Control header."""
    with _OPENER.open(url, timeout=120) as response:
        return response.read().decode("utf-8"), response.headers.get("Cache-Control")


@contextmanager
def gx_docs() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`partnerpulse gx-docs --port 0` in the environment as it is; its address."""
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "gx-docs", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the address, once it listens
        match = re.fullmatch(r"Data Docs on (http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)\n", first)
        assert match, first
        yield match[1], process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)


def test_the_index_lists_a_validation_made_after_gx_docs_started(tmp_path: Path) -> None:
    warehouse = reconciliation_warehouse(tmp_path / "warehouse")
    with on_warehouse(warehouse), gx_docs() as (url, process):
        site = gx_context.data_docs_dir()
        # Nothing validated yet: the index (built at start) lists the suites and no run.
        html, cache = fetch(url)
        assert cache == "no-cache"  # asked again on every visit
        assert "partner_reconciliation" in html and "served-run" not in html
        built = (site / "index.html").stat().st_mtime_ns
        assert fetch(url + "index.html")[0] == html
        assert (site / "index.html").stat().st_mtime_ns == built  # nothing new: not rebuilt

        results = validate("served-run")

        html, _ = fetch(url)
        assert "served-run" in html
        # The check's link, on the served site.
        link = urlsplit(
            str(results["partner_reconciliation_structure"].metadata["data_docs_url"].value)
        )
        page, _ = fetch(url + link.path.lstrip("/"))
        assert "served-run" in page

        process.terminate()  # SIGTERM stops it as Ctrl-C does
        assert process.wait(timeout=60) == 0


def test_the_index_is_rebuilt_only_when_something_is_newer_than_its_last_build() -> None:
    stamps = iter([5, 5, 7, 9])
    builds: list[int] = []
    index = DataDocsIndex(lambda: builds.append(len(builds)), lambda: next(stamps))
    assert index.refresh()  # the first request builds it
    assert not index.refresh()  # nothing newer
    assert index.refresh()  # a page written since (7 > 5)
    # A page written while the last build ran (its stamp was read before it) counts as newer.
    assert index.refresh()
    assert builds == [0, 1, 2]
