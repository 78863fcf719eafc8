"""The raw layer as Parquet files for Spark (docs/scaling.md).

On the Spark engine the connectors still land into the warehouse file, where DuckDB keeps
every landing guarantee (typed rows, quarantine, merges on the primary key, a sync and its
watermark committed together). What Spark reads is an export: each raw table whose content
changed since its last export is written as a new Parquet version,
`<raw_dir>/<schema>/<table>/<version>.parquet`, and only then recorded as current in
`ops.spark_raw_versions`. A version is never written over, so a dbt command reading the
previous versions (macros/spark_raw.sql) reads whole files; the version before the current
one is kept for such a reader, older ones are removed.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from connectors.builds import table_contents
from connectors.warehouse import connect, quote, sql_string, utcnow

log = logging.getLogger("partnerpulse.connectors.spark_raw")

VERSIONS_TABLE = "ops.spark_raw_versions"
KEEP_VERSIONS = 2


def export_raw_tables(warehouse: Path | str, raw_dir: Path) -> dict[str, str]:
    """Exports the raw tables that changed since their last export; returns the current
    Parquet file of every raw table, by `schema.table`."""
    raw_dir = Path(raw_dir).resolve()
    with connect(warehouse) as con:
        contents = table_contents(con)
        exported = {
            name: (location, content)
            for name, location, content in con.execute(
                f"select table_name, location, content from {VERSIONS_TABLE}"
            ).fetchall()
        }
        for name, content in contents.items():
            current = exported.get(name)
            if current and current[1] == content and Path(current[0]).exists():
                continue
            schema, table = name.split(".")
            folder = raw_dir / schema / table
            folder.mkdir(parents=True, exist_ok=True)
            version = f"{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
            location = folder / f"{version}.parquet"
            partial = folder / f".{version}.parquet.partial"
            con.execute(
                f"copy (select * from {quote(schema)}.{quote(table)}) "
                f"to {sql_string(str(partial))} (format parquet, compression zstd)"
            )
            partial.rename(location)
            con.execute(
                f"insert or replace into {VERSIONS_TABLE} "
                "(table_name, location, content, exported_at) values (?, ?, ?, ?)",
                [name, str(location), content, utcnow()],
            )
            log.info("exported %s (rows:hash %s) to %s", name, content, location)
            _remove_old_versions(folder)
        return dict(
            con.execute(f"select table_name, location from {VERSIONS_TABLE} order by 1").fetchall()
        )


def _remove_old_versions(folder: Path) -> None:
    """Keeps the newest KEEP_VERSIONS versions of a table (their names sort by time)."""
    for old in sorted(folder.glob("*.parquet"))[:-KEEP_VERSIONS]:
        old.unlink(missing_ok=True)
