"""The commands this project installs, `partnerpulse` and `partnerpulse-dbt` (the dbt the
pipeline's dbt steps run), ended without the interpreter's teardown and collecting garbage
less often (what each costs otherwise: docs/operations.md, "Runs from the command line").

A process that has imported Dagster, dbt and Great Expectations takes seconds to exit
after its last line: the interpreter frees every module and collects the cycles among
their objects, which a process about to end does not need. So these commands end with
`os._exit` once the exit handlers have run. Importing this module registers that end with
`atexit`, before the command's own modules are imported. The handlers run in the reverse
order of registration, so every handler the command and its libraries register runs first
(logging's flush, filelock's release). The threads have been joined before any handler
runs. An interrupted command (Ctrl-C) ends as usual.

With Python's default thresholds, importing and running Dagster and dbt make over a thousand
collections a run, several of them walking every object of every module; `GC_THRESHOLDS`
makes a small fraction of them. Garbage that only a collection frees (objects in reference
cycles) waits a little longer.
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
