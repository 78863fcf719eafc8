"""Draws a build's missing charts on every core: `start(folder, charts)` begins writing the
SVG of each Vega spec of `charts` to `folder/<key>.svg`, and the `Drawing` it returns ends
when `wait`ed for, so that the build renders its pages meanwhile (reports.charts).

vl-convert draws one chart at a time per process (80 charts took 1.87 s on one thread,
1.88 s on two), and a day's pages at 1,000 partners draw about 900 charts, 20 ms each. So
a build with many to draw starts one process per core (`python -m reports.draw FOLDER
SPECS`), each drawing its share of the specs; with few, starting processes costs more than
it saves and they are drawn here. Started with `python -m`, like the PDF printer
(reports.browser), rather than by multiprocessing, whose workers import the parent's main
module (the Dagster or partnerpulse command: seconds) before drawing anything.

Only vl-convert and reports.workers are imported here: a drawing process starts in about
half a second.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import vl_convert as vlc

from reports.workers import relay

# About what starting a drawing process costs, in charts drawn.
CHARTS_PER_PROCESS = 50


def store(folder: Path, key: str, svg: str) -> None:
    """Writes `folder/<key>.svg` whole or not at all: a crashed build leaves no half chart."""
    path = folder / f"{key}.svg"
    partial = path.with_name(f".{key}.{os.getpid()}.tmp")
    partial.write_text(svg, encoding="utf-8")
    partial.replace(path)


class Drawing:
    """One drawing process per group of `[key, vega]` items, started at once: `wait` for
    them to finish (raising the first one's error), or `stop` them (a build that failed
    before it needed the charts)."""

    def __init__(self, folder: Path, groups: list[list[tuple[str, dict[str, Any]]]]) -> None:
        self._scratch = Path(tempfile.mkdtemp(prefix="partnerpulse-draw-"))
        self._workers: list[tuple[subprocess.Popen, IO[str]]] = []
        try:
            for n, items in enumerate(groups):
                specs = self._scratch / f"{n}.json"
                specs.write_text(json.dumps(items), encoding="utf-8")
                errors = (self._scratch / f"{n}.err").open("w+", encoding="utf-8")
                command = [sys.executable, "-m", __name__, str(folder), str(specs)]
                worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
                self._workers.append((worker, errors))
        except BaseException:
            self.stop()
            raise

    def wait(self) -> None:
        try:
            for worker, errors in self._workers:
                relay("drawing charts", __name__, worker.wait(), errors)
        finally:
            self.stop()  # another failed: the others stop too

    def stop(self) -> None:
        for worker, errors in self._workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait()
            errors.close()
        self._workers = []
        shutil.rmtree(self._scratch, ignore_errors=True)


def start(
    folder: Path, charts: Mapping[str, dict[str, Any]], cores: int | None = None
) -> Drawing | None:
    """Starts drawing every Vega spec of `charts` (by key) into `folder`, on up to `cores`
    processes (default: the machine's), one per `CHARTS_PER_PROCESS` charts. With fewer,
    they are drawn here, before it returns None."""
    items = list(charts.items())
    processes = min(cores or os.cpu_count() or 1, len(items) // CHARTS_PER_PROCESS)
    if processes < 2:
        for key, vega in items:
            store(folder, key, vlc.vega_to_svg(vega))
        return None
    return Drawing(folder, [items[n::processes] for n in range(processes)])


def _main(argv: Sequence[str]) -> int:
    """A drawing process of `draw`: `python -m reports.draw FOLDER SPECS` draws each
    `[key, vega]` of the JSON list in the file SPECS into FOLDER."""
    folder, specs = Path(argv[0]), Path(argv[1])
    for key, vega in json.loads(specs.read_text(encoding="utf-8")):
        try:
            svg = vlc.vega_to_svg(vega)
        except ValueError as error:  # vl-convert's reason, without the JavaScript stack
            reason = " ".join(line.strip() for line in str(error).splitlines()[:2])
            print(f"ERROR chart {key}: {reason}", file=sys.stderr)
            return 1
        store(folder, key, svg)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
