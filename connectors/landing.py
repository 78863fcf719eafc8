"""Landing raw data: staged, typed, validated and merged into the raw tables.

Pages arrive as JSON files spooled on disk, exactly as the source sent them: DuckDB reads
them (`read_text`) and parses them with an explicit structure (`from_json`, every field
as VARCHAR), or reads CSV pages (Salesforce Bulk API results, `connectors.landing_csv`)
with every field as VARCHAR, then types the columns to the column types of `schema.py` in
SQL: no Python loop over records. Every value must parse and the primary key and watermark must be
present, or nothing lands. Rows built in Python (POS files) are staged in a Parquet file
written in bounded Arrow batches (`RowStager`). Both are merged on the primary key inside
the sync's transaction (`sync_runs.commit_sync`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from connectors.landing_csv import csv_header, csv_stage_sql
from connectors.schema import ALL_TABLES, RawTable
from connectors.spool import SpoolDir
from connectors.sync_runs import Landed, SyncRun
from connectors.warehouse import quote, sql_string, utcnow


class LandingError(Exception):
    """Landed data failed validation (unparseable value, missing key or watermark, ...)."""

    def __init__(self, object_name: str, message: str) -> None:
        self.object_name = object_name
        self.message = message
        super().__init__(f"{object_name}: {message}")

    def __reduce__(self):
        return (LandingError, (self.object_name, self.message))


@dataclass(frozen=True)
class ChildLanding:
    """Records nested in a list of each parent record (sales-report lines).

    The children of every landed parent replace that parent's stored children.
    """

    table: RawTable
    list_key: str
    parent_columns: Mapping[str, str]  # child column -> parent column (the parent's key)
    wire_names: Mapping[str, str] = field(default_factory=dict)

    def wire(self, column: str) -> str:
        return self.wire_names.get(column, column)


@dataclass(frozen=True)
class JsonLanding:
    """How a source's pages map onto one raw table.

    `records_key` is the key of the record list in each JSON page body; `wire_names` maps
    a column to its key in the record, or its name in a CSV header (default: the column's
    name); `parsers` maps a DuckDB type to a SQL template over `{x}` (the value as VARCHAR)
    that yields the typed value, or NULL when the text does not parse. `format` is "json",
    or "csv" for pages of one header line and a record a line (no `children` then): both
    land alike, from the same text values.
    """

    table: RawTable
    records_key: str
    parsers: Mapping[str, str]
    wire_names: Mapping[str, str] = field(default_factory=dict)
    children: tuple[ChildLanding, ...] = ()
    format: str = "json"

    def wire(self, column: str) -> str:
        return self.wire_names.get(column, column)


def strict_integer(duck_type: str) -> str:
    """A parse template for integers that refuses fractions (a plain cast rounds 12.5 to 13)."""
    return (
        "(CASE WHEN regexp_full_match(trim({x}), '[+-]?[0-9]+([.]0+)?') "
        f"THEN TRY_CAST(CAST(trim({{x}}) AS DOUBLE) AS {duck_type}) END)"
    )


DEFAULT_PARSERS: dict[str, str] = {
    "BIGINT": strict_integer("BIGINT"),
    "INTEGER": strict_integer("INTEGER"),
    "DOUBLE": "TRY_CAST({x} AS DOUBLE)",
    "BOOLEAN": "TRY_CAST({x} AS BOOLEAN)",
    "DATE": "TRY_CAST({x} AS DATE)",
    "TIMESTAMP": "CAST(TRY_CAST({x} AS TIMESTAMPTZ) AS TIMESTAMP)",
}


def parse_expr(parsers: Mapping[str, str], duck_type: str, wire_column: str) -> str:
    """The SQL that types a VARCHAR staging column to `duck_type` (NULL if unparseable)."""
    kind = duck_type.upper()
    if kind == "VARCHAR":
        template = "{x}"
    else:
        template = parsers.get(kind) or DEFAULT_PARSERS.get(kind) or f"TRY_CAST({{x}} AS {kind})"
    return template.format(x=quote(wire_column))


def land_pages(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    landing: JsonLanding,
    files: Sequence[Path],
    *,
    rows_expected: int,
) -> Landed:
    """Stage, type, validate and merge spooled pages (JSON or CSV) into `landing.table`."""
    table = landing.table
    obj = f"{run.source}/{run.object} ({table.qualified_name})"
    columns = list(table.columns)
    existing = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
            [table.schema, table.name],
        ).fetchall()
    }
    for stmt in [table.ddl()] if not existing else table.add_columns_ddl(existing):
        con.execute(stmt)
    wire_fields = list(dict.fromkeys(landing.wire(c) for c in columns))
    if landing.format == "csv":
        stage = _csv_stage(obj, landing, files, wire_fields)
    else:
        stage = _json_stage(landing, files, wire_fields)
    # The stage keeps the pages' order: its `rowid` is each record's position (`_rid`).
    con.execute("DROP TABLE IF EXISTS _pp_stage")
    con.execute(f"CREATE TEMP TABLE _pp_stage AS {stage}")
    staged = con.execute("SELECT count(*) FROM _pp_stage").fetchall()[0][0]
    if staged != rows_expected:
        raise LandingError(obj, f"staged {staged} records but the pages held {rows_expected}")

    typed = {c: parse_expr(landing.parsers, t, landing.wire(c)) for c, t in table.columns.items()}
    raw = {c: quote(landing.wire(c)) for c in table.columns}
    required = list(table.primary_key) + ([table.watermark] if table.watermark else [])
    _create_typed(con, "_pp_stage", "_pp_typed", table.columns, typed, raw, required)
    _check_typed(
        con, obj, "_pp_stage", "_pp_typed", table.columns, raw, required, table.primary_key
    )

    pk = [quote(c) for c in table.primary_key]
    if con.execute(
        f"SELECT 1 FROM _pp_typed GROUP BY {', '.join(pk)} HAVING count(*) > 1 LIMIT 1"
    ).fetchall():
        # Records read twice in one sync: keep the newest version of each.
        order = [f"{quote(table.watermark)} DESC NULLS LAST"] if table.watermark else []
        order += ["_file DESC", "_rid DESC"]
        window = f"PARTITION BY {', '.join(pk)} ORDER BY {', '.join(order)}"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _pp_typed AS SELECT * FROM _pp_typed
            QUALIFY row_number() OVER ({window}) = 1"""
        )
    merged = _merge(con, table, "_pp_typed", run)
    details: dict[str, Any] = {}
    watermark, clamped_from = None, None
    if table.watermark:
        watermark, clamped_from, past = _bounded_watermark(con, table.watermark, run.started_at)
        if clamped_from is not None:
            details["rows_past_sync_start"] = past
    for child in landing.children:
        details[f"{child.table.name}_merged"] = _land_children(con, run, obj, landing, child, typed)
    return Landed(
        rows_read=staged,
        rows_merged=merged,
        watermark=watermark,
        details=details,
        watermark_clamped_from=clamped_from,
    )


def _json_stage(landing: JsonLanding, files: Sequence[Path], wire_fields: list[str]) -> str:
    """A SELECT of `_file` and every record's fields (and child lists) as VARCHAR."""
    nested = {
        child.list_key: list(
            dict.fromkeys(
                child.wire(c) for c in child.table.columns if c not in child.parent_columns
            )
        )
        for child in landing.children
    }
    record: dict[str, Any] = {f: "VARCHAR" for f in wire_fields}
    record.update({key: [{f: "VARCHAR" for f in sub}] for key, sub in nested.items()})
    structure = json.dumps({landing.records_key: [record]})
    parsed = f"(from_json(content, {sql_string(structure)})).{quote(landing.records_key)}"
    if files:
        pages = "read_text([" + ", ".join(sql_string(str(f)) for f in files) + "])"
    else:
        empty = json.dumps({landing.records_key: []})
        pages = f"(SELECT 'none' AS filename, {sql_string(empty)} AS content)"
    return f"""SELECT _file, unnest(r) FROM (
            SELECT filename AS _file, unnest({parsed}) AS r FROM {pages}
        )"""


def _csv_stage(
    obj: str, landing: JsonLanding, files: Sequence[Path], wire_fields: list[str]
) -> str:
    """A SELECT of `_file` and every record's fields as VARCHAR; the pages must share one
    header that names every field (in any case, as SOQL does)."""
    if landing.children:
        raise LandingError(obj, "CSV pages hold no nested records: children cannot land")
    header = csv_header(files[0]) if files else []
    for page in files[1:]:
        if csv_header(page) != header:
            raise LandingError(obj, f"page {page.name}'s header differs from the first page's")
    named = {h.lower() for h in header}
    missing = [f for f in wire_fields if f.lower() not in named]
    if files and missing:
        raise LandingError(obj, f"the CSV header lacks {missing} (header: {header})")
    return csv_stage_sql(files, header, wire_fields)


def _bounded_watermark(
    con: duckdb.DuckDBPyConnection, column: str, sync_start: datetime
) -> tuple[datetime | None, datetime | None, int]:
    """(the mark: the largest staged stamp at or before `sync_start`; the largest stamp when
    it is past `sync_start`, else None; how many staged rows are past it).

    A mark past the sync's start would freeze: one record stamped 9999-12-31 (or a source
    clock running ahead) and every later sync asks only for rows changed after it. Those
    rows still land; only the mark ignores them, and they are re-read by the next sync
    (`>=`). The mark is a stamp the source itself wrote, not our clock's start time: with
    a source clock behind ours, or stamps truncated to the minute (NetSuite), a row changed
    during the fetch can be stamped before our start but never before that stamp.
    """
    col = quote(column)
    mark, top, past = con.execute(
        f"""SELECT max({col}) FILTER (WHERE {col} <= $1), max({col}),
            count(*) FILTER (WHERE {col} > $1)
        FROM _pp_typed""",
        [sync_start],
    ).fetchall()[0]
    return mark, (top if past else None), past


def _create_typed(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    target: str,
    columns: Mapping[str, str],
    typed: Mapping[str, str],
    raw: Mapping[str, str],
    required: Sequence[str],
) -> None:
    """`target` := every staged record typed, in one pass over the stage, with `_rid` (its
    position), `_file`, `_bad` (the first column whose value does not parse to its type)
    and `_missing` (the first required column without a value)."""
    checked = [c for c, t in columns.items() if t.upper() != "VARCHAR"]
    inner = ", ".join(f"{typed[c]} AS {quote(c)}" for c in columns)
    inner += "".join(f", {raw[c]} IS NOT NULL AS {quote('_has_' + c)}" for c in checked)
    bad = " ".join(
        f"WHEN {quote('_has_' + c)} AND {quote(c)} IS NULL THEN {sql_string(c)}" for c in checked
    )
    missing = " ".join(f"WHEN {quote(c)} IS NULL THEN {sql_string(c)}" for c in required)
    cols = ", ".join(quote(c) for c in columns)
    con.execute(f"DROP TABLE IF EXISTS {target}")
    con.execute(
        f"""CREATE TEMP TABLE {target} AS
        SELECT {cols}, _rid, _file,
            {f"CASE {bad} END" if bad else "CAST(NULL AS VARCHAR)"} AS _bad,
            {f"CASE {missing} END" if missing else "CAST(NULL AS VARCHAR)"} AS _missing
        FROM (SELECT {inner}, rowid AS _rid, _file FROM {stage})"""
    )


def _check_typed(
    con: duckdb.DuckDBPyConnection,
    obj: str,
    stage: str,
    target: str,
    columns: Mapping[str, str],
    raw: Mapping[str, str],
    required: Sequence[str],
    keys: Sequence[str],
) -> None:
    """Hard errors naming the first record (in page order) whose value does not parse to
    its column type (by its `keys` as sent), then the first that lacks a primary-key or
    watermark value. `raw` maps a column to its SQL in `stage`."""
    rows = con.execute(
        f"SELECT _rid, _bad FROM {target} WHERE _bad IS NOT NULL ORDER BY _rid LIMIT 1"
    ).fetchall()
    if rows:
        rid, column = rows[0]
        key_sql = "".join(f", {raw[k]}" for k in keys)
        value, file_name, *key_values = con.execute(
            f"SELECT {raw[column]}, _file{key_sql} FROM {stage} WHERE rowid = ?", [rid]
        ).fetchall()[0]
        key = dict(zip(keys, key_values, strict=True))
        raise LandingError(
            obj,
            f"column {column} = {value!r} is not a valid {columns[column]} "
            f"(first bad record {key}, page {Path(file_name).name})",
        )
    if not required:
        return
    shown = ", ".join(quote(c) for c in required)
    rows = con.execute(
        f"SELECT _missing, {shown}, _rid FROM {target} WHERE _missing IS NOT NULL "
        "ORDER BY _rid LIMIT 1"
    ).fetchall()
    if rows:
        column, *values, rid = rows[0]
        record = dict(zip(required, values, strict=True))
        raise LandingError(
            obj, f"required field {column} is missing (first bad record #{rid + 1}: {record})"
        )


def _merge(con: duckdb.DuckDBPyConnection, table: RawTable, stage: str, run: SyncRun) -> int:
    """Delete the stage's keys from the raw table, insert the stage; the rows merged."""
    cond = " AND ".join(f"t.{quote(c)} = s.{quote(c)}" for c in table.primary_key)
    con.execute(f"DELETE FROM {table.qualified_name} AS t USING {stage} AS s WHERE {cond}")
    cols = ", ".join(quote(c) for c in table.columns)
    con.execute(
        f"""INSERT INTO {table.qualified_name} ({cols}, "_sync_id", "_loaded_at")
        SELECT {cols}, ?, ? FROM {stage}""",
        [run.sync_id, utcnow()],
    )
    return con.execute(f"SELECT count(*) FROM {stage}").fetchall()[0][0]


def _land_children(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    parent_obj: str,
    parent: JsonLanding,
    child: ChildLanding,
    parent_typed: Mapping[str, str],
) -> int:
    table = child.table
    obj = f"{parent_obj} -> {table.qualified_name}"
    own = [c for c in table.columns if c not in child.parent_columns]
    wire = {c: child.wire(c) for c in own}
    parent_keys = ", ".join(
        f"{parent_typed[p]} AS {quote(c)}" for c, p in child.parent_columns.items()
    )
    con.execute("DROP TABLE IF EXISTS _pp_child_stage")
    con.execute(
        f"""CREATE TEMP TABLE _pp_child_stage AS
        SELECT _file, {", ".join(quote(c) for c in child.parent_columns)}, unnest(l) FROM (
            SELECT _file, {parent_keys}, unnest({quote(child.list_key)}) AS l
            FROM _pp_stage WHERE rowid IN (SELECT _rid FROM _pp_typed)
        )"""
    )
    typed = {
        c: (quote(c) if c in child.parent_columns else parse_expr(parent.parsers, t, wire[c]))
        for c, t in table.columns.items()
    }
    raw = {c: (quote(c) if c in child.parent_columns else quote(wire[c])) for c in table.columns}
    # Parent keys are typed already (a missing one is reported as missing, not unparseable).
    own_types = {
        c: (t if c not in child.parent_columns else "VARCHAR") for c, t in table.columns.items()
    }
    _create_typed(
        con, "_pp_child_stage", "_pp_child_typed", own_types, typed, raw, list(table.primary_key)
    )
    _check_typed(
        con,
        obj,
        "_pp_child_stage",
        "_pp_child_typed",
        table.columns,
        raw,
        list(table.primary_key),
        table.primary_key,
    )
    pk = ", ".join(quote(c) for c in table.primary_key)
    dup = con.execute(
        f"SELECT {pk}, count(*) FROM _pp_child_typed GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if dup:
        raise LandingError(
            obj, f"duplicate key {dict(zip(table.primary_key, dup[0], strict=False))}"
        )
    # Every re-landed parent's old children go, even when it now has none.
    cond = " AND ".join(
        f"t.{quote(c)} = p.{quote(pcol)}" for c, pcol in child.parent_columns.items()
    )
    con.execute(f"DELETE FROM {table.qualified_name} AS t USING _pp_typed AS p WHERE {cond}")
    cols = ", ".join(quote(c) for c in table.columns)
    con.execute(
        f"""INSERT INTO {table.qualified_name} ({cols}, "_sync_id", "_loaded_at")
        SELECT {cols}, ?, ? FROM _pp_child_typed""",
        [run.sync_id, utcnow()],
    )
    return con.execute("SELECT count(*) FROM _pp_child_typed").fetchall()[0][0]


# -- Arrow row landing (rows built in Python) ------------------------------------------------

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
}


def arrow_schema(table: RawTable) -> pa.Schema:
    """The Arrow schema of a raw table's own columns (lineage columns excluded)."""
    return pa.schema([(c, _ARROW_TYPES[t.upper()]) for c, t in table.columns.items()])


class RowStager:
    """Stages Python rows in a Parquet file, written in bounded Arrow batches.

    The file (in a private temporary folder under `spool_dir`) is the stage: `stage` is the
    SQL that reads it. A temp table would hold every staged row in memory until the sync
    commits; a file keeps a big POS drop's memory flat (BENCHMARKS.md, "POS files").
    """

    def __init__(
        self, table: RawTable, *, spool_dir: Path | None = None, batch_rows: int = 20_000
    ) -> None:
        self.table = table
        self.batch_rows = batch_rows
        self.schema = arrow_schema(table)
        self.count = 0  # rows added
        self._buffer: list[dict[str, Any]] = []
        self._spool = SpoolDir(spool_dir)
        self._path = self._spool.path / f"{table.name}.parquet"
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(self._path, self.schema)
        self.stage = f"read_parquet({sql_string(str(self._path))})"

    def add(self, row: Mapping[str, Any]) -> None:
        self._buffer.append(dict(row))
        self.count += 1
        if len(self._buffer) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            assert self._writer is not None, "rows added after finish()"
            self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self.schema))
            self._buffer.clear()

    def finish(self) -> None:
        """Writes what is buffered and closes the file: `stage` can be read from now on."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        self.finish()
        self._spool.cleanup()

    def __enter__(self) -> RowStager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    table: RawTable,
    stager: RowStager,
    *,
    replace_by: str,
    replaced: Sequence[str],
) -> int:
    """Delete the rows whose `replace_by` is in `replaced`, then insert the staged rows."""
    stager.finish()
    if replaced:
        con.register("_pp_replaced", pa.table({"v": pa.array(list(replaced), pa.string())}))
        try:
            con.execute(
                f"DELETE FROM {table.qualified_name} "
                f"WHERE {quote(replace_by)} IN (SELECT v FROM _pp_replaced)"
            )
        finally:
            con.unregister("_pp_replaced")
    return _merge(con, table, stager.stage, run)


def table_for(qualified_name: str) -> RawTable:
    """The raw table called `schema.name`."""
    return ALL_TABLES[qualified_name]
