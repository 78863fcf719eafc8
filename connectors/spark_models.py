"""The marts and check frames dbt built on Spark, copied into the warehouse file
(docs/scaling.md).

On the Spark engine, Spark builds every model; the warehouse file stays what the rest of the
pipeline reads: the Great Expectations checks validate the frames, publication copies the
marts for BI (serving.duckdb, Parquet), the pages read the publication. Those are
partner-month tables, small beside the raw and intermediate data Spark works through. Each
dbt step's marts and frames are copied from the Parquet files of their Spark tables, in one
transaction: a reader sees the previous copy or the new one, never a mix.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from connectors.warehouse import connect, quote, sql_string

COPIED_SCHEMAS = ("marts", "validation")


class SparkTableMissing(RuntimeError):
    """A model dbt reported as built has no data files where Spark keeps its tables."""


def table_files(spark_warehouse: Path, schema: str, name: str) -> list[Path]:
    """The Parquet files of the Spark table `schema.name` (a managed table of the session's
    warehouse folder)."""
    return sorted((spark_warehouse / f"{schema}.db" / name).rglob("*.parquet"))


def copy_models(
    warehouse: Path | str, spark_warehouse: Path, relations: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Replaces each `(schema, name)` of COPIED_SCHEMAS in the warehouse file with the Spark
    table's rows; returns the rows copied per relation."""
    wanted = sorted({r for r in relations if r[0] in COPIED_SCHEMAS})
    sources = {}
    for schema, name in wanted:
        files = table_files(spark_warehouse, schema, name)
        if not files:
            raise SparkTableMissing(
                f"{schema}.{name}: no Parquet file under {spark_warehouse / (schema + '.db')}"
                " although dbt built it on Spark"
            )
        sources[(schema, name)] = files
    copied = {}
    with connect(warehouse) as con:
        # Views of a warehouse the DuckDB engine built before: replaced by tables.
        views = set(con.execute("select schema_name, view_name from duckdb_views()").fetchall())
        con.begin()
        for (schema, name), files in sources.items():
            target = f"{quote(schema)}.{quote(name)}"
            paths = ", ".join(sql_string(str(f)) for f in files)
            con.execute(f"create schema if not exists {quote(schema)}")
            if (schema, name) in views:
                con.execute(f"drop view {target}")
            con.execute(f"create or replace table {target} as from read_parquet([{paths}])")
            copied[(schema, name)] = con.execute(f"select count(*) from {target}").fetchone()[0]
        con.commit()
    return copied
