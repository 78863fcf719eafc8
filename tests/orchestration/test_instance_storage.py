"""The instance storage of dagster.yaml: Dagster's SQLite files, an event log keeping its engines.

A run under the repository's dagster.yaml is stored where and as Dagster stores it (its
default storage reads it back); a second storage object, as `dagster dev`'s webserver
holds, is told of each event as it is written; events written from several threads at
once, to the run's file and to the index, are all kept; a batch of events (a new run's
planned events) is written in one transaction per file, or not at all; and a process that
has written to more runs than it keeps engines for still reads every one of them.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._check import CheckError
from dagster._core.events import DagsterEvent, StepMaterializationData

from orchestration.instance_storage import (
    ENGINES_KEPT,
    KeptEnginesSqliteEventLogStorage,
    PartnerPulseInstance,
)
from tests.conftest import dagster_home

WATCH_DEADLINE_S = 30  # for the file watcher to report one event


@dg.asset
def partners() -> int:
    return 3


@dg.asset_check(asset=partners)
def partners_present(partners: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=partners > 0)


def message(run_id: str, text: str) -> dg.EventLogEntry:
    return dg.EventLogEntry(
        error_info=None,
        level=20,
        user_message=text,
        run_id=run_id,
        timestamp=time.time(),
    )


def materialization(run_id: str, asset: str) -> dg.EventLogEntry:
    event = DagsterEvent(
        dg.DagsterEventType.ASSET_MATERIALIZATION.value,
        "job",
        event_specific_data=StepMaterializationData(dg.AssetMaterialization(asset)),
    )
    return dg.EventLogEntry(
        error_info=None,
        level=20,
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        dagster_event=event,
    )


def test_a_run_is_stored_in_dagsters_own_files_and_schema(tmp_path: Path) -> None:
    home = dagster_home(tmp_path / "home")

    # Read by path, as the tests and scripts do, with no DAGSTER_HOME needed.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance, PartnerPulseInstance)
        assert isinstance(instance._event_storage, KeptEnginesSqliteEventLogStorage)  # noqa: SLF001
        result = dg.materialize([partners, partners_present], instance=instance)
        assert result.success

    # Dagster's default storage, on the same folder, reads what this storage wrote.
    stock = tmp_path / "stock"
    stock.mkdir()
    (stock / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    shutil.copytree(home / "history", stock / "history")
    with dg.DagsterInstance.from_config(str(stock)) as instance:
        assert type(instance._event_storage).__name__ == "SqliteEventLogStorage"  # noqa: SLF001
        materialization = instance.get_latest_materialization_event(dg.AssetKey("partners"))
        assert materialization is not None
        assert materialization.run_id == result.run_id
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("partners"), "partners_present")]
        )
        assert [execution.run_id for execution in check.values()] == [result.run_id]
        assert instance.get_run_by_id(result.run_id).is_success


def test_a_watcher_on_another_storage_is_told_of_each_event_as_it_is_written(
    tmp_path: Path,
) -> None:
    writer = KeptEnginesSqliteEventLogStorage(str(tmp_path))
    reader = KeptEnginesSqliteEventLogStorage(str(tmp_path))  # as the webserver holds
    run_id = "run-watched"
    writer.store_event(message(run_id, "started"))
    seen: list[str] = []
    arrived = threading.Condition()

    def on_event(entry: dg.EventLogEntry, _cursor: str) -> None:
        with arrived:
            seen.append(entry.user_message)
            arrived.notify_all()

    reader.watch(run_id, None, on_event)
    try:
        for text in ("step 1 done", "step 2 done", "step 3 done"):
            writer.store_event(message(run_id, text))
            with arrived:
                assert arrived.wait_for(lambda text=text: text in seen, WATCH_DEADLINE_S), (
                    f"the watcher was not told of {text!r}; it saw {seen}"
                )
    finally:
        reader.end_watch(run_id, on_event)
        reader.dispose()
        writer.dispose()
    assert seen == ["started", "step 1 done", "step 2 done", "step 3 done"]


def test_events_written_from_several_threads_at_once_are_all_kept(tmp_path: Path) -> None:
    storage = KeptEnginesSqliteEventLogStorage(str(tmp_path))
    run_id = "run-threads"
    start = threading.Barrier(4)

    def write(thread: int) -> None:
        start.wait()
        for i in range(50):
            storage.store_event(message(run_id, f"{thread}-{i}"))
            if i % 5 == 0:  # asset events also go to the index, over its one kept connection
                storage.store_event(materialization(run_id, f"asset_{thread}"))

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = [
        record.event_log_entry.user_message
        for record in storage.get_records_for_run(run_id, limit=1000).records
        if record.event_log_entry.dagster_event is None
    ]
    assert sorted(stored) == sorted(f"{t}-{i}" for t in range(4) for i in range(50))
    indexed = storage.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION), limit=1000
    )
    assert sorted(r.asset_key.path[0] for r in indexed) == sorted(
        f"asset_{t}" for t in range(4) for _ in range(10)
    )
    storage.dispose()


def test_a_batch_is_written_in_one_transaction_per_file_or_not_at_all(tmp_path: Path) -> None:
    storage = KeptEnginesSqliteEventLogStorage(str(tmp_path))
    run_id = "run-batch"
    storage.store_event(message(run_id, "before"))
    batch = [message(run_id, f"planned {i}") for i in range(30)]
    batch += [materialization(run_id, f"asset_{i}") for i in range(5)]
    begun: list[str] = []

    def on_begin(conn: sa.Connection) -> None:
        begun.append(Path(conn.engine.url.database).stem)

    sa.event.listen(sa.Engine, "begin", on_begin)
    try:
        storage.store_event_batch(batch)
    finally:
        sa.event.remove(sa.Engine, "begin", on_begin)
    assert sorted(begun) == ["index", run_id]
    records = storage.get_records_for_run(run_id, limit=100).records
    assert [r.event_log_entry.user_message for r in records][:31] == ["before"] + [
        f"planned {i}" for i in range(30)
    ]
    assert len(records) == 36
    indexed = storage.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION), limit=100
    )
    assert sorted(r.asset_key.path[0] for r in indexed) == [f"asset_{i}" for i in range(5)]

    # A write that fails part of the way rolls the whole batch back and says so, for
    # Dagster to store the events one by one.
    with pytest.raises(CheckError, match="event"):
        storage.store_event_batch([message(run_id, "kept?"), "not an event"])  # type: ignore[list-item]
    assert len(storage.get_records_for_run(run_id, limit=100).records) == 36
    # and the storage writes on as before
    storage.store_event(message(run_id, "after"))
    assert len(storage.get_records_for_run(run_id, limit=100).records) == 37
    storage.dispose()


def test_a_new_runs_planned_events_are_written_as_one_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = dagster_home(tmp_path / "home")
    batches: list[int] = []
    store_event_batch = KeptEnginesSqliteEventLogStorage.store_event_batch

    def counted(self: KeptEnginesSqliteEventLogStorage, events: list) -> None:
        batches.append(len(events))
        store_event_batch(self, events)

    monkeypatch.setattr(KeptEnginesSqliteEventLogStorage, "store_event_batch", counted)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dg.materialize([partners, partners_present], instance=instance)
        assert result.success
        planned = [
            instance.get_records_for_run(result.run_id, of_type=kind).records
            for kind in (
                dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
            )
        ]
    assert [len(records) for records in planned] == [1, 1]
    assert batches == [2]


def test_more_runs_than_engines_kept_are_all_read_back_and_wipe_leaves_it_usable(
    tmp_path: Path,
) -> None:
    storage = KeptEnginesSqliteEventLogStorage(str(tmp_path))
    runs = [f"run-{i}" for i in range(ENGINES_KEPT + 3)]
    for run_id in runs:
        storage.store_event(message(run_id, f"hello from {run_id}"))
    assert len(storage._engines) <= ENGINES_KEPT  # noqa: SLF001
    for run_id in runs:
        records = storage.get_records_for_run(run_id).records
        assert [r.event_log_entry.user_message for r in records] == [f"hello from {run_id}"]

    storage.wipe()
    assert storage.get_records_for_run(runs[-1]).records == []
    storage.store_event(message("run-after-wipe", "again"))
    assert len(storage.get_records_for_run("run-after-wipe").records) == 1
    storage.dispose()


def test_the_check_table_is_looked_for_until_it_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = KeptEnginesSqliteEventLogStorage(str(tmp_path))
    assert storage.supports_asset_checks  # Dagster's own schema has it
    looked: list[str] = []
    answers = iter([False, True])

    def has_table(name: str) -> bool:
        looked.append(name)
        return next(answers)

    fresh = KeptEnginesSqliteEventLogStorage(str(tmp_path / "another"))
    monkeypatch.setattr(fresh, "has_table", has_table)
    assert [fresh.supports_asset_checks for _ in range(4)] == [False, True, True, True]
    assert looked == ["asset_check_executions", "asset_check_executions"]
