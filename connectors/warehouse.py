"""The one module that writes the warehouse: DDL, staged landing, merges, watermarks, runs.

A sync lands in ONE transaction: its pages go into a temp staging table, are typed to the
column types of `schema.py`, validated (every value parses; primary key and watermark
are present), merged on the primary key into the raw table, and the watermark and the
`ops.sync_runs` row are written; COMMIT. On any error the transaction is rolled back and a
`failed` `ops.sync_runs` row is written in a separate transaction.

Pages arrive as JSON files spooled on disk, exactly as the source sent them: DuckDB reads
them (`read_text`) and parses them with an explicit structure (`from_json`, every field
as VARCHAR), then types the columns in SQL: no Python loop over records. Rows built in
Python (POS files) are appended in bounded Arrow batches. Connections are short-lived:
open, work, close, so that dbt can take the file lock afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from connectors import publishing
from connectors.schema import ALL_TABLES, RawTable, create_all_ddl
from connectors.spool import SpoolDir

log = logging.getLogger("partnerpulse.connectors.warehouse")


class LandingError(Exception):
    """Landed data failed validation (unparseable value, missing key or watermark, ...)."""

    def __init__(self, object_name: str, message: str) -> None:
        self.object_name = object_name
        self.message = message
        super().__init__(f"{object_name}: {message}")

    def __reduce__(self):
        return (LandingError, (self.object_name, self.message))


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
                    if ensure_schema:
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


def ensure_warehouse(path: Path | str) -> None:
    """Create the warehouse file and every raw and ops table if missing."""
    with connect(path):
        pass


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


def read_column_map(path: Path | str, table: str, key: str, value: str) -> dict[Any, Any]:
    """`{key: value}` over every row of a warehouse table (empty when the file is new)."""
    if not Path(path).exists():
        return {}
    with connect(path) as con:
        rows = con.execute(f"SELECT {quote(key)}, {quote(value)} FROM {table}").fetchall()
    return dict(rows)


class Warehouse:
    """The warehouse file: `connect()`, `ensure()`, `read_watermark(source, object)`."""

    def __init__(self, path: Path | str, *, lock_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    def connect(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A short-lived connection (closed when the `with` block ends)."""
        return connect(self.path, lock_timeout_s=self.lock_timeout_s)

    def ensure(self) -> None:
        """Create the file and every raw and ops table if missing."""
        ensure_warehouse(self.path)

    def read_watermark(self, source: str, object_name: str) -> datetime | None:
        """The stored high-water mark of `(source, object)`, or None."""
        return read_watermark(self.path, source, object_name)

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"


# -- sync runs --------------------------------------------------------------------------------


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
) -> None:
    """Write a `failed` `ops.sync_runs` row in its own transaction (never raises)."""
    message = f"{error.__class__.__name__}: {error}"[:4000]
    try:
        with connect(path, lock_timeout_s=lock_timeout_s) as con:
            con.execute("BEGIN TRANSACTION")
            _insert_run(con, run, "failed", utcnow(), None, run.watermark_before, message)
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


# -- JSON page landing ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChildLanding:
    """Records nested in a list of each parent record (sales-report lines).

    The children of every landed parent replace that parent's stored children.
    """

    table: RawTable
    list_key: str
    parent_columns: Mapping[str, str]  # child column -> parent column (the parent's key)
    wire_names: Mapping[str, str] = field(default_factory=dict)

    def wire(self, column: str) -> str:
        return self.wire_names.get(column, column)


@dataclass(frozen=True)
class JsonLanding:
    """How a source's JSON pages map onto one raw table.

    `records_key` is the key of the record list in each page body; `wire_names` maps a
    column to its key in the record (default: the column's name); `parsers` maps a DuckDB
    type to a SQL template over `{x}` (the value as VARCHAR) that yields the typed value,
    or NULL when the text does not parse.
    """

    table: RawTable
    records_key: str
    parsers: Mapping[str, str]
    wire_names: Mapping[str, str] = field(default_factory=dict)
    children: tuple[ChildLanding, ...] = ()

    def wire(self, column: str) -> str:
        return self.wire_names.get(column, column)


def strict_integer(duck_type: str) -> str:
    """A parse template for integers that refuses fractions (a plain cast rounds 12.5 to 13)."""
    return (
        "(CASE WHEN regexp_full_match(trim({x}), '[+-]?[0-9]+([.]0+)?') "
        f"THEN TRY_CAST(CAST(trim({{x}}) AS DOUBLE) AS {duck_type}) END)"
    )


DEFAULT_PARSERS: dict[str, str] = {
    "BIGINT": strict_integer("BIGINT"),
    "INTEGER": strict_integer("INTEGER"),
    "DOUBLE": "TRY_CAST({x} AS DOUBLE)",
    "BOOLEAN": "TRY_CAST({x} AS BOOLEAN)",
    "DATE": "TRY_CAST({x} AS DATE)",
    "TIMESTAMP": "CAST(TRY_CAST({x} AS TIMESTAMPTZ) AS TIMESTAMP)",
}


def parse_expr(parsers: Mapping[str, str], duck_type: str, wire_column: str) -> str:
    """The SQL that types a VARCHAR staging column to `duck_type` (NULL if unparseable)."""
    kind = duck_type.upper()
    if kind == "VARCHAR":
        template = "{x}"
    else:
        template = parsers.get(kind) or DEFAULT_PARSERS.get(kind) or f"TRY_CAST({{x}} AS {kind})"
    return template.format(x=quote(wire_column))


def land_json_pages(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    landing: JsonLanding,
    files: Sequence[Path],
    *,
    rows_expected: int,
) -> Landed:
    """Stage, type, validate and merge spooled JSON pages into `landing.table`."""
    table = landing.table
    obj = f"{run.source}/{run.object} ({table.qualified_name})"
    columns = list(table.columns)
    existing = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
            [table.schema, table.name],
        ).fetchall()
    }
    for stmt in [table.ddl()] if not existing else table.add_columns_ddl(existing):
        con.execute(stmt)
    wire_fields = list(dict.fromkeys(landing.wire(c) for c in columns))
    nested = {
        child.list_key: list(
            dict.fromkeys(
                child.wire(c) for c in child.table.columns if c not in child.parent_columns
            )
        )
        for child in landing.children
    }
    record: dict[str, Any] = {f: "VARCHAR" for f in wire_fields}
    record.update({key: [{f: "VARCHAR" for f in sub}] for key, sub in nested.items()})
    structure = json.dumps({landing.records_key: [record]})
    parsed = f"(from_json(content, {sql_string(structure)})).{quote(landing.records_key)}"
    if files:
        pages = "read_text([" + ", ".join(sql_string(str(f)) for f in files) + "])"
    else:
        empty = json.dumps({landing.records_key: []})
        pages = f"(SELECT 'none' AS filename, {sql_string(empty)} AS content)"
    # The stage keeps the pages' order: its `rowid` is each record's position (`_rid`).
    con.execute("DROP TABLE IF EXISTS _pp_stage")
    con.execute(
        f"""CREATE TEMP TABLE _pp_stage AS
        SELECT _file, unnest(r) FROM (
            SELECT filename AS _file,
                unnest({parsed}) AS r
            FROM {pages}
        )"""
    )
    staged = con.execute("SELECT count(*) FROM _pp_stage").fetchall()[0][0]
    if staged != rows_expected:
        raise LandingError(obj, f"staged {staged} records but the pages held {rows_expected}")

    typed = {c: parse_expr(landing.parsers, t, landing.wire(c)) for c, t in table.columns.items()}
    raw = {c: quote(landing.wire(c)) for c in table.columns}
    required = list(table.primary_key) + ([table.watermark] if table.watermark else [])
    _create_typed(con, "_pp_stage", "_pp_typed", table.columns, typed, raw, required)
    _check_typed(
        con, obj, "_pp_stage", "_pp_typed", table.columns, raw, required, table.primary_key
    )

    pk = [quote(c) for c in table.primary_key]
    if con.execute(
        f"SELECT 1 FROM _pp_typed GROUP BY {', '.join(pk)} HAVING count(*) > 1 LIMIT 1"
    ).fetchall():
        # Records read twice in one sync: keep the newest version of each.
        order = [f"{quote(table.watermark)} DESC NULLS LAST"] if table.watermark else []
        order += ["_file DESC", "_rid DESC"]
        window = f"PARTITION BY {', '.join(pk)} ORDER BY {', '.join(order)}"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _pp_typed AS SELECT * FROM _pp_typed
            QUALIFY row_number() OVER ({window}) = 1"""
        )
    merged = _merge(con, table, "_pp_typed", run)
    details: dict[str, Any] = {}
    watermark, clamped_from = None, None
    if table.watermark:
        watermark, clamped_from, past = _bounded_watermark(con, table.watermark, run.started_at)
        if clamped_from is not None:
            details["rows_past_sync_start"] = past
    for child in landing.children:
        details[f"{child.table.name}_merged"] = _land_children(con, run, obj, landing, child, typed)
    return Landed(
        rows_read=staged,
        rows_merged=merged,
        watermark=watermark,
        details=details,
        watermark_clamped_from=clamped_from,
    )


def _bounded_watermark(
    con: duckdb.DuckDBPyConnection, column: str, sync_start: datetime
) -> tuple[datetime | None, datetime | None, int]:
    """(the mark: the largest staged stamp at or before `sync_start`; the largest stamp when
    it is past `sync_start`, else None; how many staged rows are past it).

    A mark past the sync's start would freeze: one record stamped 9999-12-31 (or a source
    clock running ahead) and every later sync asks only for rows changed after it. Those
    rows still land; only the mark ignores them, and they are re-read by the next sync
    (`>=`). The mark is a stamp the source itself wrote, not our clock's start time: with
    a source clock behind ours, or stamps truncated to the minute (NetSuite), a row changed
    during the fetch can be stamped before our start but never before that stamp.
    """
    col = quote(column)
    mark, top, past = con.execute(
        f"""SELECT max({col}) FILTER (WHERE {col} <= $1), max({col}),
            count(*) FILTER (WHERE {col} > $1)
        FROM _pp_typed""",
        [sync_start],
    ).fetchall()[0]
    return mark, (top if past else None), past


def _create_typed(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    target: str,
    columns: Mapping[str, str],
    typed: Mapping[str, str],
    raw: Mapping[str, str],
    required: Sequence[str],
) -> None:
    """`target` := every staged record typed, in one pass over the stage, with `_rid` (its
    position), `_file`, `_bad` (the first column whose value does not parse to its type)
    and `_missing` (the first required column without a value)."""
    checked = [c for c, t in columns.items() if t.upper() != "VARCHAR"]
    inner = ", ".join(f"{typed[c]} AS {quote(c)}" for c in columns)
    inner += "".join(f", {raw[c]} IS NOT NULL AS {quote('_has_' + c)}" for c in checked)
    bad = " ".join(
        f"WHEN {quote('_has_' + c)} AND {quote(c)} IS NULL THEN {sql_string(c)}" for c in checked
    )
    missing = " ".join(f"WHEN {quote(c)} IS NULL THEN {sql_string(c)}" for c in required)
    cols = ", ".join(quote(c) for c in columns)
    con.execute(f"DROP TABLE IF EXISTS {target}")
    con.execute(
        f"""CREATE TEMP TABLE {target} AS
        SELECT {cols}, _rid, _file,
            {f"CASE {bad} END" if bad else "CAST(NULL AS VARCHAR)"} AS _bad,
            {f"CASE {missing} END" if missing else "CAST(NULL AS VARCHAR)"} AS _missing
        FROM (SELECT {inner}, rowid AS _rid, _file FROM {stage})"""
    )


def _check_typed(
    con: duckdb.DuckDBPyConnection,
    obj: str,
    stage: str,
    target: str,
    columns: Mapping[str, str],
    raw: Mapping[str, str],
    required: Sequence[str],
    keys: Sequence[str],
) -> None:
    """Hard errors naming the first record (in page order) whose value does not parse to
    its column type (by its `keys` as sent), then the first that lacks a primary-key or
    watermark value. `raw` maps a column to its SQL in `stage`."""
    rows = con.execute(
        f"SELECT _rid, _bad FROM {target} WHERE _bad IS NOT NULL ORDER BY _rid LIMIT 1"
    ).fetchall()
    if rows:
        rid, column = rows[0]
        key_sql = "".join(f", {raw[k]}" for k in keys)
        value, file_name, *key_values = con.execute(
            f"SELECT {raw[column]}, _file{key_sql} FROM {stage} WHERE rowid = ?", [rid]
        ).fetchall()[0]
        key = dict(zip(keys, key_values, strict=True))
        raise LandingError(
            obj,
            f"column {column} = {value!r} is not a valid {columns[column]} "
            f"(first bad record {key}, page {Path(file_name).name})",
        )
    if not required:
        return
    shown = ", ".join(quote(c) for c in required)
    rows = con.execute(
        f"SELECT _missing, {shown}, _rid FROM {target} WHERE _missing IS NOT NULL "
        "ORDER BY _rid LIMIT 1"
    ).fetchall()
    if rows:
        column, *values, rid = rows[0]
        record = dict(zip(required, values, strict=True))
        raise LandingError(
            obj, f"required field {column} is missing (first bad record #{rid + 1}: {record})"
        )


def _merge(con: duckdb.DuckDBPyConnection, table: RawTable, stage: str, run: SyncRun) -> int:
    """Delete the stage's keys from the raw table, insert the stage; the rows merged."""
    cond = " AND ".join(f"t.{quote(c)} = s.{quote(c)}" for c in table.primary_key)
    con.execute(f"DELETE FROM {table.qualified_name} AS t USING {stage} AS s WHERE {cond}")
    cols = ", ".join(quote(c) for c in table.columns)
    con.execute(
        f"""INSERT INTO {table.qualified_name} ({cols}, "_sync_id", "_loaded_at")
        SELECT {cols}, ?, ? FROM {stage}""",
        [run.sync_id, utcnow()],
    )
    return con.execute(f"SELECT count(*) FROM {stage}").fetchall()[0][0]


def _land_children(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    parent_obj: str,
    parent: JsonLanding,
    child: ChildLanding,
    parent_typed: Mapping[str, str],
) -> int:
    table = child.table
    obj = f"{parent_obj} -> {table.qualified_name}"
    own = [c for c in table.columns if c not in child.parent_columns]
    wire = {c: child.wire(c) for c in own}
    parent_keys = ", ".join(
        f"{parent_typed[p]} AS {quote(c)}" for c, p in child.parent_columns.items()
    )
    con.execute("DROP TABLE IF EXISTS _pp_child_stage")
    con.execute(
        f"""CREATE TEMP TABLE _pp_child_stage AS
        SELECT _file, {", ".join(quote(c) for c in child.parent_columns)}, unnest(l) FROM (
            SELECT _file, {parent_keys}, unnest({quote(child.list_key)}) AS l
            FROM _pp_stage WHERE rowid IN (SELECT _rid FROM _pp_typed)
        )"""
    )
    typed = {
        c: (quote(c) if c in child.parent_columns else parse_expr(parent.parsers, t, wire[c]))
        for c, t in table.columns.items()
    }
    raw = {c: (quote(c) if c in child.parent_columns else quote(wire[c])) for c in table.columns}
    # Parent keys are typed already (a missing one is reported as missing, not unparseable).
    own_types = {
        c: (t if c not in child.parent_columns else "VARCHAR") for c, t in table.columns.items()
    }
    _create_typed(
        con, "_pp_child_stage", "_pp_child_typed", own_types, typed, raw, list(table.primary_key)
    )
    _check_typed(
        con,
        obj,
        "_pp_child_stage",
        "_pp_child_typed",
        table.columns,
        raw,
        list(table.primary_key),
        table.primary_key,
    )
    pk = ", ".join(quote(c) for c in table.primary_key)
    dup = con.execute(
        f"SELECT {pk}, count(*) FROM _pp_child_typed GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if dup:
        raise LandingError(
            obj, f"duplicate key {dict(zip(table.primary_key, dup[0], strict=False))}"
        )
    # Every re-landed parent's old children go, even when it now has none.
    cond = " AND ".join(
        f"t.{quote(c)} = p.{quote(pcol)}" for c, pcol in child.parent_columns.items()
    )
    con.execute(f"DELETE FROM {table.qualified_name} AS t USING _pp_typed AS p WHERE {cond}")
    cols = ", ".join(quote(c) for c in table.columns)
    con.execute(
        f"""INSERT INTO {table.qualified_name} ({cols}, "_sync_id", "_loaded_at")
        SELECT {cols}, ?, ? FROM _pp_child_typed""",
        [run.sync_id, utcnow()],
    )
    return con.execute("SELECT count(*) FROM _pp_child_typed").fetchall()[0][0]


# -- Arrow row landing (rows built in Python) ------------------------------------------------

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
}


def arrow_schema(table: RawTable) -> pa.Schema:
    """The Arrow schema of a raw table's own columns (lineage columns excluded)."""
    return pa.schema([(c, _ARROW_TYPES[t.upper()]) for c, t in table.columns.items()])


class RowStager:
    """Stages Python rows in a Parquet file, written in bounded Arrow batches.

    The file (in a private temporary folder under `spool_dir`) is the stage: `stage` is the
    SQL that reads it. A temp table would hold every staged row in memory until the sync
    commits; a file keeps a big POS drop's memory flat (BENCHMARKS.md, "POS files").
    """

    def __init__(
        self, table: RawTable, *, spool_dir: Path | None = None, batch_rows: int = 20_000
    ) -> None:
        self.table = table
        self.batch_rows = batch_rows
        self.schema = arrow_schema(table)
        self.count = 0  # rows added
        self._buffer: list[dict[str, Any]] = []
        self._spool = SpoolDir(spool_dir)
        self._path = self._spool.path / f"{table.name}.parquet"
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(self._path, self.schema)
        self.stage = f"read_parquet({sql_string(str(self._path))})"

    def add(self, row: Mapping[str, Any]) -> None:
        self._buffer.append(dict(row))
        self.count += 1
        if len(self._buffer) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            assert self._writer is not None, "rows added after finish()"
            self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self.schema))
            self._buffer.clear()

    def finish(self) -> None:
        """Writes what is buffered and closes the file: `stage` can be read from now on."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        self.finish()
        self._spool.cleanup()

    def __enter__(self) -> RowStager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    table: RawTable,
    stager: RowStager,
    *,
    replace_by: str,
    replaced: Sequence[str],
) -> int:
    """Delete the rows whose `replace_by` is in `replaced`, then insert the staged rows."""
    stager.finish()
    if replaced:
        con.register("_pp_replaced", pa.table({"v": pa.array(list(replaced), pa.string())}))
        try:
            con.execute(
                f"DELETE FROM {table.qualified_name} "
                f"WHERE {quote(replace_by)} IN (SELECT v FROM _pp_replaced)"
            )
        finally:
            con.unregister("_pp_replaced")
    return _merge(con, table, stager.stage, run)


def table_for(qualified_name: str) -> RawTable:
    """The raw table called `schema.name`."""
    return ALL_TABLES[qualified_name]


# -- publishing for BI: serving copies of the marts --------------------------------------------

PUBLICATION_TABLE = "_publication"
SERVING_STORAGE_VERSION = "v1.1.0"  # DuckDB 1.1 and newer (BI drivers) can open the file


@dataclass(frozen=True)
class Publication:
    """One publish of the marts: the serving file and the Parquet folder `current` now names."""

    publication_id: str
    run_id: str
    published_at: datetime
    serving_path: Path
    parquet_dir: Path
    row_counts: dict[str, int]


def publish_marts(
    warehouse_path: Path | str,
    serving_path: Path | str,
    parquet_root: Path | str,
    *,
    run_id: str,
    schemas: Sequence[str] = ("marts",),
    keep: int = 3,
) -> Publication:
    """Publish every table of `schemas` for BI readers, atomically.

    - A new DuckDB file is built beside `serving_path` (tables copied from the warehouse,
      opened read-only, plus `_publication`: one row per table with the run id and row
      count), made read-only (mode 0444) and moved over the old one with `os.replace`.
      A reader holding the old file open keeps reading the old inode; its next connection
      opens the new file. It never sees a half-built file or tables of two publishes.
    - The same tables go to `<parquet_root>/publications/<publication_id>/<table>.parquet`
      (with `_publication.json`), written under a temporary name and renamed; then the
      symlink `<parquet_root>/current` is replaced atomically to point at it. The `keep`
      newest publications are kept, so a reader that resolved `current` just before a
      switch can finish.

    Nothing is changed when any step before the switch fails.
    """
    warehouse = Path(warehouse_path)
    serving = Path(serving_path)
    root = Path(parquet_root)
    published_at = utcnow()
    safe_run = "".join(c for c in run_id if c.isalnum() or c == "-")[:8] or "run"
    publication_id = f"{published_at:%Y%m%dT%H%M%S%fZ}-{safe_run}"
    publications = root / "publications"
    serving.parent.mkdir(parents=True, exist_ok=True)
    publications.mkdir(parents=True, exist_ok=True)
    # Publishing runs one at a time (pool "warehouse"): leftovers of a crashed publish go,
    # the `current` link it made but had not switched yet too (unlinked, never followed).
    for stale in serving.parent.glob(f".{serving.name}.*.tmp*"):
        stale.unlink(missing_ok=True)
    publishing.remove_stale(publications, root / "current")
    tmp_file = serving.with_name(f".{serving.name}.{publication_id}.tmp")
    tmp_dir = publications / f".{publication_id}.tmp"
    tmp_dir.mkdir()
    row_counts: dict[str, int] = {}
    try:
        con = duckdb.connect()
        try:
            con.execute(
                f"attach {sql_string(str(warehouse))} as src (read_only); "
                f"attach {sql_string(str(tmp_file))} as serving "
                f"(storage_version {sql_string(SERVING_STORAGE_VERSION)})"
            )
            wanted = ", ".join(sql_string(s) for s in schemas)
            relations = con.execute(
                "select schema_name, table_name from duckdb_tables() "
                f"where database_name = 'src' and schema_name in ({wanted}) order by 1, 2"
            ).fetchall()
            names = [name for _, name in relations]
            if len(set(names)) != len(names):
                raise ValueError(f"table names repeat across schemas {list(schemas)}: {names}")
            for schema, name in relations:
                target = f"serving.{quote(schema)}.{quote(name)}"
                con.execute(f"create schema if not exists serving.{quote(schema)}")
                source = f"src.{quote(schema)}.{quote(name)}"
                con.execute(f"create table {target} as select * from {source}")
                (count,) = con.execute(f"select count(*) from {target}").fetchall()[0]
                row_counts[f"{schema}.{name}"] = count
                parquet = tmp_dir / f"{name}.parquet"
                con.execute(f"copy {target} to {sql_string(str(parquet))} (format parquet)")
            con.execute(
                f"create table serving.main.{PUBLICATION_TABLE} (publication_id varchar, "
                "run_id varchar, published_at timestamp, table_schema varchar, "
                "table_name varchar, row_count bigint)"
            )
            for qualified, count in row_counts.items():
                schema, name = qualified.split(".", 1)
                con.execute(
                    f"insert into serving.main.{PUBLICATION_TABLE} values (?, ?, ?, ?, ?, ?)",
                    [publication_id, run_id, published_at, schema, name, count],
                )
            con.execute("detach src")
            con.execute("checkpoint serving")
            con.execute("detach serving")
        finally:
            con.close()
        manifest = {
            "publication_id": publication_id,
            "run_id": run_id,
            "published_at": published_at.isoformat(),
            "row_counts": row_counts,
        }
        (tmp_dir / f"{PUBLICATION_TABLE}.json").write_text(json.dumps(manifest, indent=2))
        fd = os.open(tmp_file, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        # Read-only whatever the umask: readers must never change a publication.
        os.chmod(tmp_file, 0o444)
        publishing.seal(tmp_dir)
        final_dir = publications / publication_id
        os.rename(tmp_dir, final_dir)
    except BaseException:
        tmp_file.unlink(missing_ok=True)
        publishing.remove_publication(tmp_dir)
        raise
    # The two switches: each is one atomic rename.
    os.replace(tmp_file, serving)
    publishing.fsync_dir(serving.parent)
    publishing.switch_link(root / "current", final_dir)
    publishing.prune(publications, keep, publication_id)
    log.info("published %d relations as %s", len(row_counts), publication_id)
    return Publication(
        publication_id=publication_id,
        run_id=run_id,
        published_at=published_at,
        serving_path=serving,
        parquet_dir=final_dir,
        row_counts=row_counts,
    )


# -- data-quality results (Great Expectations asset checks) -----------------------------------

VALIDATION_RESULT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("validated_at", pa.timestamp("us")),
        ("checkpoint", pa.string()),
        ("suite", pa.string()),
        ("asset_key", pa.string()),
        ("check_name", pa.string()),
        ("expectation", pa.string()),
        ("expectation_type", pa.string()),
        ("column_name", pa.string()),
        ("finding", pa.string()),
        ("severity", pa.string()),
        ("success", pa.bool_()),
        ("partner_id", pa.string()),
        ("month_start", pa.date32()),
        ("element_count", pa.int64()),
        ("unexpected_count", pa.int64()),
        ("detail", pa.string()),
    ]
)


def record_validation_results(
    path: Path | str, run_id: str, checkpoint: str, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Stores one checkpoint's results of one run in `ops.validation_results`.

    The rows replace whatever that run stored for that checkpoint before (a retried check
    does not count twice), in one transaction. Missing fields are NULL. Returns the count.
    """
    names = VALIDATION_RESULT_SCHEMA.names
    batch = pa.Table.from_pylist(
        [{n: row.get(n) for n in names} for row in rows], schema=VALIDATION_RESULT_SCHEMA
    )
    with connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "DELETE FROM ops.validation_results WHERE run_id = ? AND checkpoint = ?",
                [run_id, checkpoint],
            )
            con.register("_pp_validation_results", batch)
            try:
                con.execute(
                    f"INSERT INTO ops.validation_results ({', '.join(names)}) "
                    f"SELECT {', '.join(names)} FROM _pp_validation_results"
                )
            finally:
                con.unregister("_pp_validation_results")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return len(rows)
