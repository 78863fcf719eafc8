"""Stand-in Salesforce Bulk API 2.0 query jobs (v61.0) and `limits/recordCount`.

`POST /jobs/query` runs the SOQL (the subset `crm.parse_soql` understands; `queryAll`
includes soft-deleted rows) and keeps its result as CSV lines; `GET /jobs/query/{id}`
shows the job `UploadComplete`, then `InProgress` for `DEFAULT_POLLS` polls (the
`bulk_polls` fault), then `JobComplete` (or `Failed` / `Aborted`: the `bulk_fail_job` /
`bulk_abort_job` faults); `GET /jobs/query/{id}/results?maxRecords=N[&locator=L]` serves
the rows page by page with `Sforce-Locator` (the string `null` on the last page) and
`Sforce-NumberOfRecords` (the `bulk_cut_page` fault sends one row fewer than it says);
`DELETE` removes a job, `PATCH {"state": "Aborted"}` aborts one.

The CSV is Salesforce's: a header of the field names as the SOQL spells them, every value
double-quoted (`""` inside), null as an empty unquoted field, booleans `true`/`false`,
datetimes `2024-05-01T13:45:00.000Z`, dates `2024-05-01`, numbers as in JSON, LF endings.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from source_servers.crm import _SELECT, CrmServer, SoqlError, SoqlPlan, parse_soql
from source_servers.runtime import JsonRows, json_rows

API_VERSION = "61.0"
DEFAULT_POLLS = 1  # polls that show a job InProgress before it ends
DEFAULT_MAX_RECORDS = 50_000
MAX_JOBS = 64
_ALPHABET = string.ascii_letters + string.digits
_END = "null"


def csv_value(column: str, kind: str) -> str:
    """SQL for one field as Salesforce's CSV writes it ('' for null)."""
    quoted = '"' + column.replace('"', '""') + '"'
    text = {
        "datetime": f"strftime({quoted}, '%Y-%m-%dT%H:%M:%S.%gZ')",
        "date": f"strftime({quoted}, '%Y-%m-%d')",
        "boolean": f"CASE WHEN {quoted} THEN 'true' WHEN NOT {quoted} THEN 'false' END",
        # The same digits the REST API's JSON carries.
        "number": f"CAST(to_json({quoted}) AS VARCHAR)",
    }.get(kind, f"CAST({quoted} AS VARCHAR)")
    return f"""coalesce('"' || replace({text}, '"', '""') || '"', '')"""


def _soql_fields(soql: str) -> list[str]:
    """The selected fields as the SOQL spells them (the query parsed already)."""
    m = _SELECT.match(soql)
    return [name.strip() for name in m.group("fields").split(",")] if m else []


def _locator(offset: int) -> str:
    # Salesforce's locators are the base64 of the next offset, too.
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int | None:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@dataclass
class BulkJob:
    id: str
    operation: str
    sobject: str
    created: str
    header: bytes
    rows: JsonRows
    outcome: str  # the state the job ends in
    polls_left: int
    state: str = "UploadComplete"

    def info(self, *, full: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": "0055g000003PPLsAAO",
            "createdDate": self.created,
            "systemModstamp": _now(),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(API_VERSION),
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        if full:
            done = self.state == "JobComplete"
            body.update(
                jobType="V2Query",
                numberRecordsProcessed=len(self.rows) if done else 0,
                retries=0,
                totalProcessingTime=0,
                isPkChunkingSupported=True,
            )
            if self.state == "Failed":
                body["errorMessage"] = "QUERY_TIMEOUT: Your query request was running for too long."
        return body


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse([{"errorCode": code, "message": message}], status_code=status)


class BulkJobs:
    """The query jobs of the stand-in org (kept until deleted, or evicted past MAX_JOBS)."""

    def __init__(self, crm: CrmServer) -> None:
        self.crm = crm
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, BulkJob] = OrderedDict()
        self._faults: object | None = None
        self._left: dict[str, int] = {}

    def _take(self, fault: str) -> bool:
        """Whether the fault `fault` (a count of next jobs or pages) applies now; counts
        restart whenever the fault set is replaced."""
        with self._lock:
            faults = self.crm.state.faults
            if self._faults is not faults:
                self._faults = faults
                self._left = {
                    name: getattr(faults, name)
                    for name in ("bulk_fail_job", "bulk_abort_job", "bulk_cut_page")
                }
            if self._left.get(fault, 0) > 0:
                self._left[fault] -= 1
                return True
        return False

    def _job(self, request: Request) -> BulkJob | Response:
        """The job the path names, or the response refusing the request (401/403/404)."""
        denied = self.crm._authorize(request)
        if denied is not None:
            return denied
        job = self._jobs.get(request.path_params["job_id"])
        if job is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    # -- routes -------------------------------------------------------------------------
    async def create(self, request: Request) -> Response:
        denied = self.crm._authorize(request)
        if denied is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "INVALIDJOB", "The request body must be a JSON object")
        operation, soql = body.get("operation"), body.get("query")
        if operation not in ("query", "queryAll"):
            return _error(400, "INVALIDJOB", f"Invalid operation: {operation!r}")
        if not isinstance(soql, str) or not soql.strip():
            return _error(400, "INVALIDJOB", "The query is required")
        for key, served in (("contentType", "CSV"), ("columnDelimiter", "COMMA")):
            if body.get(key, served) != served:
                return _error(400, "INVALIDJOB", f"{key} {body.get(key)!r} is not served here")
        if body.get("lineEnding", "LF") != "LF":
            return _error(400, "INVALIDJOB", "lineEnding: only LF is served here")
        try:
            plan = parse_soql(
                soql,
                self.crm.world,
                include_deleted=operation == "queryAll",
                objects=self.crm.catalog(),
            )
        except SoqlError as exc:
            return _error(400, exc.error_code, exc.message)
        if plan.count_only:  # Bulk API 2.0 refuses aggregate queries
            return _error(400, "INVALIDJOB", "Aggregate queries are not supported")
        rows = await run_in_threadpool(self._run, plan)
        outcome = "JobComplete"
        if self._take("bulk_fail_job"):
            outcome = "Failed"
        elif self._take("bulk_abort_job"):
            outcome = "Aborted"
        header = ",".join('"' + f.replace('"', '""') + '"' for f in _soql_fields(soql))
        job = BulkJob(
            id="750" + "".join(secrets.choice(_ALPHABET) for _ in range(15)),
            operation=operation,
            sobject=plan.sobject,
            created=_now(),
            header=header.encode() + b"\n",
            rows=rows,
            outcome=outcome,
            polls_left=self.crm.state.faults.bulk_polls or DEFAULT_POLLS,
        )
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                self._jobs.popitem(last=False)
        return JSONResponse(job.info(full=False))

    def _run(self, plan: SoqlPlan) -> JsonRows:
        line = " || ',' || ".join(csv_value(name, kind) for name, kind in plan.selected)
        cur = self.crm.world.cursor()
        try:
            return json_rows(cur, f"SELECT {line} || chr(10) {plan.source_sql}", plan.params)
        finally:
            cur.close()

    def info(self, request: Request) -> Response:
        job = self._job(request)
        if isinstance(job, Response):
            return job
        with self._lock:
            if job.state in ("UploadComplete", "InProgress"):
                if job.polls_left > 0:
                    job.polls_left -= 1
                    job.state = "InProgress"
                else:
                    job.state = job.outcome
        return JSONResponse(job.info(full=True))

    async def abort(self, request: Request) -> Response:
        job = self._job(request)
        if isinstance(job, Response):
            return job
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            return _error(400, "INVALIDJOBSTATE", 'Only {"state": "Aborted"} is accepted')
        with self._lock:
            if job.state in ("UploadComplete", "InProgress"):
                job.state = "Aborted"
        return JSONResponse(job.info(full=False))

    def delete(self, request: Request) -> Response:
        job = self._job(request)
        if isinstance(job, Response):
            return job
        with self._lock:
            if job.state == "InProgress":
                return _error(400, "INVALIDJOBSTATE", "An InProgress job cannot be deleted")
            self._jobs.pop(job.id, None)
        return Response(status_code=204)

    def results(self, request: Request) -> Response:
        job = self._job(request)
        if isinstance(job, Response):
            return job
        if job.state != "JobComplete":
            return _error(400, "INVALIDJOBSTATE", f"The job is {job.state}: no results")
        raw_max = request.query_params.get("maxRecords", str(DEFAULT_MAX_RECORDS))
        if not raw_max.isdigit() or int(raw_max) < 1:
            return _error(400, "INVALIDPARAMETER", "maxRecords must be a positive integer")
        start = 0
        if "locator" in request.query_params:
            start = _offset(request.query_params["locator"])
            if start is None or start > len(job.rows):
                return _error(400, "INVALIDPARAMETER", "Invalid locator")
        stop = min(start + int(raw_max), len(job.rows))
        count = stop - start
        served_stop = stop - 1 if count and self._take("bulk_cut_page") else stop
        body = job.header
        if served_stop > start:
            body += job.rows.page(start, served_stop) + b"\n"
        return Response(
            body,
            media_type="text/csv",
            headers={
                "Sforce-Locator": _locator(stop) if stop < len(job.rows) else _END,
                "Sforce-NumberOfRecords": str(count),
            },
        )

    def record_count(self, request: Request) -> Response:
        denied = self.crm._authorize(request)
        if denied is not None:
            return denied
        catalog = self.crm.catalog()
        asked = request.query_params.get("sObjects")
        names = [n.strip() for n in asked.split(",") if n.strip()] if asked else None
        entries = [catalog[n.lower()] for n in names if n.lower() in catalog] if names else []
        if names is None:
            entries = list(catalog.values())
        counts = []
        cur = self.crm.world.cursor()
        try:
            for entry in entries:
                relation = f'{entry.schema}."{entry.relation}"'
                n = cur.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
                counts.append({"count": n, "name": entry.name})
        finally:
            cur.close()
        return JSONResponse({"sObjects": counts})


def routes(crm: CrmServer, prefix: str) -> list[Route]:
    """The Bulk API routes under `prefix` (`/services/data/v61.0`)."""
    jobs = BulkJobs(crm)
    return [
        Route(f"{prefix}/jobs/query", jobs.create, methods=["POST"]),
        Route(f"{prefix}/jobs/query/{{job_id}}", jobs.info, methods=["GET"]),
        Route(f"{prefix}/jobs/query/{{job_id}}", jobs.abort, methods=["PATCH"]),
        Route(f"{prefix}/jobs/query/{{job_id}}", jobs.delete, methods=["DELETE"]),
        Route(f"{prefix}/jobs/query/{{job_id}}/results", jobs.results, methods=["GET"]),
        Route(f"{prefix}/limits/recordCount", jobs.record_count, methods=["GET"]),
    ]
