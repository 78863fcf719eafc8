"""Run the three stand-in source servers (CRM, ERP, portal) on loopback.

`start_sources(world_dir)` loads the world into one in-memory DuckDB database shared by
the three servers, serves each with uvicorn in a daemon thread and returns a
`RunningSources` handle (also a context manager) with the servers' URLs, credentials and
controls for faults, statistics and world mutation.

The servers' `/_admin/*` routes take the random `admin_token` of this handle (see
`source_servers.admin`): only the process that started the servers holds it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import uvicorn

from source_servers import shaping, world_ops
from source_servers.admin import ADMIN_TOKEN_HEADER
from source_servers.shapes import DEFAULT, ORG_SHAPE_VARIABLE, OrgShape, PosLayout, get_shape

SYSTEMS = ("crm", "erp", "portal")
WORLD_SCHEMAS = ("crm", "erp", "portal")


@dataclass(frozen=True)
class SourceCredentials:
    """The credentials the stand-in servers accept (demo values by default)."""

    crm_client_id: str = "partnerpulse-crm"
    crm_client_secret: str = "demo-crm-secret"
    # JWT bearer: the user the connected app may act as, and the public key (PEM) of the
    # certificate uploaded to it (None: the flow is refused, as by an app without one).
    crm_username: str = "integration@partnerpulse.example"
    crm_jwt_public_key: str | None = None
    crm_refresh_token: str = "demo-crm-refresh-token"
    erp_client_id: str = "partnerpulse-erp"
    erp_client_secret: str = "demo-erp-secret"
    # OAuth 2.0 M2M: the certificate id and its public key (PEM); None: not verified.
    erp_certificate_id: str | None = None
    erp_jwt_public_key: str | None = None
    # Token-based authentication (OAuth 1.0a): the account id is the realm.
    erp_account_id: str = "1234567_SB1"
    erp_consumer_key: str = "demo-erp-consumer-key"
    erp_consumer_secret: str = "demo-erp-consumer-secret"
    erp_token_id: str = "demo-erp-token-id"
    erp_token_secret: str = "demo-erp-token-secret"
    portal_api_key: str = "demo-portal-key"

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return (
            f"SourceCredentials(crm_client_id={self.crm_client_id!r}, "
            f"erp_client_id={self.erp_client_id!r}, secrets=***)"
        )


class World:
    """The source data, copied from `world.duckdb` into an in-memory DuckDB database.

    Every reader takes its own cursor. `version` grows with every mutation so that
    servers can drop cached query results. `shape` is the org shape it is served in (its
    views are created here, see `source_servers.shaping`).
    """

    def __init__(self, world_file: Path, shape: OrgShape = DEFAULT) -> None:
        self.path = Path(world_file)
        self.shape = shape
        if not self.path.is_file():
            raise FileNotFoundError(f"no world database at {self.path}")
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET GLOBAL TimeZone = 'UTC'")
        self._lock = threading.Lock()
        self.version = 0
        self._columns: dict[tuple[int, str, str], list[tuple[str, str]]] = {}
        self._load()
        shaping.install(self.con, shape)

    def _load(self) -> None:
        con = self.con
        quoted = str(self.path).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS world_src (READ_ONLY)")
        try:
            tables = con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() "
                "WHERE database_name = 'world_src' ORDER BY schema_name, table_name"
            ).fetchall()
            for schema, table in tables:
                con.execute(f'CREATE SCHEMA IF NOT EXISTS memory."{schema}"')
                con.execute(
                    f'CREATE TABLE memory."{schema}"."{table}" AS '
                    f'SELECT * FROM world_src."{schema}"."{table}"'
                )
        finally:
            con.execute("DETACH world_src")
        for schema in WORLD_SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS memory.{schema}")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the world (one per request: connections are not thread-safe)."""
        return self.con.cursor()

    def execute(self, sql: str) -> list[list[Any]]:
        """Run one statement on the world (a test's mutation) and return its rows as JSON."""
        cur = self.cursor()
        try:
            cur.execute(sql)
            rows = cur.fetchall() if cur.description else []
        finally:
            cur.close()
            with self._lock:
                self.version += 1
                self._columns.clear()
        return [[_jsonable(v) for v in row] for row in rows]

    @contextmanager
    def mutation(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor in one transaction, committed at the end of the block (a named operation)."""
        cur = self.cursor()
        try:
            cur.begin()
            try:
                yield cur
            except BaseException:
                cur.rollback()
                raise
            cur.commit()
        finally:
            cur.close()
            with self._lock:
                self.version += 1
                self._columns.clear()

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        """(column name, DuckDB type) of a world table in table order; [] when absent."""
        key = (self.version, schema, table.lower())
        cached = self._columns.get(key)
        if cached is None:
            cur = self.cursor()
            try:
                cached = [
                    (name, dtype)
                    for name, dtype in cur.execute(
                        "SELECT column_name, data_type FROM duckdb_columns() "
                        "WHERE database_name = 'memory' AND schema_name = ? "
                        "AND lower(table_name) = ? ORDER BY column_index",
                        [schema, table.lower()],
                    ).fetchall()
                ]
            finally:
                cur.close()
            with self._lock:
                self._columns[key] = cached
        return cached

    def tables(self, schema: str) -> list[str]:
        """The table (and view: a shaped schema holds views) names of one schema."""
        cur = self.cursor()
        try:
            return [
                r[0]
                for r in cur.execute(
                    "SELECT table_name FROM duckdb_tables() "
                    "WHERE database_name = 'memory' AND schema_name = ? "
                    "UNION ALL SELECT view_name FROM duckdb_views() "
                    "WHERE database_name = 'memory' AND schema_name = ? AND NOT internal",
                    [schema, schema],
                ).fetchall()
            ]
        finally:
            cur.close()

    def close(self) -> None:
        self.con.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


class JsonRows:
    """Rows serialised to JSON by DuckDB, each text followed by a comma.

    A page of rows `[start, stop)` is then one byte slice of the Arrow data buffer: no
    per-row Python work when serving pages.
    """

    __slots__ = ("_data", "_offsets", "size")

    def __init__(self, column: pa.ChunkedArray | pa.Array) -> None:
        if len(column) == 0:  # (building an empty Arrow array would import pandas)
            self.size = 0
            self._offsets = np.zeros(1, dtype=np.int64)
            self._data = memoryview(b"")
            return
        if isinstance(column, pa.ChunkedArray):
            if column.type not in (pa.string(), pa.large_string()):
                column = column.cast(pa.large_string())
            arr = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        else:
            arr = column
        if arr.type not in (pa.string(), pa.large_string()):
            arr = arr.cast(pa.large_string())
        if arr.null_count:
            raise ValueError("JSON rows may not be null")
        self.size = len(arr)
        width = np.int32 if arr.type == pa.string() else np.int64
        buffers = arr.buffers()
        offsets = np.frombuffer(buffers[1], dtype=width)
        self._offsets = offsets[arr.offset : arr.offset + self.size + 1].astype(np.int64)
        self._data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")

    def __len__(self) -> int:
        return self.size

    def page(self, start: int, stop: int) -> bytes:
        """Rows `[start, stop)` joined by commas (no trailing comma)."""
        stop = min(stop, self.size)
        if start >= stop:
            return b""
        return bytes(self._data[self._offsets[start] : self._offsets[stop] - 1])

    @property
    def nbytes(self) -> int:
        return len(self._data)


def json_rows(cur: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> JsonRows:
    """Run `sql` (one VARCHAR column of JSON texts ending in ',') into `JsonRows`."""
    table = cur.sql(sql, params=params or None).to_arrow_table()
    return JsonRows(table.column(0))


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the owner of the process."""

    def capture_signals(self):  # type: ignore[override]
        return nullcontext()


class _ServerThread:
    def __init__(self, app: Any, host: str, port: int, name: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
        )
        self.server = _QuietServer(config)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"source-{name}", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # reported by start()
            self.error = exc

    def start(self, timeout: float = 15.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"server thread {self.thread.name} died: {self.error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server thread {self.thread.name} did not start")
            self.thread.join(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()


@dataclass
class RunningSources:
    """Handle on the three running stand-in servers (use as a context manager)."""

    crm_url: str
    erp_url: str
    portal_url: str
    landing_dir: Path | None
    credentials: SourceCredentials
    world: World
    states: dict[str, Any]
    as_of: str | None = None
    admin_token: str = field(default="", repr=False)
    _threads: list[_ServerThread] = field(default_factory=list, repr=False)

    def __enter__(self) -> RunningSources:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, system: str) -> str:
        """The base URL of `system` ('crm', 'erp' or 'portal')."""
        return {"crm": self.crm_url, "erp": self.erp_url, "portal": self.portal_url}[
            _system(system)
        ]

    def set_faults(self, system: str, **faults: Any) -> dict[str, Any]:
        """Replace the fault set of one server (no arguments clears it)."""
        state = self.states[_system(system)]
        state.set_faults(faults)
        return state.faults_dict()

    def clear_faults(self) -> None:
        """Clear the faults of every server."""
        for state in self.states.values():
            state.set_faults({})

    def stats(self, system: str) -> dict[str, Any]:
        """Request counters of one server: requests, data_requests, handler_seconds, by_status."""
        return self.states[_system(system)].stats()

    def reset_stats(self, system: str | None = None) -> None:
        """Zero the counters of one server, or of all."""
        for name in [_system(system)] if system else SYSTEMS:
            self.states[name].reset_stats()

    def execute(self, sql: str) -> list[list[Any]]:
        """Run one SQL statement on the shared in-memory world (a mutation for tests).

        In-process only: no route runs SQL; other processes use the named operations.
        """
        return self.world.execute(sql)

    def restate_report(
        self, report_id: str, *, amount_factor: float = 1.0, new_report_id: str | None = None
    ) -> dict[str, Any]:
        """A new revision of a portal sales report (`world_ops.restate_report`)."""
        return world_ops.restate_report(
            self.world, report_id, amount_factor=amount_factor, new_report_id=new_report_id
        )

    def change_amount(
        self, record: str, key: dict[str, Any], amount: float, modified_at: datetime | str
    ) -> int:
        """Change a CRM opportunity's or ERP line's amount (`world_ops.change_amount`)."""
        return world_ops.change_amount(self.world, record, key, amount, modified_at)

    def admin_headers(self) -> dict[str, str]:
        """The header that authorises a request to the servers' `/_admin/*` routes."""
        return {ADMIN_TOKEN_HEADER: self.admin_token}

    def env(self) -> dict[str, str]:
        """The PARTNERPULSE_* variables that point the pipeline at these servers."""
        c = self.credentials
        env = {
            "PARTNERPULSE_CRM_URL": self.crm_url,
            "PARTNERPULSE_CRM_CLIENT_ID": c.crm_client_id,
            "PARTNERPULSE_CRM_CLIENT_SECRET": c.crm_client_secret,
            "PARTNERPULSE_ERP_URL": self.erp_url,
            "PARTNERPULSE_ERP_CLIENT_ID": c.erp_client_id,
            "PARTNERPULSE_ERP_CLIENT_SECRET": c.erp_client_secret,
            "PARTNERPULSE_PORTAL_URL": self.portal_url,
            "PARTNERPULSE_PORTAL_API_KEY": c.portal_api_key,
        }
        if self.landing_dir is not None:
            env["PARTNERPULSE_LANDING_DIR"] = str(self.landing_dir)
        if not self.world.shape.is_default:
            env[ORG_SHAPE_VARIABLE] = self.world.shape.name
        return env

    def drop_pos_files(self) -> list[Path]:
        """Copy the world's POS files missing from the landing folder into it."""
        if self.landing_dir is None:
            return []
        return copy_pos_files(self.world.path.parent, self.landing_dir, self.world.shape.pos)

    def stop(self) -> None:
        """Stop the servers and release the world."""
        threads, self._threads = self._threads, []
        for t in threads:
            t.server.should_exit = True
        for t in threads:
            t.stop()
        if threads:
            self.world.close()


def _system(system: str | None) -> str:
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; expected one of {SYSTEMS}")
    return system


def copy_pos_files(
    world_dir: Path, landing_dir: Path, layout: PosLayout | None = None
) -> list[Path]:
    """Copy `world_dir/pos/*.csv` into `landing_dir`, skipping names already there;
    with a `layout` (an org shape's), each file is rewritten in it instead."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for src in sorted((world_dir / "pos").glob("*.csv")):
        dest = landing_dir / src.name
        if not dest.exists():
            if layout is None:
                shutil.copy2(src, dest)
            else:
                shaping.convert_pos_file(src, dest, layout)
            copied.append(dest)
    return copied


def _world_file(world_dir: Path) -> Path:
    world_dir = Path(world_dir)
    return world_dir if world_dir.suffix == ".duckdb" else world_dir / "world.duckdb"


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def start_sources(
    world_dir: Path,
    *,
    landing_dir: Path | None = None,
    host: str = "127.0.0.1",
    ports: tuple[int, int, int] = (0, 0, 0),
    credentials: SourceCredentials | None = None,
    org_shape: str | None = None,
) -> RunningSources:
    """Load the world and start the CRM, ERP and portal servers; returns their handle.

    `org_shape` names a `source_servers.shapes` shape; None reads
    PARTNERPULSE_STANDIN_ORG_SHAPE (unset: the default shape). ValueError when unknown.
    """
    from source_servers import crm, erp, portal

    credentials = credentials or SourceCredentials()
    shape = get_shape(org_shape if org_shape is not None else os.environ.get(ORG_SHAPE_VARIABLE))
    admin_token = secrets.token_urlsafe(32)
    world_file = _world_file(world_dir)
    world = World(world_file, shape)
    as_of = None
    meta = world_file.parent / "world.json"
    if meta.is_file():
        import json

        as_of = json.loads(meta.read_text()).get("as_of")
    c = credentials
    apps = {
        "crm": crm.create_app(world, c, admin_token=admin_token),
        "erp": erp.create_app(world, c, admin_token=admin_token),
        "portal": portal.create_app(world, c.portal_api_key, admin_token=admin_token),
    }
    threads: list[_ServerThread] = []
    try:
        for (name, app), port in zip(apps.items(), ports, strict=True):
            thread = _ServerThread(app, host, port, name)
            threads.append(thread)
            thread.start()
    except BaseException:
        for t in threads:
            t.stop()
        world.close()
        raise
    running = RunningSources(
        crm_url=_url(host, threads[0].port),
        erp_url=_url(host, threads[1].port),
        portal_url=_url(host, threads[2].port),
        landing_dir=Path(landing_dir).absolute() if landing_dir is not None else None,
        credentials=credentials,
        world=world,
        states={name: app.state.source for name, app in apps.items()},
        as_of=as_of,
        admin_token=admin_token,
        _threads=threads,
    )
    running.drop_pos_files()
    return running
