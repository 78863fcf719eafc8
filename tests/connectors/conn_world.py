"""Helpers comparing the warehouse with the world the stand-in servers serve."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from pathlib import Path

import duckdb

from connectors.config import HttpSettings
from connectors.schema import ALL_TABLES
from connectors.sync import SyncResult, objects, sync_object

# raw table -> world table
WORLD_TABLE = {
    "raw_crm.account": "crm.account",
    "raw_crm.opportunity": "crm.opportunity",
    "raw_crm.lead": "crm.lead",
    "raw_crm.deal_registration": "crm.deal_registration__c",
    "raw_crm.campaign": "crm.campaign",
    **{
        f"raw_erp.{t}": f"erp.{t}"
        for t in (
            "partner",
            "customer",
            "classification",
            "item",
            "currency",
            "currencyrate",
            "transaction",
            "transactionline",
            "customrecord_mdf_payment",
        )
    },
    **{
        f"raw_portal.{t}": f"portal.{t}"
        for t in (
            "sales_reports",
            "sales_report_lines",
            "trainings",
            "mdf_claims",
            "asset_usage",
            "business_plans",
        )
    },
}
API_OBJECTS = [o for o in objects() if o.source != "pos"]

EXTRA_OPPORTUNITIES = 450

# The date the connector tests' worlds are generated as of.
AS_OF = dt.date(2024, 6, 30)

# Tiny backoffs: the tests inject failures, and wait for none.
FAST_HTTP = HttpSettings(
    connect_timeout_s=2.0,
    read_timeout_s=10.0,
    max_retries=3,
    backoff_factor=0.001,
    backoff_max_s=0.01,
    backoff_jitter_s=0.001,
    retry_after_max_s=5.0,
    api_usage_pause_s=0.001,
)


def add_opportunities(sources, n: int = EXTRA_OPPORTUNITIES) -> int:
    """Insert `n` opportunities (so that a 200-record batch size needs several pages)."""
    sources.execute(
        "INSERT INTO crm.opportunity SELECT o.* REPLACE ("
        "'006XTRA' || lpad(i::VARCHAR, 11, '0') AS Id, "
        "TIMESTAMP '2024-07-01 00:00:00' + to_seconds(i) AS SystemModstamp) "
        f"FROM (SELECT * FROM crm.opportunity LIMIT 1) o, range({n}) t(i)"
    )
    return sources.execute("SELECT count(*) FROM crm.opportunity")[0][0]


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def world_query(world_dir: Path, sql: str) -> list[tuple]:
    return query(world_dir / "world.duckdb", sql)


def counts(path: Path) -> dict[str, int]:
    """Row count of every API raw table in the warehouse."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in WORLD_TABLE}


def world_counts(world_dir: Path) -> dict[str, int]:
    with duckdb.connect(str(world_dir / "world.duckdb"), read_only=True) as con:
        return {
            raw: con.execute(f"SELECT count(*) FROM {w}").fetchall()[0][0]
            for raw, w in WORLD_TABLE.items()
        }


def watermarks(path: Path) -> dict[tuple[str, str], object]:
    return {
        (s, o): w for s, o, w in query(path, "SELECT source, object, watermark FROM ops.watermarks")
    }


def sync_all(settings, path: Path, source: str | None = None) -> dict[str, SyncResult]:
    return {
        f"{o.source}/{o.object}": sync_object(settings, path, o.source, o.object)
        for o in objects(source)
    }


def differences(path: Path, world_dir: Path, raw: str) -> tuple[int, int]:
    """(rows only in the warehouse, rows only in the world) of one table, every column
    compared after the wire round trip (NetSuite flags as booleans, Salesforce datetimes
    at millisecond precision)."""
    table = ALL_TABLES[raw]
    world_cols, raw_cols = [], []
    for col, typ in table.columns.items():
        q = f'"{col}"'
        if raw.startswith("raw_erp.") and typ == "BOOLEAN":
            world_cols.append(f"({q} = 'T')")
        elif raw.startswith("raw_crm.") and typ == "TIMESTAMP":
            world_cols.append(f"date_trunc('millisecond', {q})")
        else:
            world_cols.append(q)
        raw_cols.append(q)
    w_sel = ", ".join(world_cols)
    r_sel = ", ".join(raw_cols)
    with duckdb.connect(str(path), read_only=True) as con:
        world = str(world_dir / "world.duckdb").replace("'", "''")
        con.execute(f"ATTACH '{world}' AS world (READ_ONLY)")
        only_raw = con.execute(
            f"SELECT count(*) FROM (SELECT {r_sel} FROM {raw} "
            f"EXCEPT ALL SELECT {w_sel} FROM world.{WORLD_TABLE[raw]})"
        ).fetchall()[0][0]
        only_world = con.execute(
            f"SELECT count(*) FROM (SELECT {w_sel} FROM world.{WORLD_TABLE[raw]} "
            f"EXCEPT ALL SELECT {r_sel} FROM {raw})"
        ).fetchall()[0][0]
    return only_raw, only_world


def raw_rows(path: Path, raw: str) -> list[tuple]:
    """Every row of a raw table, its source columns only (no load metadata), sorted."""
    cols = ", ".join(f'"{c}"' for c in ALL_TABLES[raw].columns)
    return query(path, f"SELECT {cols} FROM {raw} ORDER BY ALL")


def pos_csv_rows(landing: Path) -> tuple[int, int]:
    """(files, data rows) of the CSV files in a landing folder."""
    files = rows = 0
    for path in sorted(landing.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            files += 1
            with path.open(encoding="utf-8-sig", newline="") as fh:
                rows += sum(1 for r in list(csv.reader(fh))[1:] if r)
    return files, rows


def settings_for(sources, tmp_path: Path, **changes: object):
    """Settings pointing at running stand-ins, with tiny backoffs and small pages, and
    `changes`; CRM objects read through REST without asking their record counts (the tests
    that count API calls count REST's: test_conn_salesforce_bulk.py sets Bulk up)."""
    from connectors.config import Settings

    return Settings.from_env(sources.env()).replace(
        **{
            "http": dataclasses.asdict(FAST_HTTP),
            "warehouse": tmp_path / "warehouse.duckdb",
            "spool_dir": tmp_path / "spool",
            "crm_bulk_min_records": 0,
            "crm_batch_size": 200,
            "erp_page_size": 250,
            "erp_query_row_cap": 1000,
            "portal_page_size": 50,
            **changes,
        }
    )
