"""What the last complete build of the marts was made from, so that a run whose inputs did
not change since (the same landed data, dbt vars and dbt project) does not build, check and
publish the same marts again (docs/operations.md, "Reruns that change nothing").

The fingerprint digests named inputs (`inputs`): the content of every raw table, leaving
out the two columns a sync stamps on each row it lands (`_sync_id`, `_loaded_at`), so that a
sync that reads the same rows again changes nothing, and whatever the caller adds (the dbt
vars, the code). DuckDB hashes a table of a million rows in tens of milliseconds. The
inputs are recorded with the build, so that the next run names those that changed
(`changed`). `missing_relations` says whether the models' tables and views are all still
there. The dbt tests that passed and the models built are recorded with the digest of
their inputs (`record_dbt_outcomes`), so that the next run can leave out those whose
inputs are the same (orchestration/same_inputs.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import duckdb

from connectors.warehouse import connect, quote, utcnow

LOAD_COLUMNS = frozenset({"_sync_id", "_loaded_at"})


class CompleteBuild(NamedTuple):
    fingerprint: str
    run_id: str
    inputs: dict[str, str]  # {} for a build recorded before inputs were


def inputs(contents: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """What a build is made from, by name: `extra`, and each raw table's `contents`
    (`table_contents`)."""
    return {**extra, **contents}


def fingerprint(inputs: Mapping[str, str]) -> str:
    """The digest of `inputs` (equal inputs, equal digest)."""
    digest = hashlib.sha256()
    for name, content in sorted(inputs.items()):
        digest.update(f"{name}:{content}\0".encode())
    return digest.hexdigest()


def changed(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """The names of the inputs that differ, appeared or went between `before` and `after`."""
    return sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))


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


def last_complete_build(con: duckdb.DuckDBPyConnection) -> CompleteBuild | None:
    """The last complete build, None before the first (or in a warehouse made before builds
    were recorded)."""
    if not _has_ops_table(con, "complete_builds"):
        return None
    row = con.execute(
        "select fingerprint, run_id, inputs from ops.complete_builds "
        "where finished_at is not null order by finished_at desc limit 1"
    ).fetchone()
    if row is None:
        return None
    return CompleteBuild(row[0], row[1], json.loads(row[2]) if row[2] else {})


def _has_ops_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the warehouse has `ops.<name>` (a read-only connection creates no table)."""
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'ops' and table_name = ?",
            [name],
        ).fetchone()[0]
    )


def record_inputs(warehouse: str, run_id: str, inputs: Mapping[str, str]) -> None:
    """Records what the run builds the marts from; its build counts once it is complete
    (`record_complete_build`). The inputs of earlier runs that never completed (failed, or
    built nothing) go: every complete run records its own, so they would pile up."""
    with connect(warehouse) as con:
        con.execute(
            "delete from ops.complete_builds where finished_at is null and run_id <> ?", [run_id]
        )
        con.execute(
            "insert or replace into ops.complete_builds (run_id, fingerprint, finished_at, inputs) "
            "values (?, ?, null, ?)",
            [run_id, fingerprint(inputs), json.dumps(inputs, sort_keys=True)],
        )


def passed_tests(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """Each dbt test that passed when it last ran -> the digest of the inputs it passed on
    and the run; {} in a warehouse made before tests were recorded."""
    return _recorded(con, "passed_tests", "test_id")


def built_models(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """Each dbt model built when it last ran -> the digest of the inputs it was built from
    and the run; {} in a warehouse made before models were recorded."""
    return _recorded(con, "built_models", "model_id")


def _recorded(con: duckdb.DuckDBPyConnection, table: str, key: str) -> dict[str, tuple[str, str]]:
    if not _has_ops_table(con, table):
        return {}
    rows = con.execute(f"select {key}, inputs, run_id from ops.{table}").fetchall()
    return {node: (inputs, run_id) for node, inputs, run_id in rows}


def record_dbt_outcomes(
    warehouse: str,
    run_id: str,
    *,
    passed: Mapping[str, str],
    built: Mapping[str, str],
    others: Iterable[str],
) -> None:
    """Records the dbt tests of a run that `passed` and the models it `built` (id -> their
    inputs' digest), and forgets the `others` it ran (warned, failed, or not run after a
    failure upstream), in one transaction."""
    forgotten = [[node] for node in others]
    now = utcnow()
    with connect(warehouse) as con:
        con.execute("BEGIN TRANSACTION")
        if forgotten:
            con.executemany("delete from ops.passed_tests where test_id = ?", forgotten)
            con.executemany("delete from ops.built_models where model_id = ?", forgotten)
        if passed:
            con.executemany(
                "insert or replace into ops.passed_tests (test_id, inputs, run_id, passed_at) "
                "values (?, ?, ?, ?)",
                [[test, digest, run_id, now] for test, digest in passed.items()],
            )
        if built:
            con.executemany(
                "insert or replace into ops.built_models (model_id, inputs, run_id, built_at) "
                "values (?, ?, ?, ?)",
                [[model, digest, run_id, now] for model, digest in built.items()],
            )
        con.execute("COMMIT")


def record_complete_build(warehouse: str, run_id: str) -> None:
    """Records that the run built, checked and published the marts from its inputs."""
    with connect(warehouse) as con:
        con.execute(
            "update ops.complete_builds set finished_at = ? where run_id = ?", [utcnow(), run_id]
        )
