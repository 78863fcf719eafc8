"""Publishing the marts for BI readers: a serving DuckDB file and Parquet files, switched
atomically (the file mechanics are `publishing`'s)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from connectors import publishing
from connectors.warehouse import quote, sql_string, utcnow

log = logging.getLogger("partnerpulse.connectors.serving")


PUBLICATION_TABLE = "_publication"
SERVING_STORAGE_VERSION = "v1.1.0"  # DuckDB 1.1 and newer (BI drivers) can open the file


def is_published(column: str) -> bool:
    """Whether BI readers get a mart's column: those starting with `_` are the warehouse's
    bookkeeping (what a month of a mart was built from, docs/models.md decision 31)."""
    return not column.startswith("_")


def _published_columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[str]:
    """The columns of `src.<schema>.<name>` that BI readers get, in table order."""
    rows = con.execute(
        "select column_name from duckdb_columns() where database_name = 'src' "
        "and schema_name = ? and table_name = ? order by column_index",
        [schema, name],
    ).fetchall()
    return [column for (column,) in rows if is_published(column)]


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
    - The warehouse's bookkeeping columns are not published (`is_published`).

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
                columns = ", ".join(
                    quote(column) for column in _published_columns(con, schema, name)
                )
                con.execute(f"create table {target} as select {columns} from {source}")
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
