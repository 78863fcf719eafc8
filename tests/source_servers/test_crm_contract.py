"""The stand-in CRM speaks the Salesforce REST API (v61.0) as the source contract describes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import urlsplit

import pytest
import requests

from source_servers.runtime import RunningSources

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
OPP_FIELDS = "Id, Name, Amount, IsWon, Partner_Role__c, CloseDate, SystemModstamp, IsDeleted"
ORDER = "ORDER BY SystemModstamp ASC, Id ASC"


def soql(
    http: requests.Session,
    token: str,
    instance: str,
    q: str,
    *,
    all_rows: bool = True,
    batch: str | None = None,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if batch is not None:
        headers["Sforce-Query-Options"] = batch
    endpoint = "queryAll" if all_rows else "query"
    return http.get(
        f"{instance}/services/data/v61.0/{endpoint}", params={"q": q}, headers=headers, timeout=30
    )


def fetch_all(
    http: requests.Session,
    token: str,
    instance: str,
    q: str,
    *,
    all_rows: bool = True,
    batch: str | None = None,
) -> tuple[list[dict], list[int], int]:
    """(records, page sizes, totalSize) following nextRecordsUrl until done."""
    r = soql(http, token, instance, q, all_rows=all_rows, batch=batch)
    assert r.status_code == 200, r.text
    body = r.json()
    total = body["totalSize"]
    records, sizes = list(body["records"]), [len(body["records"])]
    while not body["done"]:
        assert body["nextRecordsUrl"].startswith("/services/data/v61.0/query/01g")
        headers = {"Authorization": f"Bearer {token}"}
        if batch is not None:
            headers["Sforce-Query-Options"] = batch
        r = http.get(f"{instance}{body['nextRecordsUrl']}", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["totalSize"] == total
        records += body["records"]
        sizes.append(len(body["records"]))
    assert "nextRecordsUrl" not in body
    return records, sizes, total


def add_opportunities(sources: RunningSources, n: int) -> None:
    """Append `n` copies of existing opportunities under new ids (enough rows for paging)."""
    sources.execute(
        f"""INSERT INTO crm.opportunity
        SELECT o.* REPLACE ('006ZZ' || lpad(i::varchar, 13, '0') AS "Id", false AS "IsDeleted")
        FROM (SELECT * FROM crm.opportunity LIMIT 1) o, range({n}) r(i)"""
    )


def test_token_points_to_a_differently_spelled_instance(
    sources: RunningSources, http: requests.Session
) -> None:
    c = sources.credentials
    r = http.post(
        f"{sources.crm_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": c.crm_client_id,
            "client_secret": c.crm_client_secret,
        },
        timeout=10,
    )
    assert r.status_code == 200
    body = r.json()
    assert {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"} <= set(
        body
    )
    assert body["token_type"] == "Bearer"
    login, instance = urlsplit(sources.crm_url), urlsplit(body["instance_url"])
    assert instance.hostname != login.hostname
    assert instance.port == login.port
    expected = hmac.new(
        c.crm_client_secret.encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256
    ).digest()
    assert base64.b64decode(body["signature"]) == expected
    # the token works against instance_url
    q = f"SELECT Id FROM Account {ORDER}"
    assert soql(http, body["access_token"], body["instance_url"], q).status_code == 200


def test_token_accepts_http_basic_and_refuses_bad_secrets(
    sources: RunningSources, http: requests.Session
) -> None:
    c = sources.credentials
    url = f"{sources.crm_url}/services/oauth2/token"
    ok = http.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=(c.crm_client_id, c.crm_client_secret),
        timeout=10,
    )
    assert ok.status_code == 200 and ok.json()["access_token"]
    bad = http.post(
        url,
        data={
            "grant_type": "client_credentials",
            "client_id": c.crm_client_id,
            "client_secret": "x",
        },
        timeout=10,
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_client"
    grant = http.post(
        url,
        data={"grant_type": "password", "client_id": c.crm_client_id, "client_secret": "x"},
        timeout=10,
    )
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"


def test_query_all_pages_to_completion_in_order(
    api, sources: RunningSources, http: requests.Session
) -> None:
    add_opportunities(sources, 450)
    token, instance = api.crm_token()
    records, sizes, total = fetch_all(
        http,
        token,
        instance,
        f"SELECT {OPP_FIELDS} FROM Opportunity {ORDER}",
        batch="batchSize=200",
    )
    (world_count,) = api.world_rows("SELECT count(*) FROM crm.opportunity")[0]
    assert total == len(records) == world_count + 450
    assert len({r["Id"] for r in records}) == len(records)
    assert sizes[:-1] == [200] * (len(sizes) - 1) and 0 < sizes[-1] <= 200
    keys = [(r["SystemModstamp"], r["Id"]) for r in records]
    assert keys == sorted(keys)
    first = records[0]
    assert first["attributes"] == {
        "type": "Opportunity",
        "url": f"/services/data/v61.0/sobjects/Opportunity/{first['Id']}",
    }
    assert list(first) == ["attributes", *[f.strip() for f in OPP_FIELDS.split(",")]]


def test_query_hides_deleted_rows_and_query_all_shows_them(
    api, sources: RunningSources, http: requests.Session
) -> None:
    sources.execute(
        """UPDATE crm.opportunity SET "IsDeleted" = true
        WHERE "Id" IN (SELECT "Id" FROM crm.opportunity ORDER BY "Id" LIMIT 3)"""
    )
    (deleted, total) = sources.execute(
        'SELECT count(*) FILTER (WHERE "IsDeleted"), count(*) FROM crm.opportunity'
    )[0]
    assert deleted >= 3
    token, instance = api.crm_token()
    q = f"SELECT Id, IsDeleted FROM Opportunity {ORDER}"
    live, _, live_total = fetch_all(http, token, instance, q, all_rows=False)
    everything, _, all_total = fetch_all(http, token, instance, q, all_rows=True)
    assert live_total == len(live) == total - deleted
    assert all_total == len(everything) == total
    assert not any(r["IsDeleted"] for r in live)
    assert sum(r["IsDeleted"] for r in everything) == deleted


def test_count_queries_answer_a_total_and_no_records(
    api, sources: RunningSources, http: requests.Session
) -> None:
    (total, stamp) = sources.execute(
        """SELECT count(*), strftime(date_trunc('second', min("SystemModstamp"))
            + INTERVAL 1 DAY, '%Y-%m-%dT%H:%M:%SZ') FROM crm.opportunity"""
    )[0]
    (later,) = sources.execute(
        f"""SELECT count(*) FROM crm.opportunity
        WHERE "SystemModstamp" >= CAST('{stamp[:-1]}' AS TIMESTAMP)"""
    )[0]
    token, instance = api.crm_token()
    whole = soql(http, token, instance, "SELECT COUNT() FROM Opportunity")
    changed = soql(
        http, token, instance, f"SELECT COUNT() FROM Opportunity WHERE SystemModstamp >= {stamp}"
    )
    assert whole.json() == {"totalSize": total, "done": True, "records": []}
    assert changed.json() == {"totalSize": later, "done": True, "records": []}
    assert 0 < later < total
    ordered = soql(http, token, instance, f"SELECT COUNT() FROM Opportunity {ORDER}")
    assert ordered.status_code == 400 and ordered.json()[0]["errorCode"] == "MALFORMED_QUERY"


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, 2000), ("batchSize=50", 200), ("batchSize=5000", 2000), ("batchSize=700", 700)],
)
def test_batch_size_is_clamped_to_200_2000(
    api, sources: RunningSources, http: requests.Session, header: str | None, expected: int
) -> None:
    add_opportunities(sources, 2100)
    token, instance = api.crm_token()
    r = soql(http, token, instance, f"SELECT Id FROM Opportunity {ORDER}", batch=header)
    assert r.status_code == 200
    body = r.json()
    assert len(body["records"]) == expected
    assert body["done"] is False
    assert body["nextRecordsUrl"].endswith(f"-{expected}")


def test_values_use_salesforce_formats(api, http: requests.Session) -> None:
    token, instance = api.crm_token()
    records, _, _ = fetch_all(
        http, token, instance, f"SELECT {OPP_FIELDS}, CreatedDate FROM Opportunity {ORDER}"
    )
    truth = {
        row[0]: row[1:]
        for row in api.world_rows(
            'SELECT "Id", "Amount", "IsWon", "Partner_Role__c", "CloseDate", "SystemModstamp" '
            "FROM crm.opportunity",
        )
    }
    for rec in records:
        assert DATETIME.match(rec["SystemModstamp"]) and DATETIME.match(rec["CreatedDate"])
        assert rec["CloseDate"] is None or DATE.match(rec["CloseDate"])
        assert isinstance(rec["IsWon"], bool) and isinstance(rec["IsDeleted"], bool)
        amount, is_won, role, close, modstamp = truth[rec["Id"]]
        assert rec["Amount"] == amount  # a JSON number (or null)
        assert rec["IsWon"] is is_won
        assert rec["Partner_Role__c"] == role
        assert rec["CloseDate"] == (close.isoformat() if close else None)
        assert rec["SystemModstamp"] == modstamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert len(records) == len(truth)
    nulls = sum(1 for _, _, role, _, _ in truth.values() if role is None)
    assert nulls > 0 and sum(r["Partner_Role__c"] is None for r in records) == nulls


def test_where_systemmodstamp_filters_inclusive_and_exclusive(api, http: requests.Session) -> None:
    stamps = [r[0] for r in api.world_rows('SELECT "SystemModstamp" FROM crm.account')]
    distinct = sorted(set(stamps))
    mark = distinct[len(distinct) // 2]
    mark = mark.replace(microsecond=mark.microsecond // 1000 * 1000)
    literal = mark.strftime("%Y-%m-%dT%H:%M:%S.") + f"{mark.microsecond // 1000:03d}Z"
    token, instance = api.crm_token()
    counts = {}
    for op in (">=", ">"):
        # lowercase keywords are accepted too
        where = f"where SystemModstamp {op} {literal}"
        q = f"select Id, SystemModstamp from Account {where} {ORDER.lower()}"
        records, _, total = fetch_all(http, token, instance, q)
        assert total == len(records)
        counts[op] = total
    assert counts[">="] == sum(1 for s in stamps if s >= mark)
    assert counts[">"] == sum(1 for s in stamps if s > mark)
    assert counts[">="] - counts[">"] == stamps.count(mark) >= 1
    assert counts[">="] < len(stamps)


@pytest.mark.parametrize(
    ("q", "code"),
    [
        ("SELECT Id, NoSuchField__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM NoSuchObject__c", "INVALID_TYPE"),
        ("SELECT FROM Account", "MALFORMED_QUERY"),
        ("SELEKT Id FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE SystemModstamp >= '2024-05-01T00:00:00Z'", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE SystemModstamp >= 2024-05-01", "INVALID_FIELD"),
        ("SELECT Id FROM Account ORDER BY Nope ASC", "INVALID_FIELD"),
    ],
)
def test_query_errors_use_the_salesforce_error_list(
    api, http: requests.Session, q: str, code: str
) -> None:
    token, instance = api.crm_token()
    r = soql(http, token, instance, q)
    assert r.status_code == 400
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["errorCode"] == code
    assert body[0]["message"] and body[0]["fields"] == []
    assert r.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_bad_token_is_invalid_session_id(api, http: requests.Session) -> None:
    _, instance = api.crm_token()
    r = soql(http, "not-a-token", instance, f"SELECT Id FROM Account {ORDER}")
    assert r.status_code == 401
    assert r.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert "Sforce-Limit-Info" in r.headers


def test_limit_info_counts_api_requests(api, http: requests.Session) -> None:
    token, instance = api.crm_token()
    usages = []
    for _ in range(3):
        r = soql(http, token, instance, f"SELECT Id FROM Account {ORDER}")
        used, limit = re.fullmatch(
            r"api-usage=(\d+)/(\d+)", r.headers["Sforce-Limit-Info"]
        ).groups()
        usages.append(int(used))
        assert int(limit) >= 15000
    assert usages == [usages[0], usages[0] + 1, usages[0] + 2]


def test_daily_limit_gives_request_limit_exceeded(
    api, sources: RunningSources, http: requests.Session
) -> None:
    token, instance = api.crm_token()
    sources.set_faults("crm", daily_limit=2)
    q = f"SELECT Id FROM Account {ORDER}"
    statuses = [soql(http, token, instance, q).status_code for _ in range(2)]
    over = soql(http, token, instance, q)
    assert statuses == [200, 200]
    assert over.status_code == 403
    assert over.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert over.headers["Sforce-Limit-Info"] == "api-usage=2/2"
    sources.clear_faults()
    assert soql(http, token, instance, q).status_code == 200


def test_unknown_query_locator_is_refused(api, http: requests.Session) -> None:
    token, instance = api.crm_token()
    r = http.get(
        f"{instance}/services/data/v61.0/query/01gAAAAAAAAAAAAAAA-2000",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_locator_sees_a_snapshot(
    api, sources: RunningSources, http: requests.Session
) -> None:
    """Rows changed after the first page do not shift the pages that follow."""
    add_opportunities(sources, 450)
    token, instance = api.crm_token()
    q = f"SELECT Id FROM Opportunity {ORDER}"
    first = soql(http, token, instance, q, batch="batchSize=200").json()
    sources.execute("DELETE FROM crm.opportunity")
    rest = http.get(
        f"{instance}{first['nextRecordsUrl']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert rest["totalSize"] == first["totalSize"]
    assert len(rest["records"]) == 200
    assert not {r["Id"] for r in rest["records"]} & {r["Id"] for r in first["records"]}
