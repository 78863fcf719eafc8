"""The `/_admin/*` routes answer only the process that started the servers, never a web
page, and run no SQL: real HTTP on loopback, the data checked through the public APIs."""

from __future__ import annotations

import secrets
import signal
import stat
from pathlib import Path
from typing import Any

import pytest
import requests

from source_servers.runtime import RunningSources, start_sources
from tests.source_servers.conftest import serve

SYSTEMS = ("crm", "erp", "portal")
CRM_Q = "SELECT Id, Amount, SystemModstamp FROM Opportunity ORDER BY Id"
ERP_Q = (
    "SELECT count(*) AS n, sum(netamount) AS total, max(lastmodifieddate) AS last "
    "FROM transactionline"
)


def admin_calls(api) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body) of every kind of admin request, aimed at real records."""
    (report_id,) = api.world_rows("SELECT min(id) FROM portal.sales_reports")[0]
    (opportunity_id,) = api.world_rows("SELECT min(Id) FROM crm.opportunity")[0]
    return [
        ("GET", "/_admin/faults", None),
        ("POST", "/_admin/faults", {"fail_next": 5, "fail_status": 503}),
        ("GET", "/_admin/stats", None),
        ("POST", "/_admin/stats/reset", None),
        ("POST", "/_admin/world/restate-report", {"report_id": report_id, "amount_factor": 9}),
        (
            "POST",
            "/_admin/world/change-amount",
            {
                "record": "crm.opportunity",
                "key": {"Id": opportunity_id},
                "amount": 1.0,
                "modified_at": "2030-01-01T00:00:00",
            },
        ),
        ("POST", "/_admin/execute", {"sql": "DELETE FROM portal.sales_reports"}),
        ("GET", "/_admin/no-such-route", None),
    ]


def public_view(api) -> dict[str, Any]:
    """What the systems' public APIs serve of the records the admin calls aim at.

    Every request here is a data request, so a fault set by an admin call shows too.
    """
    reports = api.portal_get("sales-reports", limit=500)
    assert reports.status_code == 200, reports.text
    token, instance = api.crm_token()
    opportunities = api.http.get(
        f"{instance}/services/data/v61.0/queryAll",
        params={"q": CRM_Q},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert opportunities.status_code == 200, opportunities.text
    lines = api.suiteql(api.erp_token(), ERP_Q)
    assert lines.status_code == 200, lines.text
    return {
        "portal": reports.json(),
        "crm": {k: v for k, v in opportunities.json().items() if k != "nextRecordsUrl"},
        "erp": lines.json()["items"],
    }


def send(http: requests.Session, url: str, method: str, body: Any, **headers: str):
    return http.request(method, url, json=body, headers=headers, timeout=10)


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_admin_requests_without_the_token_are_refused_and_change_nothing(
    api, sources: RunningSources, http: requests.Session, token: str | None
) -> None:
    before = public_view(api)
    stats_before = {s: sources.stats(s)["requests"] for s in SYSTEMS}
    if token == "wrong":
        token = secrets.token_urlsafe(32)
    headers = {} if token is None else {"X-Admin-Token": token}
    for system in SYSTEMS:
        for method, path, body in admin_calls(api):
            r = send(http, f"{sources.url(system)}{path}", method, body, **headers)
            assert r.status_code == 401, (system, path, r.status_code, r.text)
            assert "X-Admin-Token" in r.json()["error"]
    assert all(state.faults_dict() == {} for state in sources.states.values())
    assert all(sources.stats(s)["requests"] >= stats_before[s] for s in SYSTEMS)  # not reset
    assert public_view(api) == before


@pytest.mark.parametrize(
    "origin",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_foreign_origin_is_refused_even_with_the_token(
    api, sources: RunningSources, http: requests.Session, origin: dict[str, str]
) -> None:
    before = public_view(api)
    for system in SYSTEMS:
        for method, path, body in admin_calls(api):
            headers = {**sources.admin_headers(), **origin}
            r = send(http, f"{sources.url(system)}{path}", method, body, **headers)
            assert r.status_code == 403, (system, path, r.status_code, r.text)
    assert all(state.faults_dict() == {} for state in sources.states.values())
    assert public_view(api) == before


def test_the_servers_own_origin_with_the_token_is_served(
    sources: RunningSources, http: requests.Session
) -> None:
    for system in SYSTEMS:
        url = sources.url(system)
        headers = {**sources.admin_headers(), "Origin": url, "Sec-Fetch-Site": "same-origin"}
        r = send(http, f"{url}/_admin/faults", "POST", {"latency_ms": 1}, **headers)
        assert r.status_code == 200 and r.json() == {"latency_ms": 1.0}


@pytest.mark.parametrize("system", SYSTEMS)
def test_arbitrary_sql_is_not_accepted(
    api, sources: RunningSources, http: requests.Session, system: str
) -> None:
    """No route runs SQL, and SQL in a named operation's arguments is only a value."""
    before = public_view(api)
    url, headers = sources.url(system), sources.admin_headers()
    for sql in ("DELETE FROM portal.sales_reports", "SELECT 1 + 1, 'x'"):
        for path in ("/_admin/execute", "/_admin/sql", "/_admin/query"):
            r = send(http, f"{url}{path}", "POST", {"sql": sql}, **headers)
            assert r.status_code in (404, 405), (path, r.status_code, r.text)
    injected = [
        ("restate-report", {"report_id": "x' OR '1'='1"}, 404),
        ("restate-report", {"report_id": "x", "sql": "DELETE FROM portal.sales_reports"}, 400),
        (
            "change-amount",
            {
                "record": "crm.opportunity; DELETE FROM crm.opportunity",
                "key": {"Id": "x"},
                "amount": 1,
                "modified_at": "2030-01-01",
            },
            400,
        ),
        (
            "change-amount",
            {
                "record": "crm.opportunity",
                "key": {"Id": "x' OR 1=1 --"},
                "amount": 1,
                "modified_at": "2030-01-01",
            },
            404,
        ),
    ]
    for operation, body, status in injected:
        r = send(http, f"{url}/_admin/world/{operation}", "POST", body, **headers)
        assert r.status_code == status, (operation, r.status_code, r.text)
    assert public_view(api) == before


def test_each_start_has_its_own_token_kept_out_of_reprs_and_the_pipeline_env(
    world_dir: Path, sources: RunningSources, http: requests.Session
) -> None:
    with start_sources(world_dir) as other:
        assert len(other.admin_token) >= 40 and other.admin_token != sources.admin_token
        r = http.get(f"{other.crm_url}/_admin/stats", headers=sources.admin_headers(), timeout=10)
        assert r.status_code == 401
        ok = http.get(f"{other.crm_url}/_admin/stats", headers=other.admin_headers(), timeout=10)
        assert ok.status_code == 200
    assert sources.admin_token not in repr(sources)
    assert sources.admin_token not in "".join(sources.env().values())


def test_serve_gives_the_token_to_its_own_stdout_alone(world_dir: Path, tmp_path: Path) -> None:
    """`sources serve` (as `make dev` runs it, stdout to a file) makes that file private
    before writing the token there, and never writes the token to its log (stderr)."""
    exports = tmp_path / "dev-sources.env"
    exports.touch()
    exports.chmod(0o644)  # as a shell's `>` leaves it under the usual umask
    with exports.open("w") as out:
        proc = serve(world_dir, stdout=out)
    try:
        log = []
        while not any(line.startswith("# serving") for line in log):
            line = proc.stderr.readline()
            assert line, f"serve exited early: {''.join(log)}"
            log.append(line)
        assert stat.S_IMODE(exports.stat().st_mode) == 0o600
        lines = exports.read_text().splitlines()
        (token_line,) = [x for x in lines if "PARTNERPULSE_SOURCES_ADMIN_TOKEN" in x]
        name, _, token = token_line.partition("=")
        assert name == "PARTNERPULSE_SOURCES_ADMIN_TOKEN" and len(token) >= 40  # not exported
        env = dict(x[len("export ") :].partition("=")[::2] for x in lines if x.startswith("export"))
        assert token not in "".join(env.values())
        url = env["PARTNERPULSE_ERP_URL"]
        with requests.Session() as http:
            good = {"X-Admin-Token": token}
            assert http.get(f"{url}/_admin/stats", headers=good, timeout=10).status_code == 200
            for headers in ({}, {"X-Admin-Token": token[:-1]}, {**good, "Origin": "http://x.y"}):
                r = http.post(f"{url}/_admin/faults", json={}, headers=headers, timeout=10)
                assert r.status_code in (401, 403)
            bad = http.post(f"{url}/_admin/faults", data=b"{", headers=good, timeout=10)
            assert bad.status_code == 400
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
        assert proc.returncode == 0
        log.append(rest)
        assert token not in "".join(log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
