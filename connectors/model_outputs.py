"""Marts computed outside dbt (the forecasts): written to the warehouse whole, in bulk, all
of one step's tables in one transaction, so a reader sees the previous set or the new one.
The same transaction records what they were made from (a digest of their inputs), so that
a step whose inputs did not change can leave them as they are (`made_from`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb
import pyarrow as pa

from connectors.warehouse import connect, quote, utcnow

SCHEMA = "marts"


def replace_tables(
    path: Path | str, tables: Mapping[str, pa.Table], *, made_from: str | None = None
) -> dict[str, int]:
    """Replaces each table `marts.<name>` by its Arrow table, recording `made_from` for the
    set; returns the row counts."""
    with connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            for name, table in tables.items():
                view = f"_pp_model_output_{name}"
                con.register(view, table)
                try:
                    con.execute(
                        f"CREATE OR REPLACE TABLE {SCHEMA}.{quote(name)} AS "
                        f"SELECT * FROM {quote(view)}"
                    )
                finally:
                    con.unregister(view)
            if made_from is not None:
                con.execute(
                    "INSERT OR REPLACE INTO ops.model_outputs VALUES (?, ?, ?)",
                    [_key(tables), made_from, utcnow()],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return {name: table.num_rows for name, table in tables.items()}


def made_from(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> str | None:
    """What the tables `names` were last written from together, None when unknown or when one
    of them is gone since."""
    names = sorted(names)
    present = con.execute(
        "select count(*) from duckdb_tables() "
        "where schema_name = ? and list_contains(?, table_name)",
        [SCHEMA, names],
    ).fetchone()[0]
    recorded = con.execute(
        "select count(*) from duckdb_tables() "
        "where schema_name = 'ops' and table_name = 'model_outputs'"
    ).fetchone()[0]
    if present < len(names) or not recorded:
        return None
    row = con.execute(
        "select made_from from ops.model_outputs where tables = ?", [_key(names)]
    ).fetchone()
    return row[0] if row else None


def _key(names: Iterable[str]) -> str:
    return ",".join(sorted(names))
