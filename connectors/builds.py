"""What the last complete build of the marts was made from, so that a run whose inputs did
not change since (the same landed data, dbt vars and dbt project) does not build, check and
publish the same marts again (docs/operations.md, "Reruns that change nothing").

The fingerprint digests the content of every raw table, leaving out the two columns a sync
stamps on each row it lands (`_sync_id`, `_loaded_at`): a sync that reads the same rows
again changes nothing. It also digests whatever the caller adds (the dbt vars, the code).
DuckDB hashes a table of a million rows in tens of milliseconds. `missing_relations` says
whether the models' tables and views are all still there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import duckdb

from connectors.warehouse import connect, quote, utcnow

LOAD_COLUMNS = frozenset({"_sync_id", "_loaded_at"})


def fingerprint(con: duckdb.DuckDBPyConnection, extra: Iterable[str] = ()) -> str:
    """The digest of the raw tables' content and `extra`."""
    digest = hashlib.sha256()
    for item in extra:
        digest.update(item.encode() + b"\0")
    for name, content in table_contents(con).items():
        digest.update(f"{name}:{content}\0".encode())
    return digest.hexdigest()


def table_contents(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """`schema.table` -> its row count and a hash of its rows (without the sync's stamps),
    for every raw table: equal strings, equal content."""
    columns: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema like 'raw\\_%' escape '\\' order by 1, 2, ordinal_position"
    ).fetchall():
        if column not in LOAD_COLUMNS:
            columns.setdefault((schema, table), []).append(quote(column))
    contents = {}
    for (schema, table), names in columns.items():
        count, content = con.execute(
            f"select count(*), coalesce(sum(hash({', '.join(names)})), 0) "
            f"from {quote(schema)}.{quote(table)}"
        ).fetchone()
        contents[f"{schema}.{table}"] = f"{count}:{content}"
    return contents


def missing_relations(
    con: duckdb.DuckDBPyConnection, expected: Iterable[tuple[str, str]]
) -> list[str]:
    """Those of the `(schema, name)` relations (tables or views) the warehouse lacks."""
    present = set(
        con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "union all select schema_name, view_name from duckdb_views()"
        ).fetchall()
    )
    return sorted(f"{schema}.{name}" for schema, name in expected if (schema, name) not in present)


def last_complete_build(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """(fingerprint, run id) of the last complete build, None before the first (or in a
    warehouse made before builds were recorded)."""
    exists = con.execute(
        "select count(*) from duckdb_tables() "
        "where schema_name = 'ops' and table_name = 'complete_builds'"
    ).fetchone()[0]
    if not exists:
        return None
    row = con.execute(
        "select fingerprint, run_id from ops.complete_builds order by finished_at desc limit 1"
    ).fetchone()
    return (row[0], row[1]) if row else None


def record_complete_build(warehouse: str, fingerprint: str, run_id: str) -> None:
    """Records that the run built, checked and published the marts from `fingerprint`."""
    with connect(warehouse) as con:
        con.execute(
            "insert or replace into ops.complete_builds values (?, ?, ?)",
            [run_id, fingerprint, utcnow()],
        )
