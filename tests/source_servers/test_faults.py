"""Injected faults, admin endpoints, statistics and the runtime of the stand-in servers."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from email.utils import format_datetime
from pathlib import Path

import pytest
import requests

from source_servers.runtime import RunningSources, start_sources
from tests.source_servers.conftest import serve

ORDER = "ORDER BY SystemModstamp ASC, Id ASC"


def crm_query(http, token, instance, q=f"SELECT Id FROM Account {ORDER}") -> requests.Response:
    return http.get(
        f"{instance}/services/data/v61.0/queryAll",
        params={"q": q},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def data_request(system: str, api):
    """A function making one data request of `system` (authenticated up front)."""
    if system == "crm":
        token, instance = api.crm_token()
        return lambda: crm_query(api.http, token, instance)
    if system == "erp":
        token = api.erp_token()
        return lambda: api.suiteql(token, "SELECT id, symbol FROM currency ORDER BY id")
    return lambda: api.portal_get("trainings", limit=5)


SYSTEMS = ["crm", "erp", "portal"]


def test_admin_faults_endpoint_replaces_and_clears(
    sources: RunningSources, http: requests.Session
) -> None:
    url = f"{sources.erp_url}/_admin/faults"
    admin = {"headers": sources.admin_headers(), "timeout": 10}
    assert http.get(url, **admin).json() == {}
    r = http.post(url, json={"latency_ms": 5, "fail_next": 2}, **admin)
    assert r.status_code == 200 and r.json() == {"latency_ms": 5.0, "fail_next": 2}
    r = http.post(url, json={"rate_limit_every": 4}, **admin)
    assert r.json() == {"rate_limit_every": 4}  # replaced, not merged
    assert http.get(url, **admin).json() == {"rate_limit_every": 4}
    assert http.post(url, json={}, **admin).json() == {}
    bad = http.post(url, json={"explode": True}, **admin)
    assert bad.status_code == 400 and "explode" in bad.json()["error"]
    assert http.post(url, json={"fail_next": -1}, **admin).status_code == 400
    assert http.post(url, json={"daily_limit": 5}, **admin).status_code == 400  # CRM only
    assert http.get(url, **admin).json() == {}


@pytest.mark.parametrize("system", SYSTEMS)
def test_rate_limit_every_nth_data_request(api, sources: RunningSources, system: str) -> None:
    call = data_request(system, api)
    sources.set_faults(system, rate_limit_every=3, retry_after="2")
    statuses = [call() for _ in range(7)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 200, 200, 429, 200]
    assert statuses[2].headers["Retry-After"] == "2"
    json.loads(statuses[2].content)  # a JSON error body in the system's shape
    assert "Retry-After" not in statuses[0].headers


def test_retry_after_may_be_an_http_date(api, sources: RunningSources) -> None:
    when = format_datetime(dt.datetime(2030, 1, 1, tzinfo=dt.UTC), usegmt=True)
    call = data_request("portal", api)
    sources.set_faults("portal", rate_limit_every=1, retry_after=when)
    r = call()
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "Tue, 01 Jan 2030 00:00:00 GMT"
    assert r.json()["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("system", SYSTEMS)
def test_fail_next_fails_exactly_n_data_requests(api, sources: RunningSources, system: str) -> None:
    call = data_request(system, api)
    sources.set_faults(system, fail_next=2, fail_status=502)
    assert [call().status_code for _ in range(4)] == [502, 502, 200, 200]
    sources.set_faults(system, fail_next=1)
    failed = call()
    assert failed.status_code == 503
    failed.json()


def test_fail_next_does_not_touch_token_requests(
    api, sources: RunningSources, http: requests.Session
) -> None:
    sources.set_faults("crm", fail_next=1)
    token, instance = api.crm_token()  # raises unless 200
    assert crm_query(http, token, instance).status_code == 503
    assert crm_query(http, token, instance).status_code == 200


def test_crm_token_expires_after_n_data_requests(
    api, sources: RunningSources, http: requests.Session
) -> None:
    sources.set_faults("crm", token_ttl_requests=2)
    token, instance = api.crm_token()
    codes = [crm_query(http, token, instance) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 401]
    assert codes[2].json()[0]["errorCode"] == "INVALID_SESSION_ID"
    fresh, _ = api.crm_token()
    assert crm_query(http, fresh, instance).status_code == 200


def test_erp_token_expires_after_n_data_requests(api, sources: RunningSources) -> None:
    sources.set_faults("erp", token_ttl_requests=1)
    token = api.erp_token()
    q = "SELECT id FROM currency ORDER BY id"
    assert api.suiteql(token, q).status_code == 200
    expired = api.suiteql(token, q)
    assert expired.status_code == 401
    assert expired.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    assert api.suiteql(api.erp_token(), q).status_code == 200


@pytest.mark.parametrize("system", SYSTEMS)
def test_reject_tokens_refuses_even_fresh_credentials(
    api, sources: RunningSources, system: str
) -> None:
    sources.set_faults(system, reject_tokens=True)
    call = data_request(system, api)  # tokens are still issued
    assert [call().status_code for _ in range(2)] == [401, 401]
    sources.set_faults(system)
    assert call().status_code == 200


@pytest.mark.parametrize("system", SYSTEMS)
def test_truncate_next_cuts_pages_short(api, sources: RunningSources, system: str) -> None:
    call = data_request(system, api)
    whole = call().content
    sources.set_faults(system, truncate_next=1)
    cut = call()
    assert cut.status_code == 200
    assert int(cut.headers["Content-Length"]) == len(cut.content) < len(whole)
    assert whole.startswith(cut.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert call().content == whole


def test_latency_delays_api_requests_but_not_handler_time(api, sources: RunningSources) -> None:
    call = data_request("portal", api)
    call()
    sources.reset_stats("portal")
    sources.set_faults("portal", latency_ms=150)
    started = time.perf_counter()
    for _ in range(3):
        assert call().status_code == 200
    elapsed = time.perf_counter() - started
    stats = sources.stats("portal")
    assert elapsed >= 0.45
    assert stats["requests"] == 3
    assert stats["handler_seconds"] < elapsed - 0.4


def test_stats_count_requests_and_statuses(
    api, sources: RunningSources, http: requests.Session
) -> None:
    token, instance = api.crm_token()
    crm_query(http, token, instance)
    crm_query(http, "bad", instance)
    crm_query(http, token, instance, q="SELECT Nope FROM Account")
    admin = {"headers": sources.admin_headers(), "timeout": 10}
    stats = http.get(f"{sources.crm_url}/_admin/stats", **admin).json()
    assert stats["requests"] == 4 and stats["data_requests"] == 3
    assert stats["by_status"] == {"200": 2, "401": 1, "400": 1}
    assert stats["handler_seconds"] > 0
    reset = http.post(f"{sources.crm_url}/_admin/stats/reset", **admin).json()
    assert reset == {"requests": 0, "data_requests": 0, "handler_seconds": 0.0, "by_status": {}}
    assert sources.stats("crm") == reset


def test_admin_world_operation_mutates_the_shared_world(
    api, sources: RunningSources, http: requests.Session
) -> None:
    """A named operation sent to one server changes what the others serve."""
    first = api.portal_get("sales-reports", limit=1).json()["data"][0]
    r = http.post(
        f"{sources.crm_url}/_admin/world/restate-report",
        json={"report_id": first["id"], "new_report_id": "SR-RESTATED"},
        headers=sources.admin_headers(),
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["report_id"] == "SR-RESTATED"
    records = api.portal_get("sales-reports", limit=500).json()["data"]
    assert records[-1]["id"] == "SR-RESTATED"
    assert records[-1]["revision"] == first["revision"] + 1
    bad = http.post(
        f"{sources.erp_url}/_admin/world/restate-report",
        json={"report_id": "SR-NOSUCH"},
        headers=sources.admin_headers(),
        timeout=10,
    )
    assert bad.status_code == 404


def test_pos_files_are_dropped_without_overwriting(world_dir: Path, tmp_path: Path) -> None:
    names = sorted(p.name for p in (world_dir / "pos").glob("*.csv"))
    assert names
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / names[0]).write_text("already here\n")
    with start_sources(world_dir, landing_dir=landing) as running:
        assert running.env()["PARTNERPULSE_LANDING_DIR"] == str(landing)
        assert sorted(p.name for p in landing.glob("*.csv")) == names
        assert (landing / names[0]).read_text() == "already here\n"


def test_stop_releases_the_ports(world_dir: Path, http: requests.Session) -> None:
    running = start_sources(world_dir)
    env = running.env()
    assert set(env) == {
        "PARTNERPULSE_CRM_URL",
        "PARTNERPULSE_CRM_CLIENT_ID",
        "PARTNERPULSE_CRM_CLIENT_SECRET",
        "PARTNERPULSE_ERP_URL",
        "PARTNERPULSE_ERP_CLIENT_ID",
        "PARTNERPULSE_ERP_CLIENT_SECRET",
        "PARTNERPULSE_PORTAL_URL",
        "PARTNERPULSE_PORTAL_API_KEY",
    }
    admin = {"headers": running.admin_headers(), "timeout": 5}
    assert http.get(f"{running.portal_url}/_admin/stats", **admin).status_code == 200
    running.stop()
    with requests.Session() as fresh, pytest.raises(requests.ConnectionError):
        fresh.get(f"{running.portal_url}/_admin/stats", **admin)


def test_cli_serve_runs_until_sigterm(api, world_dir: Path, tmp_path: Path) -> None:
    proc = serve(world_dir, "--landing-dir", str(tmp_path / "landing"))
    try:
        env = {}
        while "PARTNERPULSE_PORTAL_API_KEY" not in env:
            line = proc.stdout.readline()
            assert line, f"serve exited early: {proc.stderr.read()}"
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                env[name] = value.strip("'")
        r = requests.get(
            f"{env['PARTNERPULSE_PORTAL_URL']}/api/v2/trainings",
            headers={"X-API-Key": env["PARTNERPULSE_PORTAL_API_KEY"]},
            timeout=10,
        )
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
