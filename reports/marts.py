"""Reading the published marts: rows as dicts, and which marts a publication holds."""

from __future__ import annotations

from typing import Any

import duckdb

Row = dict[str, Any]


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[Row]:
    """The rows of `sql` as dicts keyed by column name."""
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def published(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The marts in the publication: a mart added since an older publication may be absent."""
    return {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
