"""Landing spooled pages into DuckDB: typing, validation, merges, watermarks, atomicity."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import pytest

from connectors import netsuite, partner_portal, salesforce
from connectors.landing import LandingError, land_pages
from connectors.spool import PageSpool
from connectors.sync_runs import commit_sync, read_watermark, record_failure, start_run
from connectors.warehouse import connect, ensure_warehouse, held, utcnow

ACCOUNT = salesforce.OBJECTS["account"]


def account(i: int, modstamp: str, **fields) -> dict:
    rec = {f: None for f in ACCOUNT.fields}
    rec.update(
        attributes={"type": "Account", "url": f"/x/{i}"},
        Id=f"001{i:015d}",
        Name=f"Partner {i}",
        IsPartner=True,
        Recruitment_Cost__c=1000.5 * i,
        Partner_Since__c="2023-01-05",
        CreatedDate="2023-01-01T00:00:00.000+0000",
        SystemModstamp=modstamp,
        IsDeleted=False,
    )
    rec.update(fields)
    return rec


def sf_pages(*pages: list[dict]) -> list[bytes]:
    total = sum(len(p) for p in pages)
    return [
        json.dumps({"totalSize": total, "done": i == len(pages) - 1, "records": p}).encode()
        for i, p in enumerate(pages)
    ]


def land(path, source, obj, landing, pages: list[bytes], counts: list[int] | None = None):
    run = start_run(path, source, obj)
    with PageSpool() as spool:
        for i, body in enumerate(pages):
            key = {"records": "records", "items": "items", "data": "data"}[landing.records_key]
            n = counts[i] if counts else len(json.loads(body)[key])
            spool.add(body, n)
        files, records = spool.files, spool.records
        try:
            return run, commit_sync(
                path,
                run,
                lambda con: land_pages(con, run, landing, files, rows_expected=records),
            )
        except BaseException as exc:
            record_failure(path, run, exc)
            raise


def rows(path, sql):
    with duckdb.connect(str(path)) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def wh(tmp_path):
    return tmp_path / "w.duckdb"


def test_salesforce_pages_land_typed_with_lineage(wh):
    pages = sf_pages(
        [account(1, "2024-05-01T10:00:00.000+0000"), account(2, "2024-05-02T10:00:00.000+0200")],
        [account(3, "2024-05-03T10:00:00.000+0000", Partner_Since__c=None)],
    )
    run, done = land(wh, "crm", "accounts", ACCOUNT.landing(), pages)
    assert (done.landed.rows_read, done.landed.rows_merged) == (3, 3)
    assert done.watermark_after == datetime(2024, 5, 3, 10)
    got = rows(
        wh,
        "SELECT id, ispartner, recruitment_cost__c, partner_since__c, systemmodstamp, _sync_id,"
        " _loaded_at IS NOT NULL FROM raw_crm.account ORDER BY id",
    )
    assert got[1] == (
        "001000000000000002",
        True,
        2001.0,
        datetime(2023, 1, 5).date(),
        datetime(2024, 5, 2, 8),
        run.sync_id,
        True,
    )
    assert got[2][3] is None
    assert rows(wh, "SELECT watermark, sync_id FROM ops.watermarks") == [
        (datetime(2024, 5, 3, 10), run.sync_id)
    ]
    assert rows(
        wh, "SELECT status, rows_read, rows_merged, watermark_before FROM ops.sync_runs"
    ) == [("succeeded", 3, 3, None)]


def test_reread_rows_merge_without_duplicates_and_newest_wins(wh):
    land(
        wh,
        "crm",
        "accounts",
        ACCOUNT.landing(),
        sf_pages(
            [account(1, "2024-05-01T10:00:00.000+0000"), account(2, "2024-05-01T11:00:00.000+0000")]
        ),
    )
    # The same row twice in one sync (re-read across pages) and a changed row.
    pages = sf_pages(
        [account(2, "2024-05-01T11:00:00.000+0000", Name="old")],
        [
            account(2, "2024-05-04T11:00:00.000+0000", Name="new"),
            account(5, "2024-05-02T00:00:00.000+0000"),
        ],
    )
    run, done = land(wh, "crm", "accounts", ACCOUNT.landing(), pages)
    assert (done.landed.rows_read, done.landed.rows_merged) == (3, 2)
    assert rows(wh, "SELECT id, name FROM raw_crm.account ORDER BY id") == [
        ("001000000000000001", "Partner 1"),
        ("001000000000000002", "new"),
        ("001000000000000005", "Partner 5"),
    ]
    assert read_watermark(wh, "crm", "accounts") == datetime(2024, 5, 4, 11)
    assert run.watermark_before == datetime(2024, 5, 1, 11)


def test_watermark_only_moves_forward(wh):
    land(
        wh,
        "crm",
        "accounts",
        ACCOUNT.landing(),
        sf_pages([account(1, "2024-05-09T00:00:00.000+0000")]),
    )
    _, done = land(
        wh,
        "crm",
        "accounts",
        ACCOUNT.landing(),
        sf_pages([account(2, "2024-05-01T00:00:00.000+0000")]),
    )
    assert done.watermark_after == datetime(2024, 5, 9)
    assert read_watermark(wh, "crm", "accounts") == datetime(2024, 5, 9)


def sf_stamp(at: datetime) -> str:
    return f"{at:%Y-%m-%dT%H:%M:%S}.000+0000"


@pytest.mark.parametrize("ahead", ["bogus date", "source clock 2 minutes ahead"])
def test_watermark_never_passes_the_sync_start(wh, ahead):
    future = (
        datetime(9999, 12, 31)
        if ahead == "bogus date"
        else (utcnow() + timedelta(minutes=2)).replace(microsecond=0)
    )
    pages = sf_pages([account(1, sf_stamp(datetime(2024, 5, 1))), account(2, sf_stamp(future))])
    run, done = land(wh, "crm", "accounts", ACCOUNT.landing(), pages)
    # The record lands as sent; only the mark stays at the largest stamp before the start.
    assert rows(wh, "SELECT id, systemmodstamp FROM raw_crm.account ORDER BY id") == [
        ("001000000000000001", datetime(2024, 5, 1)),
        ("001000000000000002", future),
    ]
    assert done.watermark_after == datetime(2024, 5, 1) < run.started_at
    assert done.landed.watermark_clamped_from == future
    assert done.landed.details == {"rows_past_sync_start": 1}
    assert read_watermark(wh, "crm", "accounts") == datetime(2024, 5, 1)
    assert rows(wh, "SELECT watermark_after, watermark_clamped_from FROM ops.sync_runs") == [
        (datetime(2024, 5, 1), future)
    ]
    # Re-read by the next sync (`>=`), alone: the mark neither moves nor passes the start.
    _, again = land(
        wh, "crm", "accounts", ACCOUNT.landing(), sf_pages([account(2, sf_stamp(future))])
    )
    assert again.watermark_after == datetime(2024, 5, 1)
    assert again.landed.watermark_clamped_from == future


def test_a_mark_below_the_sync_start_is_not_reported_as_clamped(wh):
    _, done = land(
        wh,
        "crm",
        "accounts",
        ACCOUNT.landing(),
        sf_pages([account(1, sf_stamp(datetime(2024, 5, 1)))]),
    )
    assert done.landed.watermark_clamped_from is None and done.landed.details == {}
    assert rows(wh, "SELECT watermark_clamped_from FROM ops.sync_runs") == [(None,)]


def test_an_older_warehouse_gains_the_clamp_column(wh):
    with duckdb.connect(str(wh)) as con:
        con.execute("CREATE SCHEMA ops")
        con.execute(
            """CREATE TABLE ops.sync_runs (sync_id VARCHAR PRIMARY KEY, source VARCHAR,
            object VARCHAR, status VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
            duration_s DOUBLE, rows_read BIGINT, rows_merged BIGINT, rows_quarantined BIGINT,
            watermark_before TIMESTAMP, watermark_after TIMESTAMP, error VARCHAR)"""
        )
    pages = sf_pages([account(1, sf_stamp(datetime(9999, 12, 31)))])
    land(wh, "crm", "accounts", ACCOUNT.landing(), pages)
    assert rows(wh, "SELECT watermark_after, watermark_clamped_from FROM ops.sync_runs") == [
        (None, datetime(9999, 12, 31))
    ]


def test_unparseable_value_fails_naming_object_column_and_record(wh):
    land(
        wh,
        "crm",
        "accounts",
        ACCOUNT.landing(),
        sf_pages([account(1, "2024-05-01T00:00:00.000+0000")]),
    )
    bad = sf_pages(
        [
            account(2, "2024-05-02T00:00:00.000+0000"),
            account(3, "2024-05-03T00:00:00.000+0000", Partner_Since__c="05/01/2023"),
        ]
    )
    with pytest.raises(LandingError) as info:
        land(wh, "crm", "accounts", ACCOUNT.landing(), bad)
    text = str(info.value)
    assert "crm/accounts" in text and "partner_since__c" in text and "05/01/2023" in text
    assert "001000000000000003" in text
    # Nothing of the failed sync is committed; its failure is recorded.
    assert rows(wh, "SELECT count(*) FROM raw_crm.account") == [(1,)]
    assert read_watermark(wh, "crm", "accounts") == datetime(2024, 5, 1)
    assert rows(wh, "SELECT status FROM ops.sync_runs ORDER BY started_at") == [
        ("succeeded",),
        ("failed",),
    ]
    assert (
        "partner_since__c"
        in rows(wh, "SELECT error FROM ops.sync_runs WHERE status = 'failed'")[0][0]
    )


@pytest.mark.parametrize("missing", ["Id", "SystemModstamp"])
def test_missing_key_or_watermark_is_a_hard_error(wh, missing):
    bad = sf_pages(
        [
            account(1, "2024-05-01T00:00:00.000+0000"),
            account(2, "2024-05-02T00:00:00.000+0000", **{missing: None}),
        ]
    )
    with pytest.raises(LandingError, match=f"required field {missing.lower()} is missing"):
        land(wh, "crm", "accounts", ACCOUNT.landing(), bad)
    assert rows(wh, "SELECT count(*) FROM raw_crm.account") == [(0,)]


def test_record_count_mismatch_is_a_hard_error(wh):
    with pytest.raises(LandingError, match="staged 1 records but the pages held 2"):
        land(
            wh,
            "crm",
            "accounts",
            ACCOUNT.landing(),
            sf_pages([account(1, "2024-05-01T00:00:00.000+0000")]),
            counts=[2],
        )


def test_netsuite_strings_with_omitted_nulls(wh):
    table = netsuite.TABLES["transactionline"]
    items = [
        {
            "links": [],
            "transaction": "7",
            "id": "1",
            "linesequencenumber": "1",
            "item": "3",
            "quantity": "2",
            "rate": ".5",
            "netamount": "1",
            "mainline": "F",
            "taxline": "F",
            "lastmodifieddate": "5/1/2024 1:45 pm",
        },
        {
            "links": [],
            "transaction": "7",
            "id": "0",
            "mainline": "T",
            "taxline": "F",
            "netamount": "-.25",
            "lastmodifieddate": "5/2/2024 12:05 am",
        },
    ]
    body = json.dumps({"links": [], "count": 2, "hasMore": False, "items": items}).encode()
    _, done = land(wh, "erp", "transaction_lines", netsuite.landing(table), [body])
    assert done.watermark_after == datetime(2024, 5, 2, 0, 5)
    assert rows(
        wh,
        "SELECT transaction, id, item, rate, netamount, mainline, quantity "
        "FROM raw_erp.transactionline ORDER BY id",
    ) == [
        (7, 0, None, None, -0.25, True, None),
        (7, 1, 3, 0.5, 1.0, False, 2.0),
    ]


def test_netsuite_table_without_watermark_keeps_no_mark(wh):
    table = netsuite.TABLES["currency"]
    body = json.dumps({"hasMore": False, "items": [{"id": "1", "symbol": "USD"}]}).encode()
    _, done = land(wh, "erp", "currencies", netsuite.landing(table), [body])
    assert done.watermark_after is None and done.landed.rows_merged == 1
    assert rows(wh, "SELECT count(*) FROM ops.watermarks") == [(0,)]


def test_empty_sync_lands_nothing_and_keeps_the_mark(wh):
    land(
        wh,
        "crm",
        "accounts",
        ACCOUNT.landing(),
        sf_pages([account(1, "2024-05-01T00:00:00.000+0000")]),
    )
    _, done = land(wh, "crm", "accounts", ACCOUNT.landing(), sf_pages([]))
    assert (done.landed.rows_read, done.landed.rows_merged) == (0, 0)
    assert done.watermark_after == datetime(2024, 5, 1)


def report(rid: str, updated: str, lines: list[dict] | None, **fields) -> dict:
    rec = {
        "id": rid,
        "partner_id": "001P",
        "period": "2024-05",
        "revision": 1,
        "status": "submitted",
        "currency": "EUR",
        "submitted_at": "2024-06-01T08:00:00Z",
        "updated_at": updated,
    }
    if lines is not None:
        rec["lines"] = lines
    rec.update(fields)
    return rec


def line(n: int, qty=1, amount=10.0) -> dict:
    return {
        "line_no": n,
        "sku": f"SKU-{n}",
        "quantity": qty,
        "amount": amount,
        "end_customer": None,
        "invoice_ref": None,
        "sold_on": "2024-05-03",
    }


def portal_page(*records) -> bytes:
    return json.dumps({"data": list(records), "has_more": False, "next_cursor": None}).encode()


def test_sales_report_lines_of_a_relanded_report_replace_its_old_lines(wh):
    landing = partner_portal.RESOURCES["sales_reports"].landing()
    land(
        wh,
        "portal",
        "sales_reports",
        landing,
        [
            portal_page(
                report("r1", "2024-06-01T08:00:00Z", [line(1), line(2), line(3)]),
                report("r2", "2024-06-01T09:00:00Z", [line(1)]),
            )
        ],
    )
    assert rows(wh, "SELECT count(*) FROM raw_portal.sales_report_lines") == [(4,)]
    _, done = land(
        wh,
        "portal",
        "sales_reports",
        landing,
        [
            portal_page(
                report(
                    "r1", "2024-06-05T08:00:00Z", [line(1, qty=-2, amount=-20.0)], status="restated"
                ),
                report("r2", "2024-06-05T09:00:00Z", []),
            )
        ],
    )
    assert done.landed.details == {"sales_report_lines_merged": 1}
    assert rows(
        wh,
        "SELECT report_id, line_no, quantity, amount, sold_on FROM raw_portal.sales_report_lines",
    ) == [("r1", 1, -2.0, -20.0, datetime(2024, 5, 3).date())]
    assert rows(wh, "SELECT id, status, revision FROM raw_portal.sales_reports ORDER BY id") == [
        ("r1", "restated", 1),
        ("r2", "submitted", 1),
    ]


def test_bad_child_value_names_the_line(wh):
    landing = partner_portal.RESOURCES["sales_reports"].landing()
    bad = report("r1", "2024-06-01T08:00:00Z", [line(1), line(2, qty="two")])
    with pytest.raises(LandingError) as info:
        land(wh, "portal", "sales_reports", landing, [portal_page(bad)])
    assert "quantity" in str(info.value) and "'two'" in str(info.value)
    assert "'report_id': 'r1'" in str(info.value) and "'line_no': '2'" in str(info.value)
    assert rows(wh, "SELECT count(*) FROM raw_portal.sales_reports") == [(0,)]


def test_error_inside_the_transaction_rolls_everything_back(wh):
    ensure_warehouse(wh)
    run = start_run(wh, "crm", "accounts")

    def work(con):
        con.execute(
            "INSERT INTO raw_crm.account (id, systemmodstamp) VALUES ('x', now()::TIMESTAMP)"
        )
        raise RuntimeError("boom half-way")

    with pytest.raises(RuntimeError):
        commit_sync(wh, run, work)
    assert rows(wh, "SELECT count(*) FROM raw_crm.account") == [(0,)]
    assert rows(wh, "SELECT count(*) FROM ops.sync_runs") == [(0,)]


def test_read_watermark_of_a_missing_warehouse_creates_nothing(tmp_path):
    path = tmp_path / "none.duckdb"
    assert read_watermark(path, "crm", "accounts") is None
    assert not path.exists()


def test_a_held_warehouse_is_shared_by_its_connections_and_its_schema_made_once(wh):
    ensure_warehouse(wh)
    with held(wh):
        # One database open for writing, shared by this process's connections: DuckDB
        # refuses a read-only one to it.
        with pytest.raises(duckdb.ConnectionException, match="different configuration"):
            duckdb.connect(str(wh), read_only=True)
        with connect(wh) as con:
            con.execute("DROP TABLE raw_portal.trainings")
        with connect(wh) as con:  # the schema statements ran when the hold began, not now
            assert not con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'trainings'"
            ).fetchall()[0][0]
        with held(wh):  # holds nest
            pass
        with pytest.raises(duckdb.ConnectionException, match="different configuration"):
            duckdb.connect(str(wh), read_only=True)
    # Released: the file is closed, and the next connection makes the schema again.
    duckdb.connect(str(wh), read_only=True).close()
    with connect(wh) as con:
        assert con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'trainings'"
        ).fetchall()[0][0]


def test_a_file_that_cannot_be_opened_is_not_held_and_its_connections_say_why(tmp_path):
    not_duckdb = tmp_path / "warehouse.duckdb"
    not_duckdb.write_bytes(b"partner sales, not a database\n" * 1000)
    with (
        held(not_duckdb),
        pytest.raises(duckdb.IOException, match="not a valid DuckDB database file"),
        connect(not_duckdb),
    ):
        pass
    assert not_duckdb.read_bytes() == b"partner sales, not a database\n" * 1000
