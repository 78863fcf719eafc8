"""Publishing for BI: readers in other processes never err and never see two publishes mixed.

Two small warehouses (A and B, different row counts, every row tagged with its
warehouse) are published in turn by `connectors.serving.publish_marts` while two reader
PROCESSES read the serving file: one opens a new connection for every read and must see
each new publication; one holds a single connection open throughout and must keep
reading the publication it opened. Every read checks that each table holds exactly the
rows `_publication` promises, all from the publishing run.
"""

from __future__ import annotations

import json
import os
import queue
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from connectors.serving import publish_marts

ROWS = {
    "A": {"fct_partner_months": 500, "rpt_partner_reconciliation": 30},
    "B": {"fct_partner_months": 800, "rpt_partner_reconciliation": 70},
}
DEADLINE_S = 60

READER = r"""
import json, os, sys, duckdb
serving, parquet_root, stop_file, mode = sys.argv[1:5]

def check(con):
    rows = con.execute(
        "select run_id, table_schema, table_name, row_count from _publication"
    ).fetchall()
    run_ids = {r[0] for r in rows}
    assert len(run_ids) == 1, f"_publication names several runs: {run_ids}"
    (run_id,) = run_ids
    for _, schema, table, count in rows:
        n, tags = con.execute(
            f'select count(*), list(distinct run_tag) from "{schema}"."{table}"'
        ).fetchall()[0]
        assert n == count, f"{table}: {n} rows, _publication says {count}"
        assert tags == [run_id.split("-")[0]], f"{table} holds rows of {tags}, run {run_id}"
    return run_id

def check_parquet():
    folder = os.path.realpath(os.path.join(parquet_root, "current"))  # resolve once
    with open(os.path.join(folder, "_publication.json")) as f:
        manifest = json.load(f)
    con = duckdb.connect()
    try:
        for qualified, count in manifest["row_counts"].items():
            table = qualified.split(".", 1)[1]
            n, tags = con.execute(
                "select count(*), list(distinct run_tag) from read_parquet(?)",
                [os.path.join(folder, table + ".parquet")],
            ).fetchall()[0]
            assert n == count, f"parquet {table}: {n} rows, manifest says {count}"
            assert tags == [manifest["run_id"].split("-")[0]], f"parquet {table}: {tags}"
    finally:
        con.close()

iterations, errors, seen = 0, [], []
held = duckdb.connect(serving, read_only=True) if mode == "held" else None
while True:
    stopping = os.path.exists(stop_file)
    try:
        if held is not None:
            run_id = check(held)
        else:
            con = duckdb.connect(serving, read_only=True)
            try:
                run_id = check(con)
            finally:
                con.close()
            check_parquet()
        if not seen or seen[-1] != run_id:
            seen.append(run_id)
            print("seen", run_id, flush=True)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        print("error", errors[-1], flush=True)
    iterations += 1
    if stopping:
        break
print("done", json.dumps({"iterations": iterations, "errors": errors, "seen": seen}), flush=True)
"""


def make_warehouse(path: Path, tag: str) -> None:
    """A warehouse whose marts hold ROWS[tag] rows, each tagged `tag`."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts; create schema staging")
        for table, n in ROWS[tag].items():
            con.execute(
                f"create table marts.{table} as select range as id, range * 1.5 as amount_usd, "
                f"'{tag}' as run_tag from range({n})"
            )
        con.execute("create table staging.not_published as select 1 as x")
    finally:
        con.close()


class Reader:
    """A reader process and the lines it prints, read by a thread into a queue."""

    def __init__(self, serving: Path, parquet: Path, stop: Path, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER, str(serving), str(parquet), str(stop), mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str) -> str:
        """The next line starting with `prefix` (errors fail at once), within the deadline."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"reader printed no {prefix!r} line in {DEADLINE_S}s"
            line = self.lines.get(timeout=remaining)
            assert not line.startswith("error"), line
            if line.startswith(prefix):
                return line


@pytest.fixture()
def warehouses(tmp_path: Path) -> dict[str, Path]:
    paths = {tag: tmp_path / f"warehouse_{tag}.duckdb" for tag in ROWS}
    for tag, path in paths.items():
        make_warehouse(path, tag)
    return paths


def test_readers_never_err_and_never_see_two_publishes_mixed(
    tmp_path: Path, warehouses: dict[str, Path]
) -> None:
    serving, parquet = tmp_path / "serving" / "serving.duckdb", tmp_path / "serving" / "parquet"
    stop = tmp_path / "stop"
    publish_marts(warehouses["A"], serving, parquet, run_id="A-0")
    fresh = Reader(serving, parquet, stop, "fresh")
    held = Reader(serving, parquet, stop, "held")
    try:
        assert fresh.wait_for("seen") == "seen A-0"
        assert held.wait_for("seen") == "seen A-0"
        published = ["A-0"]
        for i in range(1, 9):
            tag = "B" if i % 2 else "A"
            run_id = f"{tag}-{i}"
            publish_marts(warehouses[tag], serving, parquet, run_id=run_id)
            published.append(run_id)
            # The next fresh connection sees the new publication.
            assert fresh.wait_for("seen") == f"seen {run_id}"
        stop.touch()
        results = {}
        for name, reader in (("fresh", fresh), ("held", held)):
            results[name] = json.loads(reader.wait_for("done").split(" ", 1)[1])
            assert reader.proc.wait(timeout=DEADLINE_S) == 0
    finally:
        for reader in (fresh, held):
            if reader.proc.poll() is None:
                reader.proc.kill()
    assert results["fresh"]["errors"] == [] and results["held"]["errors"] == []
    assert results["fresh"]["seen"] == published
    # The held connection read the file it opened, through every publish, to the end.
    assert results["held"]["seen"] == ["A-0"]
    assert results["held"]["iterations"] > 1


def test_publication_is_read_only_complete_and_pruned(
    tmp_path: Path, warehouses: dict[str, Path]
) -> None:
    serving, parquet = tmp_path / "serving.duckdb", tmp_path / "parquet"
    umask = os.umask(0)  # the most permissive umask: publishing must not rely on it
    try:
        publications = [
            publish_marts(warehouses["AB"[i % 2]], serving, parquet, run_id=f"run{i}", keep=2)
            for i in range(4)
        ]
    finally:
        os.umask(umask)
    last = publications[-1]
    assert stat.S_IMODE(os.stat(serving).st_mode) == 0o444
    assert stat.S_IMODE(os.stat(last.parquet_dir).st_mode) == 0o555
    files = list(last.parquet_dir.iterdir())
    assert len(files) == 3 and {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o444}
    assert last.row_counts == {f"marts.{t}": n for t, n in ROWS["B"].items()}
    assert os.path.realpath(parquet / "current") == str(last.parquet_dir)
    kept = sorted(p.name for p in (parquet / "publications").iterdir())
    assert kept == sorted(p.publication_id for p in publications[-2:])
    con = duckdb.connect(str(serving), read_only=True)
    try:
        tables = con.sql(
            "select schema_name, table_name from duckdb_tables() order by 2"
        ).fetchall()
        run_ids = con.sql("select distinct run_id from _publication").fetchall()
    finally:
        con.close()
    # Only the marts schema is published, plus the publication record.
    assert tables == [
        ("main", "_publication"),
        ("marts", "fct_partner_months"),
        ("marts", "rpt_partner_reconciliation"),
    ]
    assert run_ids == [("run3",)]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_failed_publish_leaves_the_previous_one_in_place(
    tmp_path: Path, warehouses: dict[str, Path]
) -> None:
    serving, parquet = tmp_path / "serving.duckdb", tmp_path / "parquet"
    first = publish_marts(warehouses["A"], serving, parquet, run_id="good")
    before = serving.read_bytes()
    with pytest.raises(duckdb.Error):
        publish_marts(tmp_path / "missing" / "warehouse.duckdb", serving, parquet, run_id="bad")
    assert serving.read_bytes() == before
    assert os.path.realpath(parquet / "current") == str(first.parquet_dir)
    leftovers = [p.name for p in [*tmp_path.iterdir(), *(parquet / "publications").iterdir()]]
    assert [name for name in leftovers if name.startswith(".")] == []
