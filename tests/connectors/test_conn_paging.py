"""Paging rules of each connector against scripted responses (envelopes, cursors, caps)."""

from __future__ import annotations

import json
import pickle

import pytest
from conn_http_stub import Reply

from connectors import netsuite, partner_portal, salesforce
from connectors.config import Secret, Settings
from connectors.http import SourceError
from connectors.landing import LandingError
from connectors.spool import PageSpool

# -- Salesforce -----------------------------------------------------------------------------

ACCOUNT = salesforce.OBJECTS["account"]
QUERY_ALL = "/services/data/v61.0/queryAll"


def sf_settings(stub, fast_http) -> Settings:
    return Settings(
        crm_url=stub.url,
        crm_client_id="id",
        crm_client_secret=Secret("client-secret-value"),
        http=fast_http,
    )


def sf_token(stub, instance: str | None = None) -> None:
    stub.add(
        "/services/oauth2/token",
        Reply(200, {"access_token": "00Dtok", "instance_url": instance or stub.url}),
    )


def acc(i: int) -> dict:
    rec = {f: None for f in ACCOUNT.fields}
    rec.update(Id=f"001{i:015d}", SystemModstamp="2024-05-01T00:00:00.000+0000")
    return rec


def test_salesforce_follows_next_records_url_exactly(stub, fast_http):
    sf_token(stub)
    stub.add(
        QUERY_ALL,
        Reply(
            200,
            {
                "totalSize": 3,
                "done": False,
                "records": [acc(1), acc(2)],
                "nextRecordsUrl": f"{stub.url}/elsewhere/01gABC-2",
            },
        ),
    )
    stub.add("/elsewhere/01gABC-2", Reply(200, {"totalSize": 3, "done": True, "records": [acc(3)]}))
    client = salesforce.SalesforceClient(sf_settings(stub, fast_http))
    with PageSpool() as spool:
        got = salesforce.fetch_object(client, ACCOUNT, None, spool)
        assert (got.pages, got.records, spool.records) == (2, 3, 3)
    first = stub.requests_to(QUERY_ALL)[0]
    assert first.headers["sforce-query-options"] == "batchSize=2000"
    assert first.headers["authorization"] == "Bearer 00Dtok"
    assert first.query["q"][0] == salesforce.build_soql(ACCOUNT, None)


def test_salesforce_never_sends_its_token_to_another_host(stub, other_host, fast_http):
    sf_token(stub)
    page = {"totalSize": 3, "done": False, "records": [acc(1), acc(2)]}
    stub.add(QUERY_ALL, Reply(200, {**page, "nextRecordsUrl": f"{other_host.url}/steal/01g-2"}))
    other_host.default("/steal/01g-2", Reply(200, {"totalSize": 3, "done": True, "records": []}))
    client = salesforce.SalesforceClient(sf_settings(stub, fast_http))
    with PageSpool() as spool, pytest.raises(SourceError) as info:
        salesforce.fetch_object(client, ACCOUNT, None, spool)
    assert "leaves the org's host 127.0.0.1: not followed" in str(info.value)
    assert other_host.seen == []


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        ([{"totalSize": 3, "done": True, "records": [acc(1), acc(2)]}], "totalSize is 3"),
        ([{"totalSize": 2, "done": False, "records": [acc(1)]}], "no nextRecordsUrl"),
        ([{"totalSize": 1, "done": True}], "no records list"),
        ([{"done": True, "records": []}], "no totalSize"),
        ([{"totalSize": 1, "done": True, "records": [{"Id": "001"}]}], "lacks"),
    ],
)
def test_salesforce_malformed_pages_are_hard_errors(stub, fast_http, pages, message):
    sf_token(stub)
    stub.add(QUERY_ALL, *[Reply(200, p) for p in pages])
    client = salesforce.SalesforceClient(sf_settings(stub, fast_http))
    with PageSpool() as spool, pytest.raises(SourceError, match=message) as info:
        salesforce.fetch_object(client, ACCOUNT, None, spool)
    assert info.value.system == "crm"


def test_salesforce_instance_url_is_used_for_queries(stub, fast_http):
    other = stub.url.replace("127.0.0.1", "localhost")
    sf_token(stub, instance=other)
    stub.add(QUERY_ALL, Reply(200, {"totalSize": 0, "done": True, "records": []}))
    client = salesforce.SalesforceClient(sf_settings(stub, fast_http))
    with PageSpool() as spool:
        salesforce.fetch_object(client, ACCOUNT, None, spool)
    assert stub.requests_to(QUERY_ALL)[0].headers["host"].startswith("localhost:")


# -- NetSuite -------------------------------------------------------------------------------

SUITEQL = "/services/rest/query/v1/suiteql"
LINES = netsuite.TABLES["transactionline"]


def ns_settings(stub, fast_http, **kw) -> Settings:
    return Settings(
        erp_url=stub.url,
        erp_client_id="id",
        erp_client_secret=Secret("client-secret-value"),
        http=fast_http,
        **kw,
    )


def lines(keys: list[tuple[int, int]]) -> list[dict]:
    return [
        {"links": [], "transaction": str(t), "id": str(i), "lastmodifieddate": "5/1/2024 1:45 pm"}
        for t, i in keys
    ]


def page(items, has_more, total=None) -> Reply:
    body = {"links": [], "count": len(items), "hasMore": has_more, "items": items}
    if total is not None:
        body["totalResults"] = total
    return Reply(200, body)


def test_query_cap_is_a_multiple_of_the_page_size():
    assert netsuite.query_cap(Settings()) == 100_000
    assert netsuite.query_cap(Settings(erp_page_size=300)) == 99_900
    assert netsuite.query_cap(Settings(erp_query_row_cap=250_000, erp_page_size=5000)) == 100_000
    assert netsuite.page_size(Settings(erp_page_size=5000)) == 1000


def test_window_continues_after_the_last_key_when_the_cap_is_reached(stub, fast_http):
    stub.add(
        netsuite.TOKEN_PATH, Reply(200, {"access_token": "erp-token-value", "expires_in": 3600})
    )
    stub.add(
        SUITEQL,
        page(lines([(1, 1), (1, 2)]), True, 5),
        page(lines([(2, 1), (3, 7)]), True, 5),
        page(lines([(4, 1)]), False, 1),
    )
    client = netsuite.NetSuiteClient(
        ns_settings(stub, fast_http, erp_page_size=2, erp_query_row_cap=4)
    )
    with PageSpool() as spool:
        result = netsuite.fetch_window(client, LINES, None, netsuite.Window(), spool)
        assert (result.rows, result.pages, result.queries) == (5, 3, 2)
    sent = stub.requests_to(SUITEQL)
    assert [(s.query["limit"][0], s.query["offset"][0]) for s in sent] == [
        ("2", "0"),
        ("2", "2"),
        ("2", "0"),
    ]
    assert all(s.headers["prefer"] == "transient" for s in sent)
    second_query = json.loads(sent[2].body)["q"]
    assert "((transaction > 3) OR (transaction = 3 AND id > 7))" in second_query


def test_window_bounds_come_from_one_row_probes(stub, fast_http):
    stub.add(netsuite.TOKEN_PATH, Reply(200, {"access_token": "erp-token-value"}))
    stub.add(SUITEQL, page(lines([(3, 2)]), True), page(lines([(9, 1)]), True), page([], False))
    client = netsuite.NetSuiteClient(
        ns_settings(stub, fast_http, erp_page_size=10, erp_query_row_cap=50)
    )
    windows = netsuite.list_windows(client, LINES, None)
    assert windows == [
        netsuite.Window(None, (3, 2)),
        netsuite.Window((3, 2), (9, 1)),
        netsuite.Window((9, 1), None),
    ]
    sent = stub.requests_to(SUITEQL)
    assert {(s.query["limit"][0], s.query["offset"][0]) for s in sent} == {("1", "49")}
    assert json.loads(sent[0].body)["q"] == (
        "SELECT transaction, id FROM transactionline ORDER BY transaction, id"
    )


@pytest.mark.parametrize(
    ("replies", "message"),
    [
        ([page(lines([(1, 1)]), True)], "page cut short"),
        ([page(lines([(1, 1), (1, 2)]), False, 3)], "totalResults is 3"),
        ([Reply(200, {"hasMore": False})], "no items list"),
        ([Reply(200, {"items": []})], "no hasMore"),
        ([Reply(200, {"hasMore": False, "count": 2, "items": lines([(1, 1)])})], "count 2"),
        ([page([{"transaction": "x", "id": "1"}, {"id": "2"}], False)], "no numeric key"),
    ],
)
def test_netsuite_malformed_pages_are_hard_errors(stub, fast_http, replies, message):
    stub.add(netsuite.TOKEN_PATH, Reply(200, {"access_token": "erp-token-value"}))
    stub.add(SUITEQL, *replies)
    client = netsuite.NetSuiteClient(ns_settings(stub, fast_http, erp_page_size=2))
    with PageSpool() as spool, pytest.raises(SourceError, match=message) as info:
        netsuite.fetch_window(client, LINES, None, netsuite.Window(), spool)
    assert info.value.system == "erp" and "/services/rest/query/v1/suiteql" in info.value.endpoint


# -- Portal ---------------------------------------------------------------------------------


def portal_client(stub, fast_http) -> partner_portal.PortalClient:
    return partner_portal.PortalClient(
        Settings(portal_url=stub.url, portal_api_key=Secret("portal-key-value"), http=fast_http)
    )


def test_portal_cursor_paging(stub, fast_http):
    path = "/api/v2/trainings"
    stub.add(
        path,
        Reply(200, {"data": [{"id": "a"}], "has_more": True, "next_cursor": "c1"}),
        Reply(200, {"data": [{"id": "b"}], "has_more": False, "next_cursor": None}),
    )
    client = portal_client(stub, fast_http)
    from datetime import datetime

    res = partner_portal.RESOURCES["trainings"]
    with PageSpool() as spool:
        got = partner_portal.fetch_resource(client, res, datetime(2024, 5, 1, 1, 2, 3, 4), spool)
        assert (got.pages, got.records) == (2, 2)
    first, second = stub.requests_to(path)
    assert first.query == {"limit": ["500"], "updated_since": ["2024-05-01T01:02:03Z"]}
    assert (
        second.query["starting_after"] == ["c1"]
        and first.headers["x-api-key"] == "portal-key-value"
    )


@pytest.mark.parametrize(
    "bodies",
    [
        [{"data": [], "has_more": True, "next_cursor": None}],
        [{"data": [], "has_more": True, "next_cursor": "c"}] * 2,
        [{"data": {}, "has_more": False}],
        [{"data": []}],
    ],
)
def test_portal_malformed_pages_are_hard_errors(stub, fast_http, bodies):
    stub.add("/api/v2/trainings", *[Reply(200, b) for b in bodies])
    client = portal_client(stub, fast_http)
    with PageSpool() as spool, pytest.raises(SourceError, match="malformed body"):
        partner_portal.fetch_resource(client, partner_portal.RESOURCES["trainings"], None, spool)


def test_landing_error_survives_pickling():
    err = LandingError("erp/items (raw_erp.item)", "column cost = 'x' is not a valid DOUBLE")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.object_name == err.object_name
