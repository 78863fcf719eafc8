"""End-to-end syncs against the stand-in servers on loopback: full, incremental, mutations."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import duckdb
import pytest
from conn_world import (
    API_OBJECTS,
    WORLD_TABLE,
    counts,
    differences,
    pos_csv_rows,
    query,
    sync_all,
    watermarks,
    world_counts,
    world_query,
)

from connectors.schema import ALL_TABLES
from connectors.sync import REGISTRY, sync_object, sync_objects


def test_full_sync_lands_exactly_the_world(sources, settings, world_dir):
    results = sync_all(settings, settings.warehouse)
    assert set(results) == {f"{s}/{o}" for s, o in REGISTRY}
    expected = world_counts(world_dir)
    assert counts(settings.warehouse) == expected
    # every value survives the wire and the typing
    for raw in WORLD_TABLE:
        assert differences(settings.warehouse, world_dir, raw) == (0, 0), raw
    for obj in API_OBJECTS:
        result = results[f"{obj.source}/{obj.object}"]
        main = obj.raw_tables[0]
        assert result.rows_read == result.rows_merged == expected[main], obj
        assert result.watermark_before is None
        assert result.pages >= 1
    # multi-page and multi-window reads happened (small pages and a small query cap)
    assert results["crm/opportunities"].pages == -(-expected["raw_crm.opportunity"] // 200)
    lines = results["erp/transaction_lines"]
    assert lines.details["windows"] == expected["raw_erp.transactionline"] // 1000 + 1
    # watermarks are the largest landed modification stamps
    marks = watermarks(settings.warehouse)
    top = world_query(world_dir, "SELECT max(lastmodifieddate) FROM erp.transactionline")[0][0]
    assert marks[("erp", "transaction_lines")] == top
    assert ("erp", "currencies") not in marks  # read whole: no mark
    # POS files: every row is either loaded or quarantined
    pos = results["pos/pos_reports"]
    files, rows = pos_csv_rows(sources.landing_dir)
    assert pos.rows_read == rows == pos.rows_merged + pos.rows_quarantined
    assert pos.details["files_seen"] == files
    runs = query(settings.warehouse, "SELECT status, count(*) FROM ops.sync_runs GROUP BY ALL")
    assert runs == [("succeeded", len(REGISTRY))]


def _rows_at_mark(world_dir, obj, mark: datetime) -> int:
    """World rows an incremental read from `mark` returns (its `>=` at the wire precision)."""
    table = ALL_TABLES[obj.raw_tables[0]]
    if not table.watermark:
        return world_query(world_dir, f"SELECT count(*) FROM {WORLD_TABLE[table.qualified_name]}")[
            0
        ][0]
    floor = mark.replace(microsecond=0)
    return world_query(
        world_dir,
        f"SELECT count(*) FROM {WORLD_TABLE[table.qualified_name]} "
        f"WHERE {table.watermark} >= TIMESTAMP '{floor}'",
    )[0][0]


def test_second_sync_reads_only_rows_at_the_watermark(sources, settings, world_dir):
    sync_all(settings, settings.warehouse)
    before_counts = counts(settings.warehouse)
    before_marks = watermarks(settings.warehouse)
    second = sync_all(settings, settings.warehouse)
    for obj in API_OBJECTS:
        result = second[f"{obj.source}/{obj.object}"]
        mark = before_marks.get((obj.source, obj.object))
        expected = _rows_at_mark(world_dir, obj, mark) if mark else result.rows_read
        assert result.rows_read == expected, obj.object
        assert result.watermark_before == result.watermark_after == mark
    assert counts(settings.warehouse) == before_counts  # nothing duplicated
    assert watermarks(settings.warehouse) == before_marks
    pos = second["pos/pos_reports"]
    assert pos.rows_read == 0 and pos.details["files_unchanged"] == pos.details["files_seen"]


def test_world_mutations_are_picked_up_incrementally(sources, settings, world_dir):
    sync_all(settings, settings.warehouse)
    before = counts(settings.warehouse)
    later = datetime(2024, 7, 1, 9, 30)
    opp = world_query(world_dir, "SELECT min(Id) FROM crm.opportunity")[0][0]
    sources.execute(
        f"UPDATE crm.opportunity SET Amount = 4242.5, SystemModstamp = TIMESTAMP '{later}' "
        f"WHERE Id = '{opp}'"
    )
    sources.execute(
        "INSERT INTO crm.opportunity SELECT * REPLACE ('006NEWOPPORTUNITY1' AS Id, "
        f"TIMESTAMP '{later}' AS SystemModstamp) FROM crm.opportunity WHERE Id = '{opp}'"
    )
    tx, line = world_query(
        world_dir,
        "SELECT transaction, id FROM erp.transactionline "
        "ORDER BY transaction DESC, id DESC LIMIT 1",
    )[0]
    sources.execute(
        f"UPDATE erp.transactionline SET netamount = 999.5, lastmodifieddate = TIMESTAMP '{later}' "
        f"WHERE transaction = {tx} AND id = {line}"
    )
    report, n_lines = world_query(
        world_dir,
        "SELECT report_id, count(*) FROM portal.sales_report_lines GROUP BY 1 "
        "HAVING count(*) > 1 ORDER BY 1 LIMIT 1",
    )[0]
    sources.execute(
        f"UPDATE portal.sales_reports SET status = 'withdrawn', updated_at = TIMESTAMP '{later}' "
        f"WHERE id = '{report}'"
    )
    sources.execute(
        f"DELETE FROM portal.sales_report_lines WHERE report_id = '{report}' AND line_no = "
        f"(SELECT max(line_no) FROM portal.sales_report_lines WHERE report_id = '{report}')"
    )

    def live_count(sql: str) -> int:  # on the servers' (mutated) world
        return sources.execute(sql)[0][0]

    marks = watermarks(settings.warehouse)
    opps = sync_object(settings, settings.warehouse, "crm", "opportunities")
    old = marks[("crm", "opportunities")].replace(microsecond=0)
    assert opps.rows_read == live_count(
        f"SELECT count(*) FROM crm.opportunity WHERE SystemModstamp >= TIMESTAMP '{old}'"
    )
    assert opps.rows_read >= 2 and opps.watermark_after == later
    lines = sync_object(settings, settings.warehouse, "erp", "transaction_lines")
    old = marks[("erp", "transaction_lines")]
    assert lines.rows_read == live_count(
        f"SELECT count(*) FROM erp.transactionline WHERE lastmodifieddate >= TIMESTAMP '{old}'"
    )
    assert lines.watermark_after == later
    reports = sync_object(settings, settings.warehouse, "portal", "sales_reports")
    old = marks[("portal", "sales_reports")].replace(microsecond=0)
    assert reports.rows_read == live_count(
        f"SELECT count(*) FROM portal.sales_reports WHERE updated_at >= TIMESTAMP '{old}'"
    )
    assert reports.watermark_after == later

    wh = settings.warehouse
    assert query(
        wh, f"SELECT amount, systemmodstamp FROM raw_crm.opportunity WHERE id = '{opp}'"
    ) == [(4242.5, later)]
    assert query(
        wh, "SELECT count(*) FROM raw_crm.opportunity WHERE id = '006NEWOPPORTUNITY1'"
    ) == [(1,)]
    assert query(
        wh,
        f"SELECT netamount FROM raw_erp.transactionline WHERE transaction = {tx} AND id = {line}",
    ) == [(999.5,)]
    assert query(wh, f"SELECT status FROM raw_portal.sales_reports WHERE id = '{report}'") == [
        ("withdrawn",)
    ]
    assert query(
        wh, f"SELECT count(*) FROM raw_portal.sales_report_lines WHERE report_id = '{report}'"
    ) == [(n_lines - 1,)]
    after = counts(wh)
    assert after["raw_crm.opportunity"] == before["raw_crm.opportunity"] + 1
    assert after["raw_portal.sales_report_lines"] == before["raw_portal.sales_report_lines"] - 1
    assert after["raw_erp.transactionline"] == before["raw_erp.transactionline"]


def test_incremental_window_reads_and_concurrent_windows(sources, settings, world_dir):
    """A ERP sync in windows fetched two at a time lands the same rows as one query."""
    concurrent = settings.replace(erp_window_workers=2, erp_query_row_cap=700, erp_page_size=100)
    result = sync_object(concurrent, settings.warehouse, "erp", "transaction_lines")
    assert result.details["windows"] > 2
    assert differences(settings.warehouse, world_dir, "raw_erp.transactionline") == (0, 0)
    # an incremental read from an old mark crosses windows too
    mark = world_query(
        world_dir, "SELECT quantile_disc(lastmodifieddate, 0.5) FROM erp.transactionline"
    )[0][0]
    with_mark = concurrent.replace(
        incremental_lookback_s=(result.watermark_after - mark).total_seconds()
    )
    again = sync_object(with_mark, settings.warehouse, "erp", "transaction_lines")
    expected = world_query(
        world_dir,
        f"SELECT count(*) FROM erp.transactionline WHERE lastmodifieddate >= TIMESTAMP '{mark}'",
    )[0][0]
    assert again.rows_read == expected
    assert differences(settings.warehouse, world_dir, "raw_erp.transactionline") == (0, 0)


def test_lookback_rereads_are_harmless(sources, settings, world_dir):
    """Re-reading everything again (a huge lookback) merges without duplicating."""
    sync_all(settings, settings.warehouse, "portal")
    wide = settings.replace(incremental_lookback_s=timedelta(days=3650).total_seconds())
    before = counts(settings.warehouse)
    again = sync_all(wide, settings.warehouse, "portal")
    assert all(r.rows_read == r.rows_merged for r in again.values())
    assert counts(settings.warehouse) == before


BOGUS = datetime(9999, 12, 31)
LATER = datetime(2024, 7, 1, 9, 30)  # after every stamp of the world, before today

# (source, object, world table, key columns, modification stamp, an amount to change)
CLAMP_CASES = [
    ("crm", "opportunities", "crm.opportunity", ("Id",), "SystemModstamp", "Amount"),
    (
        "erp",
        "transaction_lines",
        "erp.transactionline",
        ("transaction", "id"),
        "lastmodifieddate",
        "netamount",
    ),
    ("portal", "business_plans", "portal.business_plans", ("id",), "updated_at", "revenue_target"),
]


def _where(keys, values) -> str:
    return " AND ".join(
        f"{k} = '{v}'" if isinstance(v, str) else f"{k} = {v}"
        for k, v in zip(keys, values, strict=True)
    )


@pytest.mark.parametrize(
    ("source", "object_name", "table", "keys", "stamp", "amount"),
    CLAMP_CASES,
    ids=[case[0] for case in CLAMP_CASES],
)
def test_a_record_stamped_9999_does_not_freeze_the_watermark(
    sources, settings, caplog, source, object_name, table, keys, stamp, amount
):
    """Hostile input: a record modified "at 9999-12-31" lands, the mark stays at or before the
    sync's start, the clamp is reported, and later changes are still picked up."""
    wh = settings.warehouse
    raw = REGISTRY[(source, object_name)].raw_tables[0]
    raw_keys = [k.lower() for k in keys]
    cols = ", ".join(keys)
    bogus, changed = sources.execute(f"SELECT {cols} FROM {table} ORDER BY {cols} LIMIT 2")
    sources.execute(f"UPDATE {table} SET {stamp} = TIMESTAMP '{BOGUS}' WHERE {_where(keys, bogus)}")
    legit = sources.execute(f"SELECT max({stamp}) FROM {table} WHERE {stamp} < TIMESTAMP '{BOGUS}'")
    top = datetime.fromisoformat(legit[0][0])  # the world's rows come back as JSON values

    with caplog.at_level(logging.WARNING, logger="partnerpulse.connectors.sync"):
        first = sync_object(settings, wh, source, object_name)
    run = f"FROM ops.sync_runs WHERE sync_id = '{first.sync_id}'"
    ((started,),) = query(wh, f"SELECT started_at {run}")
    assert watermarks(wh)[(source, object_name)] == first.watermark_after == top <= started
    assert first.watermark_clamped_from == BOGUS
    assert query(wh, f"SELECT watermark_clamped_from {run}") == [(BOGUS,)]
    assert first.as_metadata()["watermark_clamped_from"] == "9999-12-31T00:00:00"
    assert first.details["rows_past_sync_start"] == 1
    # the record itself is data: it lands as sent
    assert query(wh, f"SELECT {stamp.lower()} FROM {raw} WHERE {_where(raw_keys, bogus)}") == [
        (BOGUS,)
    ]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and f"{source}/{object_name}" in warned[0], warned
    assert "9999-12-31" in warned[0]

    sources.execute(
        f"UPDATE {table} SET {amount} = 4242.5, {stamp} = TIMESTAMP '{LATER}' "
        f"WHERE {_where(keys, changed)}"
    )
    second = sync_object(settings, wh, source, object_name)
    assert query(wh, f"SELECT {amount.lower()} FROM {raw} WHERE {_where(raw_keys, changed)}") == [
        (4242.5,)
    ]
    assert second.watermark_after == LATER and second.watermark_clamped_from == BOGUS


def test_a_mark_stored_past_the_sync_start_is_warned_about(sources, settings, caplog):
    """A mark frozen before marks were bounded only moves forward: the sync says so."""
    wh = settings.warehouse
    sync_object(settings, wh, "crm", "campaigns")
    with duckdb.connect(str(wh)) as con:
        con.execute(f"UPDATE ops.watermarks SET watermark = TIMESTAMP '{BOGUS}'")
    with caplog.at_level(logging.WARNING, logger="partnerpulse.connectors.sync"):
        result = sync_object(settings, wh, "crm", "campaigns")
    assert result.watermark_after == BOGUS and result.rows_read == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "crm/campaigns" in warned[0] and "stored watermark" in warned[0]


def test_a_warehouse_that_cannot_be_opened_fails_every_object_saying_why(settings, tmp_path):
    not_duckdb = tmp_path / "warehouse.duckdb"
    not_duckdb.write_bytes(b"partner sales, not a database\n" * 1000)
    names = ["sales_reports", "trainings"]
    outcomes = sync_objects(settings, not_duckdb, "portal", names)
    assert len(outcomes) == len(names)
    for outcome in outcomes:
        assert isinstance(outcome, duckdb.Error)
        assert str(not_duckdb) in str(outcome)
    assert not_duckdb.read_bytes() == b"partner sales, not a database\n" * 1000
