"""The stand-in partner portal serves the export API (v2) of the source contract."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests

from source_servers.portal import RESOURCES
from source_servers.runtime import RunningSources

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_z(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def fetch_all(api, resource, **params) -> tuple[list[dict], list[str]]:
    """Every record of a resource, following next_cursor; also the cursors seen."""
    records, cursors = [], []
    while True:
        r = api.portal_get(resource, **params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "has_more", "next_cursor"}
        records += body["data"]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            return records, cursors
        assert isinstance(body["next_cursor"], str) and body["next_cursor"]
        cursors.append(body["next_cursor"])
        params["starting_after"] = body["next_cursor"]


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_wrong_or_missing_key_is_401(
    api, sources: RunningSources, http: requests.Session, key: str | None
) -> None:
    headers = {"X-API-Key": key} if key else {}
    r = http.get(f"{sources.portal_url}/api/v2/trainings", headers=headers, timeout=10)
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["code"] == "unauthorized" and error["message"]


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_each_resource_pages_to_completion_in_order(api, resource: str) -> None:
    table = RESOURCES[resource]
    world = api.world_rows(f"SELECT id, updated_at FROM portal.{table}")
    assert world, f"the test world has no {table}"
    limit = max(1, len(world) // 4)
    records, cursors = fetch_all(api, resource, limit=limit)
    assert len(records) == len(world)
    assert len(cursors) == -(-len(world) // limit) - 1
    assert {r["id"] for r in records} == {w[0] for w in world}
    keys = [(parse_z(r["updated_at"]), r["id"]) for r in records]
    assert keys == sorted(keys)
    for record in records:
        assert ISO_Z.match(record["updated_at"])
        for name, value in record.items():
            if name.endswith("_on") and value is not None:
                assert ISO_DATE.match(value), (name, value)
            if name.endswith("_at") and value is not None:
                assert ISO_Z.match(value), (name, value)


def test_updated_since_is_inclusive(api) -> None:
    stamps = sorted(r[0] for r in api.world_rows("SELECT updated_at FROM portal.trainings"))
    mark = stamps[len(stamps) // 2]
    since = mark.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    records, _ = fetch_all(api, "trainings", updated_since=since, limit=7)
    assert len(records) == sum(1 for s in stamps if s >= mark) < len(stamps)
    assert parse_z(records[0]["updated_at"]) == mark
    offset = mark.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    again, _ = fetch_all(api, "trainings", updated_since=offset, limit=500)
    assert [r["id"] for r in again] == [r["id"] for r in records]


def test_limit_default_and_cap(api, sources: RunningSources) -> None:
    sources.execute(
        """INSERT INTO portal.asset_usage SELECT o.* REPLACE ('extra-' || i AS id)
        FROM (SELECT * FROM portal.asset_usage LIMIT 1) o, range(150) r(i)"""
    )
    r = api.portal_get("asset-usage")
    assert r.status_code == 200
    assert len(r.json()["data"]) == 100 and r.json()["has_more"] is True
    assert len(api.portal_get("asset-usage", limit=500).json()["data"]) > 100
    for bad in (501, 0, "x"):
        r = api.portal_get("asset-usage", limit=bad)
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_request"


def test_sales_reports_carry_their_lines(api) -> None:
    records, _ = fetch_all(api, "sales-reports", limit=100)
    lines = api.world_rows(
        "SELECT report_id, line_no, sku, quantity, amount, sold_on "
        "FROM portal.sales_report_lines ORDER BY report_id, line_no",
    )
    by_report: dict[str, list[tuple]] = {}
    for report_id, *rest in lines:
        by_report.setdefault(report_id, []).append(tuple(rest))
    assert any(len(v) > 1 for v in by_report.values())
    for record in records:
        got = [
            (
                line["line_no"],
                line["sku"],
                line["quantity"],
                line["amount"],
                dt.date.fromisoformat(line["sold_on"]) if line["sold_on"] else None,
            )
            for line in record["lines"]
        ]
        assert got == by_report.get(record["id"], [])
        for line in record["lines"]:
            assert set(line) == {
                "line_no",
                "sku",
                "quantity",
                "amount",
                "end_customer",
                "invoice_ref",
                "sold_on",
            }


def test_restated_report_moves_to_the_end(api, sources: RunningSources) -> None:
    """A restatement changes a record's updated_at: an incremental reader sees it again."""
    records, _ = fetch_all(api, "sales-reports", limit=500)
    first, last = records[0], records[-1]
    sources.execute(
        f"""UPDATE portal.sales_reports SET status = 'restated',
        updated_at = TIMESTAMP '{parse_z(last["updated_at"]) + dt.timedelta(minutes=1)}'
        WHERE id = '{first["id"]}'"""
    )
    since = (parse_z(last["updated_at"]) + dt.timedelta(seconds=30)).isoformat() + "Z"
    changed, _ = fetch_all(api, "sales-reports", updated_since=since)
    assert [(r["id"], r["status"]) for r in changed] == [(first["id"], "restated")]


def test_unknown_resource_and_bad_cursor(api) -> None:
    r = api.portal_get("invoices")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = api.portal_get("trainings", starting_after="%%%not-a-cursor")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    r = api.portal_get("trainings", updated_since="yesterday")
    assert r.status_code == 400
