"""Faults injected into the stand-in servers: survived where they must, clear failures
where they must, and a failed sync never commits anything."""

from __future__ import annotations

import time

import pytest
from conn_world import (
    add_opportunities,
    counts,
    differences,
    query,
    sync_all,
    watermarks,
    world_counts,
)

from connectors.http import SourceError
from connectors.sync import Clients, sync_object, sync_source


def secrets_of(sources) -> list[str]:
    c = sources.credentials
    return [c.crm_client_secret, c.erp_client_secret, c.portal_api_key]


def assert_no_secret(text: str, sources, clients: Clients | None = None) -> None:
    """Neither a configured secret nor any token the clients were issued is in `text`."""
    values = secrets_of(sources)
    if clients is not None:
        for client in (clients._crm, clients._erp, clients._portal):
            if client is not None:
                values += client.http.secret_values()
    assert len(values) >= 3
    for secret in values:
        assert secret not in text


# -- multi-page CRM reads -------------------------------------------------------------------


def test_crm_follows_next_records_url_on_the_instance_host(sources, settings):
    total = add_opportunities(sources)
    with Clients(settings) as clients:
        result = sync_object(settings, settings.warehouse, "crm", "opportunities", clients=clients)
        instance = clients.crm.instance_url
    assert instance != settings.crm_url  # the stand-in answers with another host spelling
    assert result.pages == -(-total // 200) and result.rows_read == total
    assert query(settings.warehouse, "SELECT count(*) FROM raw_crm.opportunity") == [(total,)]


# -- survived faults ------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured(sources, settings, world_dir):
    sources.set_faults("portal", rate_limit_every=3, retry_after=1)
    started = time.monotonic()
    result = sync_object(settings, settings.warehouse, "portal", "trainings")
    assert time.monotonic() - started >= 0.95  # the backoff alone is milliseconds
    assert result.details["retried_statuses"] == {"429": 1}
    assert result.rows_read == world_counts(world_dir)["raw_portal.trainings"]
    assert differences(settings.warehouse, world_dir, "raw_portal.trainings") == (0, 0)


def test_many_429s_on_suiteql_are_survived(sources, settings, world_dir):
    sources.set_faults("erp", rate_limit_every=4, retry_after=0)
    # One window at a time: every 4th request of the sync is refused. With windows read
    # concurrently, the other windows' requests could take the three allowed ones between
    # one request's retries, so that it saw a 429 every time (it failed so under load).
    settings = settings.replace(erp_window_workers=1)
    result = sync_object(settings, settings.warehouse, "erp", "transaction_lines")
    assert result.details["retried_statuses"]["429"] >= 5
    assert differences(settings.warehouse, world_dir, "raw_erp.transactionline") == (0, 0)


@pytest.mark.parametrize(
    ("system", "status", "obj"),
    [
        ("crm", 503, "accounts"),
        ("erp", 500, "transactions"),
        ("portal", 502, "asset_usage"),
        ("erp", 504, "items"),
    ],
)
def test_5xx_are_retried(sources, settings, world_dir, system, status, obj):
    sources.set_faults(system, fail_next=2, fail_status=status)
    result = sync_object(settings, settings.warehouse, system, obj)
    assert result.details["retried_statuses"] == {str(status): 2}
    raw = {
        "accounts": "raw_crm.account",
        "transactions": "raw_erp.transaction",
        "asset_usage": "raw_portal.asset_usage",
        "items": "raw_erp.item",
    }[obj]
    assert differences(settings.warehouse, world_dir, raw) == (0, 0)


def test_expired_tokens_are_refreshed(sources, settings, world_dir):
    sources.set_faults("erp", token_ttl_requests=5)
    # One window at a time: the fault spends a token by requests, so concurrent windows
    # could spend a fresh token before its first use (real tokens expire by time).
    one_window = settings.replace(erp_window_workers=1)
    result = sync_object(one_window, settings.warehouse, "erp", "transaction_lines")
    assert result.details["token_refreshes"] >= 5
    assert differences(settings.warehouse, world_dir, "raw_erp.transactionline") == (0, 0)
    sources.set_faults("crm", token_ttl_requests=1)
    one_client = settings.replace(object_workers=1)
    results = sync_source(one_client, settings.warehouse, "crm")  # one token shared by 5 syncs
    # The org's /limits, read first, spends the first token: each of the 5 syncs needs a new one.
    assert sum(r.details["token_refreshes"] for r in results) == 5
    assert counts(settings.warehouse)["raw_crm.lead"] == world_counts(world_dir)["raw_crm.lead"]


def test_slows_down_near_the_daily_api_limit(sources, settings):
    total = add_opportunities(sources)
    pages = -(-total // 200)
    # /limits and the pages: the last page brings usage to 100 %.
    sources.set_faults("crm", daily_limit=pages + 1)
    # 3 pages: usage after page 2 is 75 %, so slow down from 60 % on (90 % by default). No
    # share kept for others: the stand-in's limit is the whole allowance.
    near = settings.replace(http={"api_usage_slowdown_at": 0.6}, crm_api_reserve=0)
    result = sync_object(near, settings.warehouse, "crm", "opportunities")
    assert result.rows_read == total
    assert result.details["throttled_requests"] >= 1
    assert result.details["api_usage"] == f"{pages + 1}/{pages + 1}"


# -- clear failures -------------------------------------------------------------------------


@pytest.mark.parametrize(("system", "obj"), [("crm", "leads"), ("erp", "customers")])
def test_rejected_token_fails_after_one_refresh(sources, settings, system, obj):
    sources.set_faults(system, reject_tokens=True)
    with Clients(settings) as clients, pytest.raises(SourceError) as info:
        sync_object(settings, settings.warehouse, system, obj, clients=clients)
    err = info.value
    assert err.system == system and err.status == 401 and "second 401" in str(err)
    assert sources.stats(system)["by_status"].get("401") == 2
    tokens = (clients.crm if system == "crm" else clients.erp).http.secret_values()
    assert len(tokens) == 4  # the client secret, its HTTP Basic form, the two tokens issued
    assert_no_secret(str(err), sources, clients)
    assert query(settings.warehouse, "SELECT status FROM ops.sync_runs") == [("failed",)]


def test_wrong_api_key_fails_at_once_without_showing_it(sources, settings):
    bad = settings.replace(portal_api_key=type(settings.portal_api_key)("wrong-key-123"))
    with pytest.raises(SourceError) as info:
        sync_object(bad, settings.warehouse, "portal", "trainings")
    assert info.value.status == 401 and "wrong-key-123" not in str(info.value)
    assert sources.stats("portal")["by_status"] == {"401": 1}


@pytest.mark.parametrize(
    ("system", "obj"), [("crm", "accounts"), ("erp", "partners"), ("portal", "trainings")]
)
def test_truncated_body_is_a_hard_error_and_a_rerun_lands_once(
    sources, settings, world_dir, system, obj
):
    sources.set_faults(system, truncate_next=1)
    with pytest.raises(SourceError, match="malformed body"):
        sync_object(settings, settings.warehouse, system, obj)
    raw = {
        "accounts": "raw_crm.account",
        "partners": "raw_erp.partner",
        "trainings": "raw_portal.trainings",
    }[obj]
    assert query(settings.warehouse, f"SELECT count(*) FROM {raw}") == [(0,)]
    assert watermarks(settings.warehouse) == {}
    sources.clear_faults()
    result = sync_object(settings, settings.warehouse, system, obj)
    assert result.rows_merged == world_counts(world_dir)[raw]
    assert differences(settings.warehouse, world_dir, raw) == (0, 0)


def test_daily_limit_403_is_not_retried(sources, settings):
    # Each sync reads /limits, then one page; none of the allowance is kept for others.
    sources.set_faults("crm", daily_limit=3)
    whole = settings.replace(crm_api_reserve=0)
    sync_object(whole, settings.warehouse, "crm", "accounts")
    with pytest.raises(SourceError) as info:
        sync_object(whole, settings.warehouse, "crm", "leads")
    err = info.value
    assert err.status == 403 and err.code == "REQUEST_LIMIT_EXCEEDED"
    assert "REQUEST_LIMIT_EXCEEDED" in str(err) and "/services/data/v61.0/queryAll" in str(err)
    assert sources.stats("crm")["by_status"].get("403") == 1


def test_too_many_5xx_give_up_naming_system_endpoint_and_status(sources, settings):
    sources.set_faults("erp", fail_next=50, fail_status=503)
    with Clients(settings) as clients, pytest.raises(SourceError) as info:
        sync_object(settings, settings.warehouse, "erp", "transactions", clients=clients)
    err = info.value
    text = str(err)
    assert text.startswith("erp: gave up after 3 retries")
    assert f"POST {settings.erp_url}/services/rest/query/v1/suiteql" in text
    assert "last status 503" in text and "?" not in err.endpoint
    assert sources.stats("erp")["by_status"].get("503") == settings.http.max_retries + 1
    assert_no_secret(text, sources, clients)
    error = query(settings.warehouse, "SELECT status, error FROM ops.sync_runs")[0]
    assert error[0] == "failed" and "last status 503" in error[1]
    assert_no_secret(error[1], sources, clients)


# -- a sync failing half-way commits nothing -------------------------------------------------


def test_crm_sync_failing_half_way_commits_nothing(sources, settings):
    sync_object(settings, settings.warehouse, "crm", "opportunities")
    before = query(
        settings.warehouse, "SELECT * EXCLUDE (_loaded_at) FROM raw_crm.opportunity ORDER BY id"
    )
    mark = watermarks(settings.warehouse)[("crm", "opportunities")]
    total = add_opportunities(sources)
    sources.set_faults("crm", daily_limit=3)  # /limits, pages 1 and 2 come, page 3 is refused
    with pytest.raises(SourceError, match="REQUEST_LIMIT_EXCEEDED"):
        sync_object(settings.replace(crm_api_reserve=0), settings.warehouse, "crm", "opportunities")
    assert (
        query(
            settings.warehouse, "SELECT * EXCLUDE (_loaded_at) FROM raw_crm.opportunity ORDER BY id"
        )
        == before
    )
    assert watermarks(settings.warehouse)[("crm", "opportunities")] == mark
    sources.clear_faults()
    result = sync_object(settings, settings.warehouse, "crm", "opportunities")
    assert result.watermark_before == mark
    assert query(
        settings.warehouse, "SELECT count(*), count(DISTINCT id) FROM raw_crm.opportunity"
    ) == [(total, total)]


def test_erp_sync_failing_half_way_commits_nothing(sources, settings, world_dir):
    sync_all(settings, settings.warehouse, "erp")
    before_counts = counts(settings.warehouse)
    before_marks = watermarks(settings.warehouse)
    # Every line changes; the read then dies after a few pages (no retries allowed).
    sources.execute(
        "UPDATE erp.transactionline SET netamount = netamount + 1, "
        "lastmodifieddate = TIMESTAMP '2024-07-02 08:00:00'"
    )
    strict = settings.replace(http={"max_retries": 0})
    sources.set_faults("erp", rate_limit_every=6, retry_after=0)
    with pytest.raises(SourceError) as info:
        sync_object(strict, settings.warehouse, "erp", "transaction_lines")
    assert info.value.status == 429
    assert counts(settings.warehouse) == before_counts
    assert watermarks(settings.warehouse) == before_marks
    assert differences(settings.warehouse, world_dir, "raw_erp.transactionline") == (0, 0)
    sources.clear_faults()
    result = sync_object(settings, settings.warehouse, "erp", "transaction_lines")
    n = before_counts["raw_erp.transactionline"]
    assert result.rows_read == result.rows_merged == n
    assert counts(settings.warehouse) == before_counts
    changed = query(
        settings.warehouse,
        "SELECT count(*) FROM raw_erp.transactionline "
        "WHERE lastmodifieddate = TIMESTAMP '2024-07-02 08:00:00'",
    )
    assert changed == [(n,)]
    runs = query(
        settings.warehouse,
        "SELECT status, count(*) FROM ops.sync_runs "
        "WHERE object = 'transaction_lines' GROUP BY ALL ORDER BY 1",
    )
    assert runs == [("failed", 1), ("succeeded", 2)]
