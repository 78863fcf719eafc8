"""CSV pages (Salesforce Bulk API results) land as the same records' JSON pages do."""

from __future__ import annotations

import dataclasses
import json

import duckdb
import pytest
from test_conn_warehouse import ACCOUNT, account, sf_pages

from connectors.landing import LandingError, land_pages
from connectors.spool import PageSpool
from connectors.sync_runs import commit_sync, start_run
from connectors.warehouse import ensure_warehouse

JSON_LANDING = ACCOUNT.landing()
CSV_LANDING = dataclasses.replace(JSON_LANDING, format="csv")
ROWS = f"SELECT * EXCLUDE (_sync_id, _loaded_at) FROM {ACCOUNT.table.qualified_name} ORDER BY id"


def csv_field(value) -> str:
    """A value as Salesforce's Bulk CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return '"' + str(value).replace('"', '""') + '"'


def csv_page(records: list[dict], fields=ACCOUNT.fields) -> bytes:
    lines = [",".join(csv_field(f) for f in fields)]
    lines += [",".join(csv_field(r[f]) for f in fields) for r in records]
    return ("\n".join(lines) + "\n").encode()


def land(tmp_path, landing, pages: list[tuple[bytes, int]], name: str):
    path = tmp_path / f"{name}.duckdb"
    ensure_warehouse(path)
    run = start_run(path, "crm", "accounts")
    with PageSpool(tmp_path / "spool") as spool:
        suffix = ".csv" if landing.format == "csv" else ".json"
        for body, n in pages:
            spool.add_stream(iter([body[:7], body[7:]]), n, suffix=suffix)
        files, records = spool.files, spool.records
        commit_sync(
            path, run, lambda con: land_pages(con, run, landing, files, rows_expected=records)
        )
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(ROWS).fetchall()


EDGE = [
    account(1, "2024-05-01T13:45:00.000Z", Name='Acme, "Quoted"\nLtd', Industry=""),
    account(2, "2024-05-01T13:45:00.123Z", IsPartner=False, Recruitment_Cost__c=None),
    account(3, "2024-05-02T00:00:00.000Z", Partner_Since__c=None, IsDeleted=True),
    account(4, "2024-05-02T00:00:00.000Z", Name="Ünïcode — ok", Recruitment_Cost__c=1e-7),
]


def as_rest(rec: dict) -> dict:
    """The record as the REST API's JSON has it (datetimes in +0000)."""
    return {
        k: (v.replace("Z", "+0000") if isinstance(v, str) and v.endswith("Z") else v)
        for k, v in rec.items()
    }


def test_csv_and_json_pages_of_the_same_records_land_identical_rows(tmp_path):
    by_json = land(
        tmp_path,
        JSON_LANDING,
        [(b, 2) for b in sf_pages([as_rest(r) for r in EDGE[:2]], [as_rest(r) for r in EDGE[2:]])],
        "json",
    )
    by_csv = land(tmp_path, CSV_LANDING, [(csv_page(EDGE[:2]), 2), (csv_page(EDGE[2:]), 2)], "csv")
    assert by_csv == by_json
    first = dict(zip(ACCOUNT.table.columns, by_csv[0], strict=True))
    assert first["name"] == 'Acme, "Quoted"\nLtd' and first["industry"] == ""
    assert by_csv[1][list(ACCOUNT.table.columns).index("recruitment_cost__c")] is None
    assert by_csv[1][list(ACCOUNT.table.columns).index("systemmodstamp")].microsecond == 123000


def test_the_header_names_the_columns_in_any_order_and_case(tmp_path):
    fields = tuple(reversed([f.upper() for f in ACCOUNT.fields]))
    rec = {f.upper(): v for f, v in EDGE[0].items()}
    by_csv = land(tmp_path, CSV_LANDING, [(csv_page([rec], fields), 1)], "csv")
    by_json = land(tmp_path, JSON_LANDING, [(sf_pages([as_rest(EDGE[0])])[0], 1)], "json")
    assert by_csv == by_json


def test_a_header_lacking_a_field_is_refused(tmp_path):
    fields = tuple(f for f in ACCOUNT.fields if f != "Industry")
    with pytest.raises(LandingError, match=r"the CSV header lacks \['Industry'\]"):
        land(tmp_path, CSV_LANDING, [(csv_page(EDGE[:1], fields), 1)], "csv")


def test_pages_with_another_header_are_refused(tmp_path):
    other = tuple(reversed(ACCOUNT.fields))
    pages = [(csv_page(EDGE[:1]), 1), (csv_page(EDGE[1:2], other), 1)]
    with pytest.raises(LandingError, match="header differs from the first page's"):
        land(tmp_path, CSV_LANDING, pages, "csv")


def test_an_unparseable_value_names_its_record_and_page(tmp_path):
    bad = dict(EDGE[0], IsPartner="maybe")
    with pytest.raises(
        LandingError, match=r"ispartner = 'maybe' is not a valid BOOLEAN.*b?-0+1\.csv"
    ):
        land(tmp_path, CSV_LANDING, [(csv_page([bad]), 1)], "csv")


def test_fewer_records_than_announced_is_refused(tmp_path):
    with pytest.raises(LandingError, match="staged 1 records but the pages held 2"):
        land(tmp_path, CSV_LANDING, [(csv_page(EDGE[:1]), 2)], "csv")


def test_no_pages_land_nothing(tmp_path):
    assert land(tmp_path, CSV_LANDING, [], "csv") == []


def test_the_spool_keeps_csv_and_json_pages_in_read_order(tmp_path):
    with PageSpool(tmp_path) as spool:
        spool.add(json.dumps({"records": []}).encode(), 0)
        spool.add_stream([b"a", b"b"], 0, suffix=".csv")
        assert [p.suffix for p in spool.files] == [".json", ".csv"]
        assert spool.bytes == len(b'{"records": []}') + 2 and spool.pages == 2
        with pytest.raises(ValueError, match="not '.txt'"):
            spool.add_stream([b"x"], 1, suffix=".txt")
