"""Child processes: run one stage, time it and read its peak RSS (`os.wait4`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def clean_environ() -> dict[str, str]:
    """This process's environment without the pipeline's own variables: every stage gets
    exactly the PARTNERPULSE_* / DAGSTER_HOME values the harness gives it."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PARTNERPULSE_", "DAGSTER_HOME", "DBT_"))
    }


class StageFailed(RuntimeError):
    pass


@dataclass
class ProcResult:
    """What one child process did: wall time, peak RSS, exit code and its result file."""

    argv: list[str]
    wall_s: float
    max_rss_mb: float
    cpu_s: float
    returncode: int
    result: dict[str, Any] = field(default_factory=dict)
    log: Path | None = None

    def tail(self, lines: int = 30) -> str:
        if not self.log or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def run(
    argv: list[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
    result_file: Path | None = None,
    check: bool = True,
) -> ProcResult:
    """Run `argv` to completion; stdout and stderr go to `log`.

    Peak RSS comes from the rusage `os.wait4` returns for this child (it covers the
    child's own children that it waited for, e.g. dbt under Dagster).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**clean_environ(), **(env or {})}
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    result: dict[str, Any] = {}
    if result_file is not None and result_file.exists():
        result = json.loads(result_file.read_text())
    cpu = usage.ru_utime + usage.ru_stime
    res = ProcResult(argv, wall, usage.ru_maxrss / 1024.0, cpu, proc.returncode, result, log)
    if check and proc.returncode != 0:
        raise StageFailed(
            f"{' '.join(argv[:4])} ... exited {proc.returncode}; log {log}:\n{res.tail()}"
        )
    return res


def stage(
    name: str,
    spec: dict[str, Any],
    *,
    workdir: Path,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> ProcResult:
    """Run `python -m benchmarks.stages <name>` with `spec` (JSON) in a child process."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_file = workdir / f"{name}.spec.json"
    result_file = workdir / f"{name}.result.json"
    result_file.unlink(missing_ok=True)
    spec_file.write_text(json.dumps({**spec, "result_file": str(result_file)}, default=str))
    return run(
        [PYTHON, "-m", "benchmarks.stages", name, str(spec_file)],
        log=workdir / f"{name}.log",
        env=env,
        result_file=result_file,
        check=check,
    )
