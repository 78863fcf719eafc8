"""Spool folders: a sync killed mid-fetch leaves its folder behind; the next one removes
it, and never a folder a live sync is using."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from connectors.spool import PREFIX, PageSpool

KILLED_MID_FETCH = """
import sys
import threading
from connectors.spool import PageSpool
spool = PageSpool(sys.argv[1])
spool.add(b'{"records": []}', 0)
print(spool.dir, flush=True)
sys.stdin.read()  # fetching, until killed
"""


def spools(base: Path) -> set[Path]:
    return set(base.glob(f"{PREFIX}*"))


def test_the_next_sync_removes_the_spool_of_a_killed_one_and_no_live_one(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_FETCH, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    left = Path(child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert left.is_dir() and list(left.glob("*.json"))

    with PageSpool(tmp_path) as live:
        live.add(b'{"records": []}', 0)
        assert spools(tmp_path) == {live.dir}  # the killed sync's folder is gone
        with PageSpool(tmp_path) as beside:  # a second sync at the same time
            assert spools(tmp_path) == {live.dir, beside.dir}
            assert live.files
    assert spools(tmp_path) == set()


def test_syncs_making_spools_at_once_never_remove_each_others(tmp_path):
    # Parallel object syncs (threads) make and remove spools at the same moments: a folder
    # one of them could see before its maker had locked it was removed as stale.
    errors: list[BaseException] = []

    def sync_many() -> None:
        for _ in range(200):
            try:
                with PageSpool(tmp_path) as spool:
                    spool.add(b'{"records": []}', 0)
                    assert spool.files
            except BaseException as exc:  # reported below, with the others
                errors.append(exc)

    workers = [threading.Thread(target=sync_many) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert list(tmp_path.iterdir()) == []
