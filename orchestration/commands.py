"""The commands this project installs, `partnerpulse` and `partnerpulse-dbt` (the dbt the
pipeline's dbt steps run), ended without the interpreter's teardown.

A Python process that has imported Dagster, dbt and Great Expectations takes seconds to
exit after its last line: the interpreter frees every module and collects the cycles
among their objects, several times over (2.0 s of a small day's `partnerpulse run`, 28 s
in all; 0.55 s of each `dbt build`). A process about to end needs none of it. So these
commands end with `os._exit` once the exit handlers have run.

Importing this module registers that end with `atexit`, before the command's own modules
are imported. The handlers run in the reverse order of registration, so every handler the
command and its libraries register runs first (logging's flush, filelock's release). The
threads have been joined before any handler runs. An interrupted command (Ctrl-C) ends as
usual.

Both also collect garbage less often (`GC_THRESHOLDS`). With Python's default, a young
collection every 700 objects allocated and every hundredth a full one once enough objects
survived, importing and running Dagster and dbt make some 1,800 collections a small day,
nine of them walking every object of every module: 2.0 s of the run's process, 1.0 s of
its `dbt build`. Every 10,000 objects, they take 0.9 s and 0.4 s; garbage that only a
collection frees (objects in reference cycles) waits a little longer.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from collections.abc import Callable

GC_THRESHOLDS = (10_000, 10, 10)  # Python's default: (700, 10, 10)

_status: list[int] = []  # the exit status `run` recorded; none: the interpreter's own end


@atexit.register
def _end() -> None:
    if _status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_status[-1])


def run(command: Callable[[], object]) -> None:
    """Runs `command` (a click command, which exits with `SystemExit`) and records the
    status the process is to end with. An uncaught exception's traceback is printed by
    the interpreter as usual; its status is 1."""
    try:
        command()
    except SystemExit as exc:
        # As the interpreter does: None is 0, a message (printed to stderr) is 1.
        code = exc.code
        _status.append(code if isinstance(code, int) else 0 if code is None else 1)
        raise
    except KeyboardInterrupt:
        raise
    except BaseException:
        _status.append(1)
        raise
    _status.append(0)


def partnerpulse() -> None:
    """`partnerpulse`: orchestration.cli."""
    gc.set_threshold(*GC_THRESHOLDS)
    from orchestration.cli import main

    run(main)


def dbt() -> None:
    """`partnerpulse-dbt`: dbt's own command line, exactly as `dbt`."""
    gc.set_threshold(*GC_THRESHOLDS)
    from dbt.cli.main import cli

    run(cli)
