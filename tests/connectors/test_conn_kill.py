"""Kill tests: a sync or a publish SIGKILLed at several points and then run again loses
nothing, duplicates nothing and never shows half of its work.

Each killed run is a child process. The test watches for a real event of the chosen point
(requests served by the stand-in server, files appearing or growing on disk), stops the
child at once (SIGSTOP, and waits until every thread of it has stopped), notes where it
stopped, then SIGKILLs it: the kill lands exactly where the note was taken. The rerun runs
in this process. A sync's reference is one clean sync of the same world into a fresh
warehouse; a publish's is the marts it copies.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from connectors.config import Settings
from connectors.schema import ALL_TABLES
from connectors.serving import PUBLICATION_TABLE, publish_marts
from connectors.spool import PREFIX
from connectors.sync import sync_object
from connectors.warehouse import ensure_warehouse, sql_string

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 60.0
POLL_S = 0.0005  # between looks at an event; it also lets the stand-in servers' threads run

# Each test runs syncs and publishes in processes of its own and kills them: `make test`,
# not the inner loop of `make test-fast`.
pytestmark = pytest.mark.slow


# -- child processes ---------------------------------------------------------------------


def start_child(script: str, args: list[str], log: Path, env: dict[str, str] | None = None):
    """`python -c script args` with this worktree's code first; stderr goes to `log`."""
    child_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-c", script, *args],
            cwd=REPO,
            env=child_env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def wait_for(child: subprocess.Popen, event: Callable[[], object], what: str, log: Path):
    """The first true value of `event()`, polled until the deadline; fails if the child
    ends first."""
    deadline = time.monotonic() + DEADLINE_S
    while not (value := event()):
        if child.poll() is not None:
            pytest.fail(f"the child ended ({child.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {DEADLINE_S:.0f}s")
        time.sleep(POLL_S)
    return value


def freeze(child: subprocess.Popen) -> None:
    """SIGSTOP the child; returns once every one of its threads has stopped."""
    os.kill(child.pid, signal.SIGSTOP)
    tasks = Path(f"/proc/{child.pid}/task")

    def stopped() -> bool:
        states = []
        for task in tasks.iterdir():
            try:
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
            except FileNotFoundError:  # a thread that ended meanwhile
                continue
        return all(state in "TtZX" for state in states)

    wait_for(child, stopped, "stop of every thread", Path(os.devnull))
    assert child.poll() is None, "the child ended before it could be stopped"


def kill(child: subprocess.Popen) -> None:
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=DEADLINE_S) == -signal.SIGKILL


def file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


# -- a sync killed at four points ------------------------------------------------------------

SOURCE, OBJECT = "erp", "transaction_lines"
RAW = ALL_TABLES["raw_erp.transactionline"]
# Small pages: ~160 requests in 4 concurrent windows, so that the fetch takes a while.
SMALL_PAGES = {"erp_page_size": 50, "erp_query_row_cap": 1000}
# The last table the warehouse's schema statements create (connectors.schema): once its
# name is in the write-ahead log, the schema is complete and the sync's transaction is
# open or about to be. Nothing else is written to the log until that transaction commits.
LAST_SCHEMA_TABLE = b"validation_results"

SYNC = """
import json, sys
from connectors.config import Settings
from connectors.sync import sync_object
settings = Settings.from_env().replace(**json.loads(sys.argv[1]))
sync_object(settings, settings.warehouse, sys.argv[2], sys.argv[3])
"""


def spools(base: Path) -> set[Path]:
    return set(base.glob(f"{PREFIX}*"))


@dataclasses.dataclass(frozen=True)
class Landed:
    """What a warehouse holds of the synced object (nothing when the file is missing)."""

    rows: int
    watermark: object
    runs: list[tuple[str, str, int | None]]  # sync_id, status, rows_read

    @classmethod
    def read(cls, path: Path) -> Landed:
        # No file, or one whose creator was killed before DuckDB wrote its three 4 KiB
        # headers (DuckDB refuses to open it; the next sync makes it anew).
        if not path.exists() or path.stat().st_size < 3 * 4096:
            return cls(0, None, [])
        with duckdb.connect(str(path), read_only=True) as con:
            tables = {
                r[0]
                for r in con.sql(
                    "select schema_name || '.' || table_name from duckdb_tables()"
                ).fetchall()
            }
            rows = (
                con.execute(f"select count(*) from {RAW.qualified_name}").fetchall()[0][0]
                if RAW.qualified_name in tables
                else 0
            )
            marks = (
                con.execute(
                    "select watermark from ops.watermarks where source = ? and object = ?",
                    [SOURCE, OBJECT],
                ).fetchall()
                if "ops.watermarks" in tables
                else []
            )
            runs = (
                con.execute(
                    "select sync_id, status, rows_read from ops.sync_runs order by started_at"
                ).fetchall()
                if "ops.sync_runs" in tables
                else []
            )
        return cls(rows, marks[0][0] if marks else None, runs)


def differences(a: Path, b: Path) -> tuple[int, int]:
    """(rows only in a, rows only in b) of the raw table, multisets of every column but the
    lineage ones."""
    cols = ", ".join(f'"{c}"' for c in RAW.columns)
    with duckdb.connect() as con:
        con.execute(f"attach {sql_string(str(a))} as a (read_only)")
        con.execute(f"attach {sql_string(str(b))} as b (read_only)")
        return tuple(
            con.execute(
                f"select count(*) from (select {cols} from {x}.{RAW.qualified_name} "
                f"except all select {cols} from {y}.{RAW.qualified_name})"
            ).fetchall()[0][0]
            for x, y in (("a", "b"), ("b", "a"))
        )


def distinct_keys(path: Path) -> int:
    keys = ", ".join(f'"{c}"' for c in RAW.primary_key)
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            f"select count(*) from (select distinct {keys} from {RAW.qualified_name})"
        ).fetchall()[0][0]


@pytest.mark.parametrize("point", ["mid_fetch", "creating_schema", "in_transaction", "committing"])
def test_a_killed_sync_run_again_lands_exactly_one_clean_sync(
    point: str, sources, settings: Settings, tmp_path: Path
) -> None:
    clean = settings.replace(
        warehouse=tmp_path / "clean" / "warehouse.duckdb",
        spool_dir=tmp_path / "clean-spool",
        **SMALL_PAGES,
    )
    sources.reset_stats(SOURCE)
    sync_object(clean, clean.warehouse, SOURCE, OBJECT)
    requests = sources.stats(SOURCE)["data_requests"]
    reference = Landed.read(clean.warehouse)
    (world_rows,) = sources.execute("select count(*) from erp.transactionline")[0]
    assert reference.rows == world_rows > 0 and requests > 100

    warehouse, spool = tmp_path / "killed" / "warehouse.duckdb", tmp_path / "spool"
    wal = Path(f"{warehouse}.wal")
    killed = clean.replace(warehouse=warehouse, spool_dir=spool, warehouse_lock_timeout_s=5.0)
    changes = {"http": dataclasses.asdict(settings.http), **SMALL_PAGES}
    env = {
        **sources.env(),
        "PARTNERPULSE_WAREHOUSE": str(warehouse),
        "PARTNERPULSE_SPOOL_DIR": str(spool),
    }
    log = tmp_path / "child.log"
    sources.reset_stats(SOURCE)
    child = start_child(SYNC, [json.dumps(changes), SOURCE, OBJECT], log, env)
    try:
        if point == "mid_fetch":  # half of the pages served
            wait_for(
                child,
                lambda: sources.stats(SOURCE)["data_requests"] >= requests // 2,
                "half of the requests",
                log,
            )
        elif point == "creating_schema":  # commit_sync has opened (created) the warehouse
            wait_for(child, warehouse.exists, "warehouse file", log)
        else:  # the schema is complete: the sync's transaction is open (or about to be)

            def schema_logged() -> bytes | None:
                log_bytes = wal.read_bytes() if wal.exists() else b""
                return log_bytes if LAST_SCHEMA_TABLE in log_bytes else None

            schema_bytes = len(wait_for(child, schema_logged, "the whole schema logged", log))
            if point == "committing":  # the transaction's commit reaches the log
                wait_for(
                    child,
                    lambda: (file_size(wal) or 0) > schema_bytes or not wal.exists(),
                    "the commit logged",
                    log,
                )
        freeze(child)
        at_stop = {
            "requests": sources.stats(SOURCE)["data_requests"],
            "warehouse_bytes": file_size(warehouse),
            "wal_bytes": file_size(wal),
            "spools": spools(spool),
        }
    finally:
        if child.poll() is None:
            kill(child)

    # Right after the kill: all of the sync or nothing of it.
    after_kill = Landed.read(warehouse)
    if after_kill.runs:
        ((_, status, rows_read),) = after_kill.runs
        assert (status, rows_read) == ("succeeded", world_rows), at_stop
        assert after_kill.watermark == reference.watermark, at_stop
        assert differences(clean.warehouse, warehouse) == (0, 0), at_stop
    else:
        assert (after_kill.rows, after_kill.watermark) == (0, None), at_stop
        # An uncommitted sync cannot have removed its spool folder.
        assert len(at_stop["spools"]) == 1 and spools(spool) == at_stop["spools"], at_stop

    # Run again: the warehouse opens (its lock died with the child), lands what one clean
    # sync lands, and the killed sync's spool folder is gone.
    result = sync_object(killed, warehouse, SOURCE, OBJECT)
    after = Landed.read(warehouse)
    assert differences(clean.warehouse, warehouse) == (0, 0), at_stop
    assert after.rows == distinct_keys(warehouse) == reference.rows
    assert after.watermark == reference.watermark
    assert after.runs == [*after_kill.runs, (result.sync_id, "succeeded", result.rows_read)]
    assert spools(spool) == set()


def test_a_warehouse_file_whose_creator_was_killed_is_made_anew(tmp_path: Path) -> None:
    # What the `creating_schema` kill leaves when it lands between DuckDB's header writes:
    # the first 0, 1 or 2 of the three 4 KiB headers of a new file.
    made = tmp_path / "made.duckdb"
    duckdb.connect(str(made)).close()
    headers = made.read_bytes()
    assert len(headers) == 3 * 4096
    for size in (0, 4096, 8192):
        path = tmp_path / f"killed-at-{size}.duckdb"
        path.write_bytes(headers[:size])
        with pytest.raises(duckdb.IOException):
            duckdb.connect(str(path)).close()
        ensure_warehouse(path)
        assert Landed.read(path) == Landed(0, None, [])
    # A short file that is not DuckDB's is not ours to remove.
    foreign = tmp_path / "notes.duckdb"
    foreign.write_text("not a warehouse")
    with pytest.raises(duckdb.IOException):
        ensure_warehouse(foreign)
    assert foreign.read_text() == "not a warehouse"


# -- a publish killed at four points ---------------------------------------------------------

MARTS = {  # rows per mart of the two warehouses published in turn (copied in name order)
    "A": {"dim_partners": 300, "fct_partner_months": 20_000, "rpt_partner_reconciliation": 40_000},
    "B": {"dim_partners": 500, "fct_partner_months": 30_000, "rpt_partner_reconciliation": 60_000},
}
KEEP = 2
KILLED_RUN = "B-killed"  # publication folders end with the run id's first 8 characters

PUBLISH = """
import sys
from connectors.serving import publish_marts
warehouse, serving, parquet, run_id, keep = sys.argv[1:6]
publish_marts(warehouse, serving, parquet, run_id=run_id, keep=int(keep))
"""


@pytest.fixture(scope="module")
def marts_warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two warehouses whose marts hold MARTS[tag] rows, each row tagged `tag`."""
    root = tmp_path_factory.mktemp("marts")
    paths = {}
    for tag, tables in MARTS.items():
        paths[tag] = root / f"warehouse_{tag}.duckdb"
        with duckdb.connect(str(paths[tag])) as con:
            con.execute("create schema marts")
            for table, n in tables.items():
                con.execute(
                    f"create table marts.{table} as select range as id, range * 1.5 as amount_usd, "
                    f"md5(range::varchar) as note, '{tag}' as run_tag from range({n})"
                )
    return paths


def tag_of(run_id: str) -> str:
    return run_id.split("-", 1)[0]


def serving_run(serving: Path) -> str:
    """The run the serving file holds, after checking it holds every mart of that run's
    warehouse, whole and of that run only."""
    with duckdb.connect(str(serving), read_only=True) as con:
        published = con.execute(
            f"select run_id, table_schema, table_name, row_count from {PUBLICATION_TABLE}"
        ).fetchall()
        (run_id,) = {r[0] for r in published}
        expected = MARTS[tag_of(run_id)]
        assert {r[2]: r[3] for r in published} == expected
        for table, n in expected.items():
            assert con.execute(
                f"select count(*), list(distinct run_tag) from marts.{table}"
            ).fetchall() == [(n, [tag_of(run_id)])]
    return run_id


def folder_run(folder: Path) -> str:
    """The run a Parquet publication folder holds, after checking it is complete."""
    manifest = json.loads((folder / f"{PUBLICATION_TABLE}.json").read_text())
    expected = MARTS[tag_of(manifest["run_id"])]
    assert manifest["row_counts"] == {f"marts.{t}": n for t, n in expected.items()}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{PUBLICATION_TABLE}.json", *(f"{t}.parquet" for t in expected)]
    )
    with duckdb.connect() as con:
        for table, n in expected.items():
            assert con.execute(
                "select count(*), list(distinct run_tag) from read_parquet(?)",
                [str(folder / f"{table}.parquet")],
            ).fetchall() == [(n, [tag_of(manifest["run_id"])])]
    return manifest["run_id"]


def current_run(parquet: Path) -> str:
    """The run of the folder `current` names (a published one, never a temporary one)."""
    folder = Path(os.path.realpath(parquet / "current"))
    assert folder.parent == parquet / "publications" and not folder.name.startswith(".")
    return folder_run(folder)


@pytest.mark.parametrize("point", ["building", "last_table", "renamed", "switched"])
def test_a_killed_publish_leaves_readers_a_whole_publication_and_the_rerun_cleans_up(
    point: str, marts_warehouses: dict[str, Path], tmp_path: Path
) -> None:
    serving, parquet = tmp_path / "serving" / "serving.duckdb", tmp_path / "parquet"
    publications = parquet / "publications"
    for run_id in ("A-0", "A-1"):  # the killed publish would prune A-0 once it switched
        publish_marts(marts_warehouses["A"], serving, parquet, run_id=run_id, keep=KEEP)
    events = {
        # the first table's Parquet file is in the temporary folder
        "building": lambda: any(publications.glob(".*.tmp/*.parquet")),
        # the last table's is: then the serving file is finished and checkpointed
        "last_table": lambda: len(list(publications.glob(".*.tmp/*.parquet"))) == len(MARTS["B"]),
        # the folder has its final name (the two switches follow within microseconds)
        "renamed": lambda: any(publications.glob(f"*-{KILLED_RUN}")),
        # `current` names it (the oldest publication is being pruned)
        "switched": lambda: os.readlink(parquet / "current").endswith(KILLED_RUN),
    }
    log = tmp_path / "child.log"
    args = [str(marts_warehouses["B"]), str(serving), str(parquet), KILLED_RUN, str(KEEP)]
    child = start_child(PUBLISH, args, log)
    try:
        wait_for(child, events[point], f"the {point} event", log)
        freeze(child)
        renamed_at_stop = any(publications.glob(f"*-{KILLED_RUN}"))
    finally:
        if child.poll() is None:
            kill(child)

    # Readers see the previous publication or the killed one, each whole: never half of one.
    in_serving, in_parquet = serving_run(serving), current_run(parquet)
    assert {in_serving, in_parquet} <= {"A-1", KILLED_RUN}
    if not renamed_at_stop:
        assert in_serving == in_parquet == "A-1"
    if in_parquet == KILLED_RUN:  # `current` switches after the serving file
        assert in_serving == KILLED_RUN

    # The rerun publishes, removes the killed publish's temporary files and folder (a folder
    # it finished is an ordinary older publication, pruned after KEEP newer ones).
    rerun = publish_marts(marts_warehouses["B"], serving, parquet, run_id="B-rerun", keep=KEEP)
    assert serving_run(serving) == current_run(parquet) == "B-rerun"
    assert sorted(p.name for p in serving.parent.iterdir()) == [serving.name]
    assert sorted(p.name for p in parquet.iterdir()) == ["current", "publications"]
    kept = sorted(publications.iterdir())
    assert len(kept) == KEEP and kept[-1] == rerun.parquet_dir
    assert all(folder_run(folder) in {"A-1", KILLED_RUN, "B-rerun"} for folder in kept)


def test_a_publish_removes_the_current_link_a_killed_one_made(
    marts_warehouses: dict[str, Path], tmp_path: Path
) -> None:
    # A publish killed between making its new `current` link and switching it leaves the
    # link (a window too short to stop a child in): the next publish removes it, unfollowed.
    serving, parquet = tmp_path / "serving.duckdb", tmp_path / "parquet"
    first = publish_marts(marts_warehouses["A"], serving, parquet, run_id="A-0")
    left = parquet / ".current.19990101T000000000000Z-killed.tmp"
    os.symlink(Path("publications") / first.publication_id, left)
    publish_marts(marts_warehouses["B"], serving, parquet, run_id="B-1")
    assert not os.path.lexists(left)
    assert sorted(p.name for p in parquet.iterdir()) == ["current", "publications"]
    assert current_run(parquet) == "B-1" and folder_run(first.parquet_dir) == "A-0"
    assert stat.S_IMODE(first.parquet_dir.stat().st_mode) == 0o555  # never followed
