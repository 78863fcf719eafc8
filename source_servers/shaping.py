"""Applies an org shape (`source_servers.shapes`) to the loaded world.

The default shape serves the world tables themselves (schemas `crm` and `erp`). Any
other shape gets DuckDB views over them in schemas `<shape>_crm` and `<shape>_erp`: one
view per served object, renaming columns and mapping picklist values, and, for an
object made of several world tables, a `UNION ALL BY NAME` of them with the record type
of each row. Views follow the world tables, so world mutations show through.

A shape with a POS layout also gets the world's POS files rewritten in that layout when
they are dropped into the landing folder (`convert_pos_file`).
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from source_servers import metadata
from source_servers.shapes import RECORD_TYPE_IDS, OrgShape, Part, PosLayout, Served

if TYPE_CHECKING:
    import duckdb

    from source_servers.runtime import World

# The world's CRM tables and the sObject names they are served under by default.
DEFAULT_CRM_NAMES = {
    "account": "Account",
    "opportunity": "Opportunity",
    "lead": "Lead",
    "deal_registration__c": "Deal_Registration__c",
    "campaign": "Campaign",
}
RECORD_TYPE_ID = "RecordTypeId"
RECORD_TYPE_NAME = "RecordType.DeveloperName"


def served_schema(shape: OrgShape, system: str) -> str:
    """The DuckDB schema serving `system` ('crm' or 'erp') in `shape`."""
    return system if shape.is_default else f"{shape.name}_{system}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def served_objects(shape: OrgShape, system: str, world_tables: list[str]) -> list[Served]:
    """Every object served for `system`: the shape's, then the untouched world tables."""
    declared = list(shape.crm if system == "crm" else shape.erp)
    used = {part.table for served in declared for part in served.parts}
    for table in world_tables:
        if table not in used:
            name = DEFAULT_CRM_NAMES.get(table, table) if system == "crm" else table
            declared.append(Served(name, (Part(table),)))
    return declared


def relation_name(system: str, served: Served) -> str:
    """The view (or world table) name serving an object."""
    return served.name.lower() if system == "crm" else served.name


def _part_select(con: duckdb.DuckDBPyConnection, system: str, part: Part, typed: bool) -> str:
    columns = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = 'memory' "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [system, part.table],
    ).fetchall()
    items = []
    for (col,) in columns:
        expr = _quote(col)
        mapping = part.values.get(col)
        if mapping:
            whens = " ".join(f"WHEN {_sql_str(a)} THEN {_sql_str(b)}" for a, b in mapping.items())
            expr = f"CASE {expr} {whens} ELSE {expr} END"
        items.append(f"{expr} AS {_quote(part.renames.get(col, col))}")
    if typed:
        developer_name = part.record_type[0] if part.record_type else "Master"
        record_type_id = RECORD_TYPE_IDS.get(developer_name, metadata.MASTER_RECORD_TYPE_ID)
        items.append(f"{_sql_str(record_type_id)} AS {_quote(RECORD_TYPE_ID)}")
        items.append(f"{_sql_str(developer_name)} AS {_quote(RECORD_TYPE_NAME)}")
    return f"SELECT {', '.join(items)} FROM memory.{system}.{_quote(part.table)}"


def install(con: duckdb.DuckDBPyConnection, shape: OrgShape) -> None:
    """Create the views of a non-default shape (nothing for the default one)."""
    if shape.is_default:
        return
    for system in ("crm", "erp"):
        schema = served_schema(shape, system)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS memory.{_quote(schema)}")
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory' "
                "AND schema_name = ? ORDER BY table_name",
                [system],
            ).fetchall()
        ]
        for served in served_objects(shape, system, tables):
            typed = any(part.record_type for part in served.parts)
            body = " UNION ALL BY NAME ".join(
                _part_select(con, system, part, typed) for part in served.parts
            )
            view = f"memory.{_quote(schema)}.{_quote(relation_name(system, served))}"
            con.execute(f"CREATE VIEW {view} AS {body}")


# ---------------------------------------------------------------------------------------
# The served CRM catalog (for SOQL and describe)
# ---------------------------------------------------------------------------------------


def crm_catalog(world: World) -> dict[str, metadata.SfObject]:
    """lower-case sObject name -> served object with its fields, in the world's shape."""
    shape = world.shape
    schema = served_schema(shape, "crm")
    world_tables = sorted(world.tables("crm"), key=_default_order)
    catalog = served_objects(shape, "crm", world_tables)
    served_names = {part.table: s.name for s in catalog for part in s.parts}
    out: dict[str, metadata.SfObject] = {}
    for served in catalog:
        relation = relation_name("crm", served)
        columns = world.columns(schema, relation)
        if not columns:
            continue
        origins: dict[str, list[tuple[str, str]]] = {}
        value_maps: dict[tuple[str, str], dict[str, str]] = {}
        for part in served.parts:
            for col, _ in world.columns("crm", part.table):
                new = part.renames.get(col, col)
                origins.setdefault(new, []).append((part.table, col))
                if col in part.values:
                    value_maps[(part.table, col)] = part.values[col]
        fields = metadata.sf_fields(columns, origins, served_names, value_maps)
        record_types = tuple(
            metadata.RecordType(
                part.record_type[0], part.record_type[1], RECORD_TYPE_IDS[part.record_type[0]]
            )
            for part in served.parts
            if part.record_type
        )
        out[served.name.lower()] = metadata.SfObject(
            served.name, schema, relation, fields, record_types
        )
    return out


def _default_order(table: str) -> int:
    order = list(DEFAULT_CRM_NAMES)
    return order.index(table) if table in order else len(order)


# ---------------------------------------------------------------------------------------
# POS files in another layout
# ---------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^(-?)(\d+)(?:\.(\d+))?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
BRANCHES = ("Zentrale", "Filiale Nord", "Filiale Süd")


def _number(text: str, layout: PosLayout) -> str:
    """`1234.56` as `1.234,56`; a value that is no number (a malformed row) as it is."""
    m = _NUMBER.match(text)
    if not m:
        return text
    sign, whole, frac = m.groups()
    groups = []
    while len(whole) > 3:
        whole, tail = whole[:-3], whole[-3:]
        groups.insert(0, tail)
    whole = layout.thousands.join([whole, *groups])
    return sign + whole + (layout.decimal + frac if frac is not None else "")


def _date(text: str, fmt: str) -> str:
    """Rearranges the parts textually (no date parsing), so an impossible date such as
    2024-03-32 stays as impossible in the new layout."""
    m = _DATE.match(text)
    if not m:
        return text
    year, month, day = m.groups()
    return fmt.replace("%Y", year).replace("%m", month).replace("%d", day)


def _period(text: str, fmt: str) -> str:
    m = _PERIOD.match(text)
    if not m:
        return text
    year, month = m.groups()
    return fmt.replace("%Y", year).replace("%m", month)


def _value(column: str, text: str, layout: PosLayout) -> str:
    if column in ("quantity", "amount"):
        return _number(text, layout)
    if column == "sold_on":
        return _date(text, layout.date_format)
    if column == "period":
        return _period(text, layout.period_format)
    return text


def convert_pos_file(src: Path, dest: Path, layout: PosLayout) -> None:
    """Write the world's POS file `src` (comma CSV, UTF-8) to `dest` in `layout`.

    Columns are renamed by the layout; a column the layout does not know (the world's
    deliberately renamed `qty`) keeps its name and values, and a missing one stays
    missing, so a malformed world file stays malformed. The modification time is kept.
    """
    with open(src, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    out_header = [layout.columns.get(c, c) for c in header] + list(layout.extra_columns)
    out_rows = []
    for n, row in enumerate(body):
        values = [_value(c, v, layout) for c, v in zip(header, row, strict=False)]
        values += row[len(header) :]
        # The extra columns hold a branch name, meaningless to the pipeline.
        values += [BRANCHES[n % len(BRANCHES)] for _ in layout.extra_columns]
        out_rows.append(values)
    with open(dest, "w", newline="", encoding=layout.encoding) as fh:
        writer = csv.writer(fh, delimiter=layout.delimiter, lineterminator="\r\n")
        writer.writerow(out_header)
        writer.writerows(out_rows)
    stat = src.stat()
    os.utime(dest, ns=(stat.st_atime_ns, stat.st_mtime_ns))
