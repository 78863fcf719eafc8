"""Sync runs and watermarks: `ops.sync_runs` and `ops.watermarks`.

A sync lands in ONE transaction (`commit_sync`): what the landing writes, the watermark
and the `ops.sync_runs` row; COMMIT. On any error the transaction is rolled back and a
`failed` `ops.sync_runs` row is written in a separate transaction (`record_failure`).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from connectors.warehouse import connect, utcnow

log = logging.getLogger("partnerpulse.connectors.sync_runs")


def read_watermark(path: Path | str, source: str, object_name: str) -> datetime | None:
    """The high-water mark stored for `(source, object)`, or None (none yet / no file)."""
    if not Path(path).exists():
        return None
    with connect(path) as con:
        return _read_watermark(con, source, object_name)


def _read_watermark(
    con: duckdb.DuckDBPyConnection, source: str, object_name: str
) -> datetime | None:
    rows = con.execute(
        "SELECT watermark FROM ops.watermarks WHERE source = ? AND object = ?",
        [source, object_name],
    ).fetchall()
    return rows[0][0] if rows else None


@dataclass(frozen=True)
class SyncRun:
    """A sync in progress: its id, what it syncs, when it started and the mark it read from."""

    sync_id: str
    source: str
    object: str
    started_at: datetime
    watermark_before: datetime | None


@dataclass(frozen=True)
class Landed:
    """What a landing wrote inside the sync's transaction.

    `watermark` is the mark this landing proposes (never past the sync's start);
    `watermark_clamped_from` is the largest landed stamp when that one was past it.
    """

    rows_read: int
    rows_merged: int
    rows_quarantined: int = 0
    watermark: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict, hash=False)
    watermark_clamped_from: datetime | None = None


@dataclass(frozen=True)
class Committed:
    """A committed sync: what landed, the resulting watermark and the timing."""

    landed: Landed
    watermark_after: datetime | None
    finished_at: datetime
    duration_s: float


def start_run(path: Path | str, source: str, object_name: str) -> SyncRun:
    """A new sync id and the watermark the sync reads from."""
    return SyncRun(
        sync_id=f"{source}-{object_name}-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
        source=source,
        object=object_name,
        started_at=utcnow(),
        watermark_before=read_watermark(path, source, object_name),
    )


def commit_sync(
    path: Path | str,
    run: SyncRun,
    work: Callable[[duckdb.DuckDBPyConnection], Landed],
    *,
    lock_timeout_s: float = 60.0,
    memory_limit: str | None = None,
) -> Committed:
    """Run `work` and record the sync (rows, watermark, `ops.sync_runs`) in ONE transaction.

    The mark moves to the one `work` proposes (never past the sync's start, see
    `_bounded_watermark`), never backwards. On any error the transaction is rolled back
    and the exception propagates; the caller records the failure with `record_failure`.
    `memory_limit`: see `connect`.
    """
    with connect(path, lock_timeout_s=lock_timeout_s, memory_limit=memory_limit) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            landed = work(con)
            current = _read_watermark(con, run.source, run.object)
            after = _max_ts(current, landed.watermark)
            finished = utcnow()
            if landed.watermark is not None and (current is None or landed.watermark > current):
                con.execute(
                    """INSERT INTO ops.watermarks (source, object, watermark, sync_id, updated_at)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (source, object) DO UPDATE SET watermark = excluded.watermark,
                        sync_id = excluded.sync_id, updated_at = excluded.updated_at""",
                    [run.source, run.object, landed.watermark, run.sync_id, finished],
                )
            duration = (finished - run.started_at).total_seconds()
            _insert_run(con, run, "succeeded", finished, landed, after, None)
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
    return Committed(landed, after, finished, duration)


def record_failure(
    path: Path | str,
    run: SyncRun,
    error: BaseException,
    *,
    lock_timeout_s: float = 60.0,
    status: str = "failed",
) -> None:
    """Write a `failed` (or `status`: `stopped` when the API budget ended it)
    `ops.sync_runs` row in its own transaction (never raises)."""
    message = f"{error.__class__.__name__}: {error}"[:4000]
    try:
        with connect(path, lock_timeout_s=lock_timeout_s) as con:
            con.execute("BEGIN TRANSACTION")
            _insert_run(con, run, status, utcnow(), None, run.watermark_before, message)
            con.execute("COMMIT")
    except Exception:  # the original error matters more than this one
        log.exception("could not record the failed sync %s", run.sync_id)


def _insert_run(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    status: str,
    finished: datetime,
    landed: Landed | None,
    watermark_after: datetime | None,
    error: str | None,
) -> None:
    con.execute(
        """INSERT INTO ops.sync_runs (sync_id, source, object, status, started_at, finished_at,
            duration_s, rows_read, rows_merged, rows_quarantined, watermark_before,
            watermark_after, watermark_clamped_from, error)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            run.sync_id,
            run.source,
            run.object,
            status,
            run.started_at,
            finished,
            (finished - run.started_at).total_seconds(),
            landed.rows_read if landed else None,
            landed.rows_merged if landed else None,
            landed.rows_quarantined if landed else None,
            run.watermark_before,
            watermark_after,
            landed.watermark_clamped_from if landed else None,
            error,
        ],
    )


def _max_ts(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
