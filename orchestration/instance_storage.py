"""Dagster's SQLite instance storage, with an event log that keeps its database engines.

Every event a run logs (a step starting, an asset materialized, a check evaluated) is
written to SQLite: to the run's own database file and, for asset and check events, to the
index file too. Dagster's `SqliteEventLogStorage` creates a new SQLAlchemy engine for each
of those writes and throws it away after, so every statement is compiled again and every
index write opens, and on closing checkpoints, the index file anew. A daily run logs about
a thousand events; what each costs either way is in BENCHMARKS.md ("Dagster's event log")
and docs/operations.md.

This storage keeps one engine per database file, so SQLAlchemy's compiled statements are
reused, and keeps each file's connection open between writes. A run file's connection
folds SQLite's write-ahead log back into the file at every commit (`wal_autocheckpoint`
of one page, where SQLite's default waits for 1,000): that change to the file is what
tells `dagster dev`'s run view that a new event is there (Dagster watches the file, not
its log). Closing the connection after each write, as Dagster does, did the same at the
cost of opening the file again for the next event.

Dagster hands some events over as a batch: the events a new run plans (one per asset,
partition and check it will materialize or evaluate: 912 for the demo world's whole
history) and the partitions one step materialized. Dagster's SQLite storage writes a
batch event by event; this one writes it in one transaction per file, with the run's file
closed once, at the end of the batch. The instance turns batches on (Dagster leaves them
off unless `DAGSTER_EVENT_BATCH_SIZE` is set).

What is stored, where and how is Dagster's own: the same files, schema and migrations, so
an instance can switch between this storage and Dagster's default either way. dagster.yaml
selects it by naming `PartnerPulseInstance` as the instance class, whose default storage it
is, under whatever folder the instance is read from; docs/operations.md says why.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import dagster as dg
import sqlalchemy as sa
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData

if TYPE_CHECKING:
    from dagster._core.storage.sqlite_storage import SqliteStorageConfig

# A run writes to its own file and to the index; the UI reads a few runs at a time. Older
# engines are disposed of, so that a long-lived `dagster dev` keeps no compiled statements
# for every run it ever showed.
ENGINES_KEPT = 8

# Events Dagster gathers before writing them as one batch (its own default leaves batches
# off); a whole-history run of the demo world plans 912.
EVENT_BATCH_SIZE = 1000


class KeptEnginesSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` that keeps an engine and a connection per database file."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        # Used under Dagster's `_db_lock` only, which it holds while a connection is in use;
        # set first, as Dagster's set-up of a new folder already connects.
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()
        # While a batch is written: what closes it, and its open connection to each file.
        self._batch: tuple[ExitStack, dict[str, sa.Connection]] | None = None
        self._has_check_table = False
        super().__init__(base_dir, inst_data)
        # Reentrant, as a batch holds it while each of its events takes it again.
        self._db_lock = threading.RLock()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        with self._db_lock:
            if self._batch is not None:
                stack, conns = self._batch
                if shard not in conns:
                    conns[shard] = stack.enter_context(self._engine(shard).connect())
                    stack.enter_context(conns[shard].begin())
                yield conns[shard]
                return
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        """Each event as `store_event` writes it, in one transaction per file.

        Holding the lock for the whole batch keeps other threads' events out of its
        transactions. If any write fails, the batch is rolled back whole and the error
        raised: Dagster then stores the events one by one.
        """
        with self._db_lock, ExitStack() as stack:
            self._batch = (stack, {})
            try:
                for event in events:
                    self.store_event(event)
            finally:
                self._batch = None

    @property
    def supports_asset_checks(self) -> bool:
        # Dagster asks before storing each check event, and Dagster's answer opens the index
        # file on a new engine to read its schema (0.65 ms; a day's run stores hundreds of
        # check events). The table, once there, stays: only its absence is asked again.
        if not self._has_check_table:
            self._has_check_table = super().supports_asset_checks
        return self._has_check_table

    def _engine(self, shard: str) -> sa.Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            if shard not in self._initialized_dbs:
                # Dagster's own set-up, on an engine of its kind: it inspects the file on
                # a second connection while the first is open.
                self._initdb(self._new_engine(shard, sa.pool.NullPool))
                self._initialized_dbs.add(shard)
            engine = self._new_engine(shard, sa.pool.StaticPool)
            if shard != INDEX_SHARD_NAME:
                sa.event.listen(engine, "connect", _checkpoint_every_commit)
        self._engines[shard] = engine
        while len(self._engines) > ENGINES_KEPT:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def _new_engine(self, shard: str, pool: type[sa.pool.Pool]) -> sa.Engine:
        return sa.create_engine(
            self.conn_string_for_shard(shard),
            poolclass=pool,
            # A file's one connection is used by whichever thread holds `_db_lock`.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )

    def _dispose_engines(self) -> None:
        while self._engines:
            self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        with self._db_lock:
            self._dispose_engines()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            self._dispose_engines()


def _checkpoint_every_commit(dbapi_connection: Any, _record: Any) -> None:
    """A run file's connection: each commit is folded from the write-ahead log into the
    file at once, which is the change `dagster dev`'s run view watches for (SQLite's
    default waits for 1,000 pages)."""
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=1")


class KeptEnginesSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage (runs, schedules) with the event log above."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage = KeptEnginesSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: SqliteStorageConfig
    ) -> KeptEnginesSqliteStorage:
        # Dagster's would build a `DagsterSqliteStorage`, whatever the class it is called on.
        return cls.from_local(inst_data=inst_data, **config_value)


class PartnerPulseInstance(dg.DagsterInstance):
    """Dagster's instance, whose default storage is `KeptEnginesSqliteStorage`.

    A default rather than a `storage:` block in dagster.yaml, because a default gets the
    instance's own folder (a block would have to name it, as `DAGSTER_HOME`, which a
    process reading an instance by path, `DagsterInstance.from_config`, need not set).
    """

    @staticmethod
    def config_schema() -> dict:
        return {}

    def _get_event_batch_size(self) -> int:
        # Dagster's reads only the variable, whose default of 0 leaves batches off.
        return int(os.getenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE)))

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        storage = ConfigurableClassData(
            __name__,
            KeptEnginesSqliteStorage.__name__,
            yaml.dump({"base_dir": base_dir}, default_flow_style=False),
        )
        return {**InstanceRef.config_defaults(base_dir), "storage": storage}
