"""The instance's concurrency config (dagster.yaml) serialises warehouse steps across runs.

Two runs, in two processes, each with one step in pool "warehouse" that holds until the
test lets it go (an flock the test holds): the second run's step stays pending while the
first holds the pool's one slot, and starts only after the first has finished.
"""

from __future__ import annotations

import fcntl
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import defs
from tests.conftest import dagster_home

DEADLINE_S = 120
POLL_INTERVAL_S = 0.2  # between reads of the instance's pool state, under the deadline

pytestmark = pytest.mark.slow  # two Dagster runs in processes of their own

STEP = r"""
import fcntl, sys, time
import dagster as dg

lock_path, run_name = sys.argv[1:3]

@dg.asset(pool="warehouse")
def hold() -> None:
    print("started", run_name, time.time(), flush=True)
    with open(lock_path) as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # waits while the test holds the lock
    print("ended", run_name, time.time(), flush=True)

with dg.DagsterInstance.get() as instance:
    result = dg.materialize([hold], instance=instance, tags={"name": run_name})
print("success" if result.success else "failure", run_name, flush=True)
"""


class Run:
    """One run in its own process; its stdout lines are read into a queue."""

    def __init__(self, name: str, lock: Path, home: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", STEP, str(lock), name],
            stdout=subprocess.PIPE,
            text=True,
            env={"DAGSTER_HOME": str(home), "PATH": "/usr/bin:/bin"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def next_line(self) -> list[str]:
        return self.lines.get(timeout=DEADLINE_S).split()


def test_warehouse_pool_serialises_steps_across_runs(tmp_path: Path) -> None:
    home = dagster_home(tmp_path / "home")
    lock = tmp_path / "lock"
    lock.touch()
    with dg.DagsterInstance.from_config(str(home)) as instance, lock.open() as held:
        assert instance.event_log_storage.supports_global_concurrency_limits
        fcntl.flock(held, fcntl.LOCK_EX)
        first = Run("first", lock, home)
        kind, name, first_started = first.next_line()
        assert (kind, name) == ("started", "first")
        second = Run("second", lock, home)
        # The second run's step waits for the pool, not for the lock.
        deadline = time.monotonic() + DEADLINE_S
        while True:
            info = instance.event_log_storage.get_concurrency_info("warehouse")
            if info.pending_step_count >= 1:
                break
            assert second.lines.empty(), "the second step started while the first held the pool"
            assert time.monotonic() < deadline, "the second step never queued for the pool"
            time.sleep(POLL_INTERVAL_S)
        assert info.slot_count == 1 and info.active_slot_count == 1
        assert second.lines.empty(), "the second step started while the first held the pool"
        fcntl.flock(held, fcntl.LOCK_UN)
        kind, _, first_ended = first.next_line()
        assert kind == "ended"
        assert first.next_line()[0] == "success"
        kind, name, second_started = second.next_line()
        assert (kind, name) == ("started", "second")
        assert float(second_started) >= float(first_ended) > float(first_started)
        assert second.next_line()[0] == "ended"
        assert second.next_line()[0] == "success"
        assert first.proc.wait(timeout=DEADLINE_S) == 0
        assert second.proc.wait(timeout=DEADLINE_S) == 0


def test_every_step_that_opens_the_warehouse_is_in_the_pool() -> None:
    pools = {}
    for assets_def in defs.assets:
        if isinstance(assets_def, dg.AssetsDefinition):
            pools[assets_def.node_def.name] = {
                op.pool for op in assets_def.node_def.iterate_op_defs()
            }
    assert set(pools) >= {
        "ingest_crm",
        "ingest_erp",
        "ingest_portal",
        "ingest_pos",
        "partnerpulse_dbt_models",
        "partnerpulse_monthly_dbt_models",
        "serving__marts",
    }
    assert all(p == {"warehouse"} for p in pools.values()), pools
