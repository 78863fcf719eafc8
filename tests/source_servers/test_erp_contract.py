"""The stand-in ERP speaks NetSuite's REST SuiteQL API as the source contract describes."""

from __future__ import annotations

import datetime as dt
import re
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from source_servers.runtime import RunningSources

NS_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")
NS_DATETIME = re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2} (am|pm)$")
LINES_Q = (
    "SELECT id, transaction, linesequencenumber, item, quantity, rate, netamount, mainline, "
    "taxline, lastmodifieddate FROM transactionline ORDER BY transaction, id"
)


def ns_datetime(value: dt.datetime) -> str:
    hour = value.hour % 12 or 12
    return f"{value.month}/{value.day}/{value.year} {hour}:{value.minute:02d} " + (
        "am" if value.hour < 12 else "pm"
    )


def ns_date(value: dt.date) -> str:
    return f"{value.month}/{value.day}/{value.year}"


def fetch_all(api, token, q, limit=1000) -> tuple[list[dict], int]:
    items, offset, total = [], 0, None
    while True:
        r = api.suiteql(token, q, limit=limit, offset=offset)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["offset"] == offset and body["count"] == len(body["items"])
        total = body["totalResults"] if total is None else total
        assert body["totalResults"] == total
        items += body["items"]
        rels = {link["rel"]: link["href"] for link in body["links"]}
        assert rels["self"].endswith(f"limit={limit}&offset={offset}")
        if not body["hasMore"]:
            assert "next" not in rels
            return items, total
        assert rels["next"].endswith(f"offset={offset + limit}")
        offset += limit


def assert_ns_error(r: requests.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    (detail,) = body["o:errorDetails"]
    assert detail["detail"] and detail["o:errorCode"]
    return detail


def test_token_with_client_secret_basic_or_jwt_assertion(
    api, sources: RunningSources, http: requests.Session
) -> None:
    c = sources.credentials
    url = f"{sources.erp_url}/services/rest/auth/oauth2/v1/token"
    form = http.post(
        url,
        data={
            "grant_type": "client_credentials",
            "client_id": c.erp_client_id,
            "client_secret": c.erp_client_secret,
        },
        timeout=10,
    )
    assert form.status_code == 200
    assert set(form.json()) == {"access_token", "token_type", "expires_in"}
    basic = http.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=(c.erp_client_id, c.erp_client_secret),
        timeout=10,
    )
    assert basic.status_code == 200
    now = int(time.time())
    claims = {"iss": c.erp_client_id, "scope": ["restlets", "rest_webservices"], "aud": url}
    claims |= {"iat": now, "exp": now + 300}
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assertion = jwt.encode(claims, key, algorithm="PS256", headers={"kid": "cert-1"})
    jwt_ok = http.post(
        url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=10,
    )
    assert jwt_ok.status_code == 200
    token = jwt_ok.json()["access_token"]
    assert api.suiteql(token, "SELECT id FROM currency ORDER BY id").status_code == 200
    wrong_iss = jwt.encode({**claims, "iss": "someone-else"}, key, algorithm="PS256")
    refused = http.post(
        url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": wrong_iss,
        },
        timeout=10,
    )
    assert refused.status_code == 400
    bad = http.post(
        url,
        data={
            "grant_type": "client_credentials",
            "client_id": c.erp_client_id,
            "client_secret": "x",
        },
        timeout=10,
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"


def test_transactionline_pages_to_completion(api) -> None:
    token = api.erp_token()
    items, total = fetch_all(api, token, LINES_Q, limit=700)
    world = api.world_rows('SELECT "transaction", id FROM erp.transactionline')
    assert total == len(items) == len(world) > 700
    keys = [(int(i["transaction"]), int(i["id"])) for i in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert set(keys) == set(world)


def test_values_are_strings_with_nulls_left_out(api, sources: RunningSources) -> None:
    sources.execute(
        "UPDATE erp.transaction SET memo = NULL WHERE id = (SELECT min(id) FROM erp.transaction)"
    )
    token = api.erp_token()
    items, _ = fetch_all(
        api,
        token,
        "SELECT ID, TranId, TranDate, Memo, ExchangeRate, Entity, LastModifiedDate "
        "FROM Transaction ORDER BY ID",
    )
    truth = {
        r[0]: r[1:]
        for r in api.world_rows(
            "SELECT id, tranid, trandate, exchangerate, lastmodifieddate FROM erp.transaction",
        )
    }
    assert "memo" not in items[0]
    for item in items:
        assert item["links"] == []
        assert set(item) <= {
            "links",
            "id",
            "tranid",
            "trandate",
            "memo",
            "exchangerate",
            "entity",
            "lastmodifieddate",
        }
        assert all(isinstance(v, str) for k, v in item.items() if k != "links")
        assert "memo" not in item or item["memo"] is not None
        tranid, trandate, rate, modified = truth[int(item["id"])]
        assert item["tranid"] == tranid
        assert NS_DATE.match(item["trandate"]) and item["trandate"] == ns_date(trandate)
        assert NS_DATETIME.match(item["lastmodifieddate"])
        assert item["lastmodifieddate"] == ns_datetime(modified)
        assert float(item["exchangerate"]) == pytest.approx(rate)


def test_numbers_render_as_netsuite_does(api, sources: RunningSources) -> None:
    sources.execute(
        """UPDATE erp.transaction SET exchangerate = CASE id % 4 WHEN 0 THEN 0.25
        WHEN 1 THEN -0.5 WHEN 2 THEN 3.0 ELSE 1234.5678 END"""
    )
    token = api.erp_token()
    items, _ = fetch_all(api, token, "SELECT id, exchangerate FROM transaction ORDER BY id")
    expected = {0: ".25", 1: "-.5", 2: "3", 3: "1234.5678"}
    for item in items:
        assert item["exchangerate"] == expected[int(item["id"]) % 4]


def test_prefer_transient_is_required(api) -> None:
    token = api.erp_token()
    r = api.suiteql(token, "SELECT id FROM currency", prefer=None)
    assert_ns_error(r, 400)


@pytest.mark.parametrize(("limit", "offset"), [(1001, 0), (0, 0), (1000, 100_000), (10, -1)])
def test_limit_and_offset_caps(api, limit: int, offset: int) -> None:
    token = api.erp_token()
    r = api.suiteql(token, LINES_Q, limit=limit, offset=offset)
    assert assert_ns_error(r, 400)["o:errorCode"] == "INVALID_PARAMETER"


def test_no_row_past_100000_of_one_query(api, sources: RunningSources) -> None:
    sources.execute(
        """INSERT INTO erp.transactionline SELECT i % 10, 9000000 + i // 10, 1, 1, 1.0, 1.0, 1.0,
        'F', 'F', TIMESTAMP '2024-01-01' FROM range(100500) t(i)"""
    )
    token = api.erp_token()
    r = api.suiteql(token, LINES_Q, limit=1000, offset=99_500)
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == len(body["items"]) == 500
    assert body["totalResults"] > 100_500 and body["hasMore"] is True
    following = {link["rel"]: link["href"] for link in body["links"]}["next"]
    assert following.endswith("offset=100500")
    assert_ns_error(api.suiteql(token, LINES_Q, limit=1000, offset=100_500), 400)


def test_to_date_and_to_timestamp_filters(api) -> None:
    rows = api.world_rows("SELECT trandate, lastmodifieddate FROM erp.transaction")
    day = sorted(r[0] for r in rows)[len(rows) // 2]
    stamp = sorted(r[1] for r in rows)[len(rows) // 2]
    token = api.erp_token()
    by_date, total = fetch_all(
        api,
        token,
        f"SELECT id FROM transaction WHERE trandate >= TO_DATE('{day:%Y-%m-%d}', 'YYYY-MM-DD') "
        "ORDER BY id",
    )
    assert total == len(by_date) == sum(1 for r in rows if r[0] >= day)
    by_time, total = fetch_all(
        api,
        token,
        "SELECT id FROM transaction WHERE lastmodifieddate >= "
        f"TO_TIMESTAMP('{stamp:%Y-%m-%d %H:%M:%S}', 'YYYY-MM-DD HH24:MI:SS') ORDER BY id",
    )
    assert total == len(by_time) == sum(1 for r in rows if r[1] >= stamp)
    assert 0 < len(by_time) < len(rows)


@pytest.mark.parametrize(
    "q",
    [
        "SELECT nosuchcolumn FROM transaction",
        "SELECT id FROM nosuchtable",
        "SELECT * FROM crm.account",
        "SELECT * FROM read_csv('/etc/passwd')",
        "DELETE FROM transaction",
        "SELECT 1; SELECT 2",
        "SELEC id FROM transaction",
    ],
)
def test_bad_queries_get_netsuite_errors(api, sources: RunningSources, q: str) -> None:
    token = api.erp_token()
    detail = assert_ns_error(api.suiteql(token, q), 400)
    assert detail["detail"].startswith("Invalid search query")
    (count,) = sources.execute("SELECT count(*) FROM erp.transaction")[0]
    assert count == api.world_rows("SELECT count(*) FROM erp.transaction")[0][0]


def test_bad_token_gets_a_netsuite_401(api) -> None:
    r = api.suiteql("nope", "SELECT id FROM currency")
    assert assert_ns_error(r, 401)["o:errorCode"] == "INVALID_LOGIN"


def test_world_mutations_are_visible_to_the_next_query(api, sources: RunningSources) -> None:
    token = api.erp_token()
    q = "SELECT id, memo FROM transaction ORDER BY id"
    before = api.suiteql(token, q, limit=1).json()
    sources.execute(
        "UPDATE erp.transaction SET memo = 'touched' "
        "WHERE id = (SELECT min(id) FROM erp.transaction)"
    )
    after = api.suiteql(token, q, limit=1).json()
    assert after["items"][0]["id"] == before["items"][0]["id"]
    assert after["items"][0]["memo"] == "touched"


def test_small_probe_pages_agree_with_full_pages(api) -> None:
    """A probe (`limit=1` at an offset) of a query not paged before gives the same rows."""
    token = api.erp_token()
    full, total = fetch_all(api, token, LINES_Q)
    probe_q = LINES_Q.replace("SELECT", "select")  # another text: not served from the cache
    for offset in (0, 5, total - 1, total + 10):
        body = api.suiteql(token, probe_q, limit=1, offset=offset).json()
        assert body["totalResults"] == total
        assert body["items"] == full[offset : offset + 1]
        assert body["count"] == len(body["items"])
        assert body["hasMore"] is (offset + 1 < total)
