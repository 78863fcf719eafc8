"""The named world operations do exactly what the tests' SQL did before they existed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import requests

from source_servers.runtime import RunningSources, start_sources

LATER = dt.datetime(2024, 7, 1, 9, 30)
TABLES = ("portal.sales_reports", "portal.sales_report_lines", "crm.opportunity")


def snapshot(sources: RunningSources) -> dict[str, list]:
    tables = {t: sources.execute(f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}
    tables["erp.transactionline"] = sources.execute(
        'SELECT * FROM erp."transactionline" ORDER BY ALL'
    )
    return tables


def test_named_operations_equal_the_sql_they_replace(
    world_dir: Path, sources: RunningSources
) -> None:
    with start_sources(world_dir) as by_sql:
        ((report_id,),) = by_sql.execute(
            "select id from portal.sales_reports where status = 'submitted' order by id limit 1"
        )
        ((opp,),) = by_sql.execute("SELECT min(Id) FROM crm.opportunity")
        ((tx, line),) = by_sql.execute(
            "SELECT transaction, id FROM erp.transactionline "
            "ORDER BY transaction DESC, id DESC LIMIT 1"
        )
        # As tests/orchestration/test_ops_automation.py restated a report ...
        by_sql.execute(
            "insert into portal.sales_reports select 'SR-RESTATED', partner_id, period, "
            "revision + 1, status, currency, submitted_at, "
            "(select max(updated_at) from portal.sales_reports) + interval 1 minute "
            f"from portal.sales_reports where id = '{report_id}'"
        )
        by_sql.execute(
            "insert into portal.sales_report_lines select 'SR-RESTATED', line_no, sku, quantity, "
            f"amount * 1.5, end_customer, invoice_ref, sold_on from portal.sales_report_lines "
            f"where report_id = '{report_id}'"
        )
        # ... and tests/connectors/test_conn_sources_sync.py changed amounts.
        by_sql.execute(
            f"UPDATE crm.opportunity SET Amount = 4242.5, SystemModstamp = TIMESTAMP '{LATER}' "
            f"WHERE Id = '{opp}'"
        )
        by_sql.execute(
            f"UPDATE erp.transactionline SET netamount = 999.5, "
            f"lastmodifieddate = TIMESTAMP '{LATER}' WHERE transaction = {tx} AND id = {line}"
        )
        expected = snapshot(by_sql)

    restated = sources.restate_report(report_id, amount_factor=1.5, new_report_id="SR-RESTATED")
    assert restated["report_id"] == "SR-RESTATED" and restated["restates"] == report_id
    assert sources.change_amount("crm.opportunity", {"Id": opp}, 4242.5, LATER) == 1
    key = {"transaction": tx, "id": line}
    assert sources.change_amount("erp.transactionline", key, 999.5, LATER.isoformat()) == 1
    assert snapshot(sources) == expected


def test_restate_report_over_http_is_served_by_the_portal(
    api, sources: RunningSources, http: requests.Session
) -> None:
    page = api.portal_get("sales-reports", limit=500).json()
    assert page["has_more"] is False
    reports = page["data"]
    original = reports[0]
    url = f"{sources.erp_url}/_admin/world/restate-report"
    admin = {"headers": sources.admin_headers(), "timeout": 10}
    r = http.post(url, json={"report_id": original["id"], "amount_factor": 2}, **admin)
    assert r.status_code == 200, r.text
    new_id = f"{original['id']}-R{original['revision'] + 1}"
    assert r.json() == {
        "report_id": new_id,
        "restates": original["id"],
        "partner_id": original["partner_id"],
        "period": original["period"],
        "revision": original["revision"] + 1,
    }
    after = api.portal_get("sales-reports", limit=500).json()["data"]
    assert after[:-1] == reports  # the original stays, the new revision comes last
    new = after[-1]
    assert new["id"] == new_id and new["updated_at"] > reports[-1]["updated_at"]
    same = ("partner_id", "period", "status", "currency", "submitted_at")
    assert {k: new[k] for k in same} == {k: original[k] for k in same}
    assert [line["amount"] for line in new["lines"]] == [
        line["amount"] * 2 for line in original["lines"]
    ]
    again = http.post(url, json={"report_id": original["id"], "new_report_id": new_id}, **admin)
    assert again.status_code == 400 and "already exists" in again.json()["error"]


def test_change_amount_over_http_is_served_by_crm_and_erp(
    api, sources: RunningSources, http: requests.Session
) -> None:
    ((opp,),) = api.world_rows("SELECT min(Id) FROM crm.opportunity")
    ((tx, line),) = api.world_rows("SELECT transaction, id FROM erp.transactionline LIMIT 1")
    url = f"{sources.portal_url}/_admin/world/change-amount"
    admin = {"headers": sources.admin_headers(), "timeout": 10}
    changes = [
        ("crm.opportunity", {"Id": opp}),
        ("erp.transactionline", {"transaction": tx, "id": line}),
    ]
    for record, key in changes:
        body = {"record": record, "key": key, "amount": 12.5, "modified_at": "2024-07-01T09:30Z"}
        r = http.post(url, json=body, **admin)
        assert r.status_code == 200 and r.json() == {"changed": 1}, r.text

    token, instance = api.crm_token()
    crm = http.get(
        f"{instance}/services/data/v61.0/queryAll",
        params={"q": f"SELECT Amount, SystemModstamp FROM Opportunity WHERE Id = '{opp}'"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()["records"][0]
    assert crm["Amount"] == 12.5 and crm["SystemModstamp"] == "2024-07-01T09:30:00.000+0000"
    (erp,) = api.suiteql(
        api.erp_token(),
        f"SELECT netamount, lastmodifieddate FROM transactionline "
        f"WHERE transaction = {tx} AND id = {line}",
    ).json()["items"]
    assert erp["netamount"] == "12.5" and erp["lastmodifieddate"] == "7/1/2024 9:30 am"


A_CHANGE = {
    "record": "crm.opportunity",
    "key": {"Id": "x"},
    "amount": 1,
    "modified_at": "2024-07-01",
}
LEFT_OUT = object()


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"record": "crm.account"}, 400),
        ({"key": {"Name": "x"}}, 400),
        ({"key": {"Id": 1.5}}, 400),
        ({"amount": "1"}, 400),
        ({"amount": float("nan")}, 400),
        ({"modified_at": "July"}, 400),
        ({"modified_at": LEFT_OUT}, 400),
        ({"sql": "SELECT 1"}, 400),
        ({"key": {"Id": "nosuch"}}, 404),
    ],
)
def test_change_amount_refuses_bad_arguments(
    sources: RunningSources, http: requests.Session, change: dict, status: int
) -> None:
    body = {k: v for k, v in {**A_CHANGE, **change}.items() if v is not LEFT_OUT}
    r = http.post(
        f"{sources.crm_url}/_admin/world/change-amount",
        data=json.dumps(body),
        headers={**sources.admin_headers(), "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == status and r.json()["error"]
