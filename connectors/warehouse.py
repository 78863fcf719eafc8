"""The warehouse file: short-lived connections and what every writer shares.

Each kind of write has a module of its own (docs/warehouse.md): `landing` lands raw data
(staged, typed, validated, merged), `sync_runs` records syncs and their watermarks,
`validation_results` stores the checks' results, `serving` publishes the marts for BI. They
all open the file through `connect` here: short-lived connections (open, work, close), so
that dbt can take the file lock afterwards. A step that makes many of them holds the file
open meanwhile (`held`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from connectors.schema import create_all_ddl

log = logging.getLogger("partnerpulse.connectors.warehouse")


def utcnow() -> datetime:
    """Now in UTC, without zone (the warehouse's TIMESTAMP convention)."""
    return datetime.now(UTC).replace(tzinfo=None)


def quote(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


# -- connections ----------------------------------------------------------------------------


# Threads of one process share one DuckDB instance per file. Opening and closing it races
# when threads do so at the same moment ("Unique file handle conflict"), and so do the
# schema statements on a new file: both happen under this lock (transactions do not).
_OPEN_CLOSE_LOCK = threading.RLock()

# DuckDB creates a file, locks it, then writes its three 4 KiB headers. A process killed
# before the last one leaves a file DuckDB refuses for ever ("not a valid DuckDB database
# file", "could not read enough bytes") although it holds no data.
_DUCKDB_HEADERS_BYTES = 3 * 4096
_DUCKDB_MAGIC = b"DUCK"  # at offset 8 of the first header

# The files held open (`held`), by absolute path, with how many holds each (under the lock).
_HELD: Counter[str] = Counter()


def _remove_unfinished_file(path: Path) -> None:
    """Removes `path` if it is a DuckDB file whose creation never finished and that no
    process is creating (a creator holds DuckDB's lock on it). Opens only a file shorter
    than the headers: closing a file drops every lock this process holds on it, and no
    connection of this process can be open on such a file."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size >= _DUCKDB_HEADERS_BYTES:
            return
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:  # missing: a new warehouse
        return
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # being created right now
        size = os.fstat(fd).st_size  # again, under the lock: no process writes it now
        if size >= _DUCKDB_HEADERS_BYTES:
            return
        if size and os.pread(fd, len(_DUCKDB_MAGIC), 8) != _DUCKDB_MAGIC:
            return  # not a DuckDB file: DuckDB's own error will say so
        log.warning("removing %s: a DuckDB file whose creator was killed (%d bytes)", path, size)
        path.unlink()
    finally:
        os.close(fd)


@contextlib.contextmanager
def connect(
    path: Path | str,
    *,
    lock_timeout_s: float = 60.0,
    ensure_schema: bool = True,
    memory_limit: str | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-write connection (schemas created, TimeZone UTC), closed on exit.

    Waits up to `lock_timeout_s` while another process holds the file lock. Safe to use
    from several threads (e.g. syncs of several objects at once). `memory_limit` (e.g.
    "1GB") caps DuckDB's memory; beyond it, DuckDB spills to `<file>.tmp`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    while True:
        try:
            with _OPEN_CLOSE_LOCK:
                _remove_unfinished_file(path)
                con = duckdb.connect(str(path))
                try:
                    with contextlib.suppress(duckdb.Error):
                        con.execute("SET TimeZone = 'UTC'")
                    if memory_limit:
                        con.execute(f"SET memory_limit = {sql_string(memory_limit)}")
                    if ensure_schema and os.path.abspath(path) not in _HELD:
                        for stmt in create_all_ddl():
                            con.execute(stmt)
                except BaseException:
                    con.close()
                    raise
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
    try:
        yield con
    finally:
        with _OPEN_CLOSE_LOCK:
            con.close()


@contextlib.contextmanager
def held(path: Path | str) -> Iterator[None]:
    """Keeps the warehouse open while the caller makes many short connections to it (a
    step's syncs make three for each object).

    DuckDB shares an open database among a process's connections to its file, so each one
    is then made in a fraction of a millisecond instead of opening the file again (20-40 ms
    on the demo world's warehouse), and the schema statements run once, here. Holds nest.
    While a file is held, every connection to it in this process must be read-write
    (`connect`): DuckDB refuses a read-only one to a database open for writing.

    Holding is only a saving: a file that cannot be opened is not held, and each connection
    then says what is wrong with it where it is made.
    """
    key = os.path.abspath(path)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(connect(path))
            opened = True
        except (duckdb.Error, OSError):
            opened = False
        if not opened:
            yield
            return
        with _OPEN_CLOSE_LOCK:
            _HELD[key] += 1
        try:
            yield
        finally:
            with _OPEN_CLOSE_LOCK:
                _HELD[key] -= 1
                if not _HELD[key]:
                    del _HELD[key]


def ensure_warehouse(path: Path | str) -> None:
    """Create the warehouse file and every raw and ops table if missing."""
    with connect(path):
        pass


def read_column_map(path: Path | str, table: str, key: str, value: str) -> dict[Any, Any]:
    """`{key: value}` over every row of a warehouse table (empty when the file is new)."""
    if not Path(path).exists():
        return {}
    with connect(path) as con:
        rows = con.execute(f"SELECT {quote(key)}, {quote(value)} FROM {table}").fetchall()
    return dict(rows)
