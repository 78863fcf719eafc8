"""Private temporary folders for what a sync holds on disk until it commits: source pages
as they arrived (`PageSpool`) and staged rows (`connectors.landing.RowStager`).

Each folder is locked (`flock`) by the process using it for as long as it does. A sync
killed mid-fetch cannot clean up after itself, so making a folder first removes the ones
whose lock no process holds any more: stale folders last until the next sync, not for ever.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("partnerpulse.connectors.spool")

PREFIX = "partnerpulse-spool-"
LOCK_FILE = ".lock"
# A folder without its lock file yet may be one another process is making this instant.
UNLOCKED_GRACE_S = 60.0


class SpoolDir:
    """A new private folder under `base_dir` (the system's temporary folder if None),
    locked until `cleanup()`, which removes it."""

    def __init__(self, base_dir: Path | str | None = None) -> None:
        base = Path(base_dir) if base_dir is not None else Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        remove_stale(base)
        # Made under a name `remove_stale` does not look at, locked, then renamed: a folder
        # it can see is always locked by its maker (another thread or process would
        # otherwise take the lock in between and remove the folder as stale).
        making = Path(tempfile.mkdtemp(prefix=f".{PREFIX}", dir=base))
        self._lock: int | None = os.open(making / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.path = base / making.name.removeprefix(".")
        os.rename(making, self.path)

    def cleanup(self) -> None:
        if self._lock is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)
        self._lock = None


def remove_stale(base: Path) -> int:
    """Removes the spool folders under `base` that no live process holds; their number."""
    removed = 0
    for folder in base.glob(f"{PREFIX}*"):
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:  # removed by its owner meanwhile, or made by an old version
            with contextlib.suppress(FileNotFoundError):
                if time.time() - folder.stat().st_mtime > UNLOCKED_GRACE_S:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # in use
        else:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d spool folder(s) left by killed syncs in %s", removed, base)
    return removed


class PageSpool:
    """Source pages spooled to files on disk until the sync lands them (JSON, or CSV from
    Salesforce's Bulk API).

    At most one page is in memory at a time (`add_stream`: none); the landing reads the
    files with DuckDB. Files are named so that their sorted order is the order the pages
    were read in (per group).
    """

    SUFFIXES = (".json", ".csv")

    def __init__(self, base_dir: Path | None = None) -> None:
        self._spool = SpoolDir(base_dir)
        self.dir = self._spool.path
        self._lock = threading.Lock()
        self._seq = 0
        self.pages = 0
        self.records = 0
        self.bytes = 0

    def add(self, body: bytes, records: int, *, group: str = "p") -> Path:
        """Write one page's body (`records` records in it)."""
        path = self._count_page(records, group, ".json")
        path.write_bytes(body)
        with self._lock:
            self.bytes += len(body)
        return path

    def add_stream(
        self, chunks: Iterable[bytes], records: int, *, suffix: str = ".json", group: str = "p"
    ) -> Path:
        """Write one page's body chunk by chunk as it arrives (`records` records in it, as
        the source announced them: the caller checks them once the body is in)."""
        if suffix not in self.SUFFIXES:
            raise ValueError(f"a spooled page is one of {self.SUFFIXES}, not {suffix!r}")
        path = self._count_page(records, group, suffix)
        with open(path, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                with self._lock:
                    self.bytes += len(chunk)
        return path

    def _count_page(self, records: int, group: str, suffix: str) -> Path:
        with self._lock:
            self._seq += 1
            seq = self._seq
            self.pages += 1
            self.records += records
        return self.dir / f"{group}-{seq:08d}{suffix}"

    @property
    def files(self) -> list[Path]:
        return sorted(p for p in self.dir.iterdir() if p.suffix in self.SUFFIXES)

    def close(self) -> None:
        self._spool.cleanup()

    def __enter__(self) -> PageSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
