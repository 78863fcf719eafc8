"""Salesforce Bulk API 2.0 (v61.0) query jobs: large objects read as CSV, few API calls.

A job runs the same SOQL as the REST path (`salesforce.build_soql`) with the `queryAll`
operation (soft-deleted rows come with `IsDeleted = true`): create it, poll it with a
doubling backoff until `JobComplete`, then download its results page by page, following
`Sforce-Locator` until it is the string `null`. Each page is streamed to the spool (never
whole in memory), its rows counted as they pass and checked against its
`Sforce-NumberOfRecords`, and the total against the job's `numberRecordsProcessed`. The
job is deleted afterwards (best effort). A `Failed` or `Aborted` job, a page cut short or
a job that does not finish in time is a hard `SourceError` naming the object and the job.

Requests go through the REST client's `HttpClient`: the same token, retries, redaction and
API-usage accounting (`Sforce-Limit-Info`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import requests

from connectors.config import Settings
from connectors.http import SourceError, is_array, is_object
from connectors.landing import JsonLanding
from connectors.landing_csv import csv_header
from connectors.salesforce import (
    API_VERSION,
    SalesforceClient,
    SalesforceObject,
    build_soql,
    soql_where,
)
from connectors.spool import PageSpool

log = logging.getLogger("partnerpulse.connectors.salesforce_bulk")

CHUNK_BYTES = 256 * 1024
_QUOTE, _LF = ord('"'), ord("\n")


@dataclass(frozen=True)
class BulkOptions:
    """How a job is read: records per results page (`maxRecords`), the first poll's wait
    and its cap (the wait doubles), and how long a job may take in all."""

    page_records: int = 50_000
    poll_s: float = 0.5
    poll_max_s: float = 15.0
    wait_max_s: float = 1800.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BulkOptions:
        return cls(
            page_records=settings.crm_bulk_page_records,
            poll_s=settings.crm_bulk_poll_s,
            poll_max_s=settings.crm_bulk_poll_max_s,
            wait_max_s=settings.crm_bulk_wait_max_s,
        )


@dataclass(frozen=True)
class BulkFetch:
    """What a job spooled."""

    job_id: str
    pages: int
    records: int
    polls: int
    query: str


@dataclass
class ReadChoice:
    """Which API reads an object ("bulk" or "rest"), and why."""

    read_with: str
    reason: str
    record_count: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


class CsvRowCounter:
    """Counts the records of a CSV body chunk by chunk: line feeds outside quoted values
    (a value may hold line breaks), less the header line. Vectorised: a Python loop over
    the bytes of a million-row page would cost more than the download."""

    def __init__(self) -> None:
        self.lines = 0
        self.bytes = 0
        self._in_quotes = 0
        self._last = _LF

    def feed(self, chunk: bytes) -> bytes:
        if chunk:
            data = np.frombuffer(chunk, dtype=np.uint8)
            quotes = data == _QUOTE
            # Quote parity at each byte: a `""` escape flips it twice, as it should.
            parity = (np.cumsum(quotes, dtype=np.int64) + self._in_quotes) & 1
            self.lines += int(np.count_nonzero((data == _LF) & (parity == 0)))
            self._in_quotes = (self._in_quotes + int(np.count_nonzero(quotes))) & 1
            self._last = chunk[-1]
            self.bytes += len(chunk)
        return chunk

    @property
    def records(self) -> int:
        lines = self.lines + (1 if self.bytes and self._last != _LF else 0)
        return max(lines - 1, 0)


class BulkQuery:
    """Query jobs of one org through a `SalesforceClient`'s HTTP client."""

    def __init__(
        self,
        client: SalesforceClient,
        options: BulkOptions | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.http = client.http
        self.options = options or BulkOptions()
        self._sleep = sleep

    @property
    def jobs_url(self) -> str:
        return f"{self.client.instance_url}/services/data/{API_VERSION}/jobs/query"

    def _fail(self, url: str, status: int | None, message: str) -> SourceError:
        return self.http.error("GET", url, status, message)

    def create(self, soql: str) -> str:
        """Start a `queryAll` job; its id."""
        body = {
            "operation": "queryAll",
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        url = self.jobs_url
        resp = self.http.request("POST", url, json=body)
        info = self.http.parse_json(resp, "POST", url)
        job_id = info.get("id") if is_object(info) else None
        if not isinstance(job_id, str) or not job_id:
            raise self.http.error("POST", url, resp.status_code, "malformed body: no job id")
        return job_id

    def wait(self, job_id: str, sobject: str) -> tuple[dict[str, Any], int]:
        """Poll the job until it is `JobComplete`; (its info, the polls made)."""
        url = f"{self.jobs_url}/{job_id}"
        delay = self.options.poll_s
        deadline = time.monotonic() + self.options.wait_max_s
        polls = 0
        while True:
            resp = self.http.request("GET", url)
            polls += 1
            body = self.http.parse_json(resp, "GET", url)
            info = body.as_dict() if is_object(body) else {}
            state = info.get("state")
            if state == "JobComplete":
                return info, polls
            if state in ("Failed", "Aborted"):
                why = f": {info.get('errorMessage')}" if info.get("errorMessage") else ""
                raise self._fail(
                    url, resp.status_code, f"Bulk query job {job_id} on {sobject} {state}{why}"
                )
            if state not in ("UploadComplete", "InProgress"):
                raise self._fail(
                    url, resp.status_code, f"malformed body: job {job_id} in state {state!r}"
                )
            if time.monotonic() + delay > deadline:
                self.abort(job_id)
                raise self._fail(
                    url,
                    resp.status_code,
                    f"Bulk query job {job_id} on {sobject} still {state} after "
                    f"{self.options.wait_max_s:g}s: aborted",
                )
            self._sleep(delay)
            delay = min(delay * 2, self.options.poll_max_s)

    def download(
        self, job_id: str, sobject: str, fields: tuple[str, ...], spool: PageSpool
    ) -> tuple[int, int]:
        """Spool every results page of a complete job; (pages, records)."""
        url = f"{self.jobs_url}/{job_id}/results"
        locator: str | None = None
        pages = records = 0
        header: list[str] | None = None
        while True:
            params = {"maxRecords": str(self.options.page_records)}
            if locator is not None:
                params["locator"] = locator
            resp = self.http.request("GET", url, params=params, stream=True)
            with resp:
                announced = resp.headers.get("Sforce-NumberOfRecords", "")
                nxt = resp.headers.get("Sforce-Locator")
                if not announced.isdigit() or not nxt:
                    raise self._fail(
                        url,
                        resp.status_code,
                        f"malformed results of job {job_id}: no Sforce-NumberOfRecords or "
                        "Sforce-Locator header",
                    )
                counter = CsvRowCounter()
                path = spool.add_stream(
                    self._chunks(resp, url, counter), int(announced), suffix=".csv", group="b"
                )
            if counter.records != int(announced):
                raise self._fail(
                    url,
                    resp.status_code,
                    f"results page {pages + 1} of job {job_id} on {sobject} held "
                    f"{counter.records} records but Sforce-NumberOfRecords is {announced} "
                    "(a page cut short)",
                )
            page_header = csv_header(path)
            if header is None:
                header = page_header
                lacking = sorted({f.lower() for f in fields} - {h.lower() for h in header})
                if counter.records and lacking:
                    raise self._fail(
                        url, 200, f"malformed results of job {job_id}: no column {lacking}"
                    )
            elif counter.records and page_header != header:
                raise self._fail(
                    url, 200, f"results page {pages + 1} of job {job_id}: another header"
                )
            if not counter.records:
                path.unlink()  # a header alone: nothing to land
            pages += 1
            records += counter.records
            if nxt == "null":
                return pages, records
            locator = nxt

    def _chunks(self, resp: requests.Response, url: str, counter: CsvRowCounter) -> Iterator[bytes]:
        try:
            for chunk in resp.iter_content(CHUNK_BYTES):
                yield counter.feed(chunk)
        except requests.exceptions.RequestException as exc:
            raise self._fail(
                url, resp.status_code, f"malformed body: results cut short ({type(exc).__name__})"
            ) from None

    def abort(self, job_id: str) -> None:
        """Abort a job (best effort: a job not aborted ends on its own)."""
        url = f"{self.jobs_url}/{job_id}"
        try:
            self.http.request("PATCH", url, json={"state": "Aborted"})
        except SourceError as exc:
            log.warning("crm: could not abort Bulk query job %s: %s", job_id, exc)

    def delete(self, job_id: str) -> bool:
        """Delete a job (best effort: Salesforce removes jobs after 7 days anyway)."""
        try:
            self.http.request("DELETE", f"{self.jobs_url}/{job_id}")
        except SourceError as exc:
            log.warning("crm: could not delete Bulk query job %s: %s", job_id, exc)
            return False
        return True


def fetch_object(
    client: SalesforceClient,
    obj: SalesforceObject,
    since: datetime | None,
    spool: PageSpool,
    *,
    lookback: timedelta = timedelta(0),
    options: BulkOptions | None = None,
) -> BulkFetch:
    """Spool every record of `obj` modified at or after `since - lookback` through one
    Bulk query job (deleted afterwards, whatever happened)."""
    soql = build_soql(obj, since - lookback if since else None)
    bulk = BulkQuery(client, options)
    job_id = bulk.create(soql)
    try:
        info, polls = bulk.wait(job_id, obj.api_name)
        pages, records = bulk.download(job_id, obj.api_name, obj.fields, spool)
        processed = info.get("numberRecordsProcessed")
        if processed != records:
            raise bulk._fail(
                f"{bulk.jobs_url}/{job_id}/results",
                200,
                f"job {job_id} on {obj.api_name} processed {processed} records but its "
                f"results held {records}",
            )
    finally:
        bulk.delete(job_id)
    log.info("crm %s: %d records in %d Bulk pages (job %s)", obj.api_name, records, pages, job_id)
    return BulkFetch(job_id, pages, records, polls, soql)


def record_count(client: SalesforceClient, api_name: str) -> int:
    """The org's stored record count of an object (`limits/recordCount`: kept by Salesforce
    from its storage statistics, so approximate and never the cost of a query); 0 when the
    org reports none for it."""
    url = f"{client.instance_url}/services/data/{API_VERSION}/limits/recordCount"
    resp = client.http.request("GET", url, params={"sObjects": api_name})
    body = client.http.parse_json(resp, "GET", url)
    entries = body.get("sObjects") if is_object(body) else None
    if not is_array(entries):
        raise client.http.error("GET", url, resp.status_code, "malformed body: no sObjects list")
    for entry in entries:
        if is_object(entry) and str(entry.get("name", "")).lower() == api_name.lower():
            count = entry.get("count")
            if isinstance(count, int):
                return count
    return 0


def changed_count(client: SalesforceClient, obj: SalesforceObject, since: datetime) -> int:
    """How many records of `obj` (soft-deleted ones included) an incremental sync from
    `since` reads: a REST `queryAll` of `SELECT COUNT()` with the sync's own filter."""
    soql = f"SELECT COUNT() FROM {obj.api_name}{soql_where(obj, since)}"
    url = f"{client.instance_url}/services/data/{API_VERSION}/queryAll"
    resp = client.http.request("GET", url, params={"q": soql})
    body = client.http.parse_json(resp, "GET", url)
    total = body.get("totalSize") if is_object(body) else None
    if not isinstance(total, int):
        raise client.http.error("GET", url, resp.status_code, "malformed body: no totalSize")
    return total


def choose(
    client: SalesforceClient,
    settings: Settings,
    logical: str,
    obj: SalesforceObject,
    since: datetime | None,
) -> ReadChoice:
    """Bulk for the objects named in `crm_bulk_objects`, and for a sync that reads at least
    `crm_bulk_min_records` records (when it is above 0): a first sync by the object's
    record count, an incremental one by the count of records changed since its mark (a
    large object's daily changes are few, and a job's fixed calls and wait would not pay);
    REST otherwise."""
    if logical in settings.crm_bulk_objects:
        return ReadChoice("bulk", "crm_bulk_objects")
    threshold = settings.crm_bulk_min_records
    if threshold <= 0:
        return ReadChoice("rest", "bulk by count is off")
    if since is None:
        count, what = record_count(client, obj.api_name), "records"
    else:
        count, what = changed_count(client, obj, since), "records changed since the mark"
    if count >= threshold:
        return ReadChoice("bulk", f"{count} {what} >= {threshold}", count)
    return ReadChoice("rest", f"{count} {what} < {threshold}", count)


def csv_landing(obj: SalesforceObject) -> JsonLanding:
    """How the object's CSV results land: as its JSON pages do, from CSV."""
    return dataclasses.replace(obj.landing(), format="csv")
