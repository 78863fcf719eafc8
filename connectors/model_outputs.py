"""Marts computed outside dbt (the forecasts): written to the warehouse whole, in bulk, all
of one step's tables in one transaction, so a reader sees the previous set or the new one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from connectors.warehouse import connect, quote

SCHEMA = "marts"


def replace_tables(path: Path | str, tables: Mapping[str, pa.Table]) -> dict[str, int]:
    """Replaces each table `marts.<name>` by its Arrow table; returns the row counts."""
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
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return {name: table.num_rows for name, table in tables.items()}
