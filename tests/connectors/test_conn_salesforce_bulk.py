"""Salesforce through Bulk API 2.0 query jobs against the stand-in CRM: the same raw rows as
REST, incremental reads, failed / aborted jobs and cut pages, the choice of the path."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from conn_world import query, watermarks, world_query

from connectors.http import SourceError
from connectors.salesforce_bulk import CsvRowCounter
from connectors.sync import Clients, sync_object

OBJECTS = {"opportunities": "raw_crm.opportunity", "accounts": "raw_crm.account"}
JOB_ID = re.compile(r"\b750[A-Za-z0-9]{15}\b")
LATER = datetime(2024, 7, 1, 9, 30)


@pytest.fixture
def rest(settings):
    """Settings that read every CRM object through REST."""
    return settings.replace(crm_bulk_min_records=0, warehouse=settings.warehouse.with_name("r.db"))


@pytest.fixture
def bulk(settings):
    """Settings that read opportunities and accounts through Bulk jobs, with fast polls and
    results pages of 20 records (several pages per object)."""
    return settings.replace(
        crm_bulk_objects=tuple(OBJECTS),
        crm_bulk_min_records=0,
        crm_bulk_page_records=20,
        crm_bulk_poll_s=0.001,
        crm_bulk_poll_max_s=0.002,
        warehouse=settings.warehouse.with_name("b.db"),
    )


def raw_rows(path, table: str) -> list[tuple]:
    """Every row of a raw table but its lineage columns, in key order."""
    return query(path, f"SELECT * EXCLUDE (_sync_id, _loaded_at) FROM {table} ORDER BY id")


def sync_both(rest, bulk) -> dict[str, tuple]:
    out = {}
    for name in OBJECTS:
        out[name] = (
            sync_object(rest, rest.warehouse, "crm", name),
            sync_object(bulk, bulk.warehouse, "crm", name),
        )
    return out


def test_bulk_and_rest_land_identical_rows_first_and_incremental(sources, world_dir, rest, bulk):
    first = sync_both(rest, bulk)
    for name, table in OBJECTS.items():
        by_rest, by_bulk = first[name]
        assert by_rest.details["read_with"] == "rest" and by_bulk.details["read_with"] == "bulk"
        assert JOB_ID.fullmatch(by_bulk.details["bulk_job"])
        assert by_bulk.rows_read == by_rest.rows_read > 20
        assert by_bulk.details["bulk_pages"] == -(-by_bulk.rows_read // 20)
        assert raw_rows(bulk.warehouse, table) == raw_rows(rest.warehouse, table)
        assert by_bulk.watermark_after == by_rest.watermark_after

    opps = [r[0] for r in world_query(world_dir, "SELECT Id FROM crm.opportunity ORDER BY Id")]
    account = world_query(world_dir, "SELECT min(Id) FROM crm.account")[0][0]
    sources.change_amount("crm.opportunity", {"Id": opps[0]}, 4242.5, LATER)
    sources.execute(
        f"UPDATE crm.opportunity SET IsDeleted = true, SystemModstamp = TIMESTAMP '{LATER}' "
        f"WHERE Id = '{opps[1]}'"
    )
    # Text CSV must quote (commas, quotes, line breaks), an empty string, and nulls of
    # every type.
    sources.execute(
        "UPDATE crm.account SET Name = 'Acme, \"Quoted\" Ltd' || chr(10) || 'second line', "
        "Industry = '', Region__c = NULL, IsPartner = NULL, Partner_Since__c = NULL, "
        f"Recruitment_Cost__c = NULL, SystemModstamp = TIMESTAMP '{LATER}' WHERE Id = '{account}'"
    )
    second = sync_both(rest, bulk)
    for name, table in OBJECTS.items():
        by_rest, by_bulk = second[name]
        assert by_bulk.details["read_with"] == "bulk"
        assert by_bulk.rows_read == by_rest.rows_read  # only rows at or after the mark
        assert by_bulk.rows_read < first[name][1].rows_read
        assert raw_rows(bulk.warehouse, table) == raw_rows(rest.warehouse, table)
    changed = query(
        bulk.warehouse,
        f"SELECT id, amount, isdeleted FROM raw_crm.opportunity WHERE id IN "
        f"('{opps[0]}', '{opps[1]}') ORDER BY id",
    )
    assert changed == [(opps[0], 4242.5, False), (opps[1], changed[1][1], True)]
    odd = query(
        bulk.warehouse,
        "SELECT name, industry, region__c, ispartner, partner_since__c, recruitment_cost__c "
        f"FROM raw_crm.account WHERE id = '{account}'",
    )
    assert odd == [('Acme, "Quoted" Ltd\nsecond line', "", None, None, None, None)]
    assert watermarks(bulk.warehouse) == watermarks(rest.warehouse)


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"bulk_fail_job": 1}, "Failed: QUERY_TIMEOUT"),
        ({"bulk_abort_job": 1}, "Aborted"),
        ({"bulk_cut_page": 1}, "a page cut short"),
    ],
)
def test_a_failed_aborted_or_cut_job_commits_nothing(sources, bulk, fault, says):
    sync_object(bulk, bulk.warehouse, "crm", "opportunities")
    before = raw_rows(bulk.warehouse, OBJECTS["opportunities"])
    marks = watermarks(bulk.warehouse)
    top = query(bulk.warehouse, "SELECT max(id) FROM raw_crm.opportunity")[0][0]
    sources.change_amount("crm.opportunity", {"Id": top}, 1.5, LATER)
    sources.set_faults("crm", **fault)
    with Clients(bulk) as clients, pytest.raises(SourceError) as caught:
        sync_object(bulk, bulk.warehouse, "crm", "opportunities", clients=clients)
    secrets = clients.crm.http.secret_values()
    error = str(caught.value)
    assert caught.value.system == "crm" and error.startswith("crm: ")
    assert says in error
    job = JOB_ID.search(error)
    assert job is not None, error
    assert secrets and not any(s in error for s in secrets)
    assert raw_rows(bulk.warehouse, OBJECTS["opportunities"]) == before
    assert watermarks(bulk.warehouse) == marks
    failed = query(
        bulk.warehouse,
        "SELECT error FROM ops.sync_runs WHERE object = 'opportunities' AND status = 'failed'",
    )
    assert len(failed) == 1 and job.group(0) in failed[0][0]
    # The job was deleted even so.
    assert sources.stats("crm")["by_status"].get("204") == 2
    # The next sync (the fault spent) lands the change.
    sync_object(bulk, bulk.warehouse, "crm", "opportunities")
    assert query(bulk.warehouse, f"SELECT amount FROM raw_crm.opportunity WHERE id = '{top}'") == [
        (1.5,)
    ]


def test_polls_back_off_until_the_job_completes(sources, bulk):
    sources.set_faults("crm", bulk_polls=4)
    result = sync_object(bulk, bulk.warehouse, "crm", "opportunities")
    assert result.details["bulk_polls"] == 5  # four InProgress, then JobComplete


def test_a_job_that_does_not_finish_in_time_is_aborted(sources, bulk):
    sources.set_faults("crm", bulk_polls=1000)
    slow = bulk.replace(crm_bulk_wait_max_s=0.01)
    with pytest.raises(SourceError, match=r"still InProgress after 0.01s: aborted") as caught:
        sync_object(slow, slow.warehouse, "crm", "opportunities")
    assert JOB_ID.search(str(caught.value))
    assert query(slow.warehouse, "SELECT status FROM ops.sync_runs") == [("failed",)]


def test_the_record_count_chooses_bulk_at_the_threshold(sources, world_dir, settings):
    opps = world_query(world_dir, "SELECT count(*) FROM crm.opportunity")[0][0]
    fast = settings.replace(crm_bulk_poll_s=0.001)  # (the fixture turns counting off)
    at = sync_object(
        fast.replace(crm_bulk_min_records=opps), fast.warehouse, "crm", "opportunities"
    )
    assert at.details["read_with"] == "bulk" and at.details["record_count"] == opps
    # A first sync again (another warehouse): an incremental one counts its changes only.
    above = fast.replace(crm_bulk_min_records=opps + 1, warehouse=fast.warehouse.with_name("a.db"))
    below = sync_object(above, above.warehouse, "crm", "opportunities")
    assert below.details["read_with"] == "rest" and below.details["record_count"] == opps
    # Off: no count is asked for (one request fewer: the token, /limits and one page).
    sources.reset_stats("crm")
    off = sync_object(fast.replace(crm_bulk_min_records=0), fast.warehouse, "crm", "leads")
    assert off.details["read_with"] == "rest" and "record_count" not in off.details
    assert off.details["requests"] == 1 + 1 + off.pages


def test_an_incremental_sync_chooses_by_the_records_changed_since_its_mark(
    sources, world_dir, settings
):
    opps = world_query(world_dir, "SELECT count(*) FROM crm.opportunity")[0][0]
    by_count = settings.replace(crm_bulk_min_records=opps, crm_bulk_poll_s=0.001)
    first = sync_object(by_count, by_count.warehouse, "crm", "opportunities")
    assert first.details["read_with"] == "bulk" and first.details["record_count"] == opps
    ids = [r[0] for r in world_query(world_dir, "SELECT Id FROM crm.opportunity ORDER BY Id")]
    for n, opp in enumerate(ids[:3]):
        sources.change_amount("crm.opportunity", {"Id": opp}, 1000.0 + n, LATER)
    # Read from the mark on (`>=`): the three changed and those stamped at the mark itself.
    (at_mark,) = query(
        by_count.warehouse,
        "SELECT count(*) FROM raw_crm.opportunity WHERE systemmodstamp = "
        "(SELECT watermark FROM ops.watermarks WHERE object = 'opportunities')",
    )[0]
    daily = sync_object(by_count, by_count.warehouse, "crm", "opportunities")
    assert daily.details["read_with"] == "rest"
    assert daily.details["record_count"] == daily.rows_read == 3 + at_mark
    assert daily.details["read_with_reason"] == (
        f"{3 + at_mark} records changed since the mark < {opps}"
    )
    amounts = query(
        by_count.warehouse,
        f"SELECT amount FROM raw_crm.opportunity WHERE id IN {tuple(ids[:3])} ORDER BY id",
    )
    assert amounts == [(1000.0,), (1001.0,), (1002.0,)]
    # The same count by Bulk when the threshold is met: one changed record is enough.
    again = sync_object(
        by_count.replace(crm_bulk_min_records=1), by_count.warehouse, "crm", "opportunities"
    )
    assert again.details["read_with"] == "bulk" and again.details["record_count"] >= 1


def test_crm_bulk_objects_force_bulk_without_a_count(sources, settings):
    forced = settings.replace(
        crm_bulk_objects=("leads",), crm_bulk_min_records=10**9, crm_bulk_poll_s=0.001
    )
    leads = sync_object(forced, forced.warehouse, "crm", "leads")
    assert leads.details["read_with"] == "bulk" and "record_count" not in leads.details
    campaigns = sync_object(forced, forced.warehouse, "crm", "campaigns")
    assert campaigns.details["read_with"] == "rest" and campaigns.details["record_count"] > 0


def test_results_follow_the_locator_over_many_pages(sources, world_dir, bulk):
    tiny = bulk.replace(crm_bulk_page_records=7)
    result = sync_object(tiny, tiny.warehouse, "crm", "opportunities")
    n = world_query(world_dir, "SELECT count(*) FROM crm.opportunity")[0][0]
    pages = -(-n // 7)
    assert result.details["bulk_pages"] == pages > 3
    assert result.rows_read == n
    # token, /limits, create, two polls, one request a page, delete
    assert result.details["requests"] == 1 + 1 + 1 + 2 + pages + 1


@pytest.mark.parametrize(
    ("body", "records"),
    [
        (b"", 0),
        (b'"Id"\n', 0),
        (b'"Id","Name"\n"1","a\nb"\n"2",""\n', 2),
        (b'"Id","Name"\n"1","say ""hi""\n\nthere"\n"2",\n', 2),
        (b'"Id"\n"1"\n"2"', 2),  # no line feed after the last record
    ],
)
def test_csv_rows_are_counted_across_any_chunking(body, records):
    for size in (1, 2, 3, 7, len(body) or 1):
        counter = CsvRowCounter()
        for i in range(0, len(body), size):
            counter.feed(body[i : i + size])
        assert counter.records == records, size
