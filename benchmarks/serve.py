"""The stand-in sources in a process of their own, so that they do not share the
benchmarked client's interpreter (GIL) and their memory is not counted as the client's.

Child: `python -m benchmarks.serve WORLD_DIR [LANDING_DIR]` prints one JSON line (the
`PARTNERPULSE_*` variables and the admin token) on the pipe to its parent and serves
until its stdin is closed.
Parent: `ServedSources` starts it, sets faults and reads `/_admin/stats` over HTTP.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from benchmarks.proc import PYTHON, REPO, clean_environ
from source_servers.admin import ADMIN_TOKEN_HEADER

SYSTEMS = ("crm", "erp", "portal")


def main(argv: list[str]) -> None:
    from source_servers.runtime import start_sources

    world = Path(argv[0])
    landing = Path(argv[1]) if len(argv) > 1 else None
    with start_sources(world, landing_dir=landing) as running:
        urls = {s: running.url(s) for s in SYSTEMS}
        info = {"env": running.env(), "urls": urls, "admin_token": running.admin_token}
        print(json.dumps(info), flush=True)
        sys.stdin.read()  # until the parent closes our stdin
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"max_rss_mb": rss}), flush=True)


class ServedSources:
    """Handle on a `benchmarks.serve` child process."""

    def __init__(self, world_dir: Path, landing_dir: Path | None, log: Path) -> None:
        argv = [PYTHON, "-m", "benchmarks.serve", str(world_dir)]
        if landing_dir is not None:
            argv.append(str(landing_dir))
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=REPO,
            env={**clean_environ(), "PYTHONUNBUFFERED": "1"},
        )
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self._log.close()
            raise RuntimeError(f"the stand-in sources did not start; see {log}")
        info = json.loads(line)
        self.env: dict[str, str] = info["env"]
        self.urls: dict[str, str] = info["urls"]
        self.max_rss_mb: float | None = None
        self.session = requests.Session()  # for /_admin/* alone
        self.session.headers[ADMIN_TOKEN_HEADER] = info["admin_token"]

    def set_faults(self, system: str, **faults: Any) -> None:
        r = self.session.post(f"{self.urls[system]}/_admin/faults", json=faults, timeout=30)
        r.raise_for_status()

    def set_latency(self, latency_ms: float) -> None:
        for s in SYSTEMS:
            self.set_faults(s, **({"latency_ms": latency_ms} if latency_ms else {}))

    def reset_stats(self) -> None:
        for s in SYSTEMS:
            self.session.post(f"{self.urls[s]}/_admin/stats/reset", timeout=30).raise_for_status()

    def stats(self) -> dict[str, dict[str, Any]]:
        return {
            s: self.session.get(f"{self.urls[s]}/_admin/stats", timeout=30).json() for s in SYSTEMS
        }

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (all its threads, user + system)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def handler_seconds(self) -> float:
        return sum(float(v.get("handler_seconds") or 0.0) for v in self.stats().values())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            tail = self.proc.stdout.read()
            self.proc.wait()
            for line in tail.splitlines():
                try:
                    self.max_rss_mb = json.loads(line).get("max_rss_mb")
                except ValueError:
                    continue
        self.session.close()
        self._log.close()

    def __enter__(self) -> ServedSources:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
