"""The stand-in CRM's Bulk API 2.0 query jobs and record counts, as Salesforce serves them."""

from __future__ import annotations

import csv
import io
import re

import pytest

PREFIX = "/services/data/v61.0"
FIELDS = "Id, Name, Amount, IsWon, CloseDate, SystemModstamp, IsDeleted, Partner_Role__c"
SOQL = f"SELECT {FIELDS} FROM Opportunity ORDER BY SystemModstamp ASC, Id ASC"


class Bulk:
    def __init__(self, api) -> None:
        self.api = api
        self.token, self.instance = api.crm_token()
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, **kw):
        return self.api.http.request(
            method, f"{self.instance}{PREFIX}{path}", headers=self.headers, timeout=30, **kw
        )

    def create(self, soql: str = SOQL, operation: str = "queryAll", **extra):
        body = {"operation": operation, "query": soql, "contentType": "CSV", **extra}
        return self.call("POST", "/jobs/query", json=body)

    def complete(self, job_id: str) -> dict:
        states = []
        while not states or states[-1] in ("UploadComplete", "InProgress"):
            states.append(self.call("GET", f"/jobs/query/{job_id}").json()["state"])
            assert len(states) < 10
        self.states = states
        return self.call("GET", f"/jobs/query/{job_id}").json()

    def pages(self, job_id: str, max_records: int) -> list:
        out, locator = [], None
        while True:
            params = {"maxRecords": max_records, **({"locator": locator} if locator else {})}
            r = self.call("GET", f"/jobs/query/{job_id}/results", params=params)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            out.append(r)
            locator = r.headers["Sforce-Locator"]
            if locator == "null":
                return out


@pytest.fixture
def bulk(api):
    return Bulk(api)


def test_a_job_runs_the_soql_and_serves_salesforce_csv(bulk, api, sources):
    created = bulk.create()
    assert created.status_code == 200
    job = created.json()
    assert re.fullmatch(r"750[A-Za-z0-9]{15}", job["id"]) and job["state"] == "UploadComplete"
    assert job["object"] == "Opportunity" and job["operation"] == "queryAll"
    info = bulk.complete(job["id"])
    assert bulk.states == ["InProgress", "JobComplete"]
    world = api.world_rows(f"SELECT {FIELDS} FROM crm.opportunity ORDER BY SystemModstamp, Id")
    assert info["numberRecordsProcessed"] == len(world)
    pages = bulk.pages(job["id"], 10)
    assert [int(p.headers["Sforce-NumberOfRecords"]) for p in pages] == [
        min(10, len(world) - i) for i in range(0, len(world), 10)
    ]
    text = pages[0].text
    header, first = text.split("\n")[:2]
    assert header == ",".join(f'"{f.strip()}"' for f in FIELDS.split(","))
    # Every value quoted; null an empty unquoted field; datetimes in Z with milliseconds.
    assert re.fullmatch(
        r'"006\w+","[^"]*","[\d.]+","(true|false)","\d{4}-\d\d-\d\d",'
        r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","(true|false)",("[^"]*")?',
        first,
    ), first
    rows = [r for p in pages for r in list(csv.reader(io.StringIO(p.text)))[1:]]
    assert [r[0] for r in rows] == [w[0] for w in world]
    assert bulk.call("DELETE", f"/jobs/query/{job['id']}").status_code == 204
    assert bulk.call("GET", f"/jobs/query/{job['id']}").status_code == 404


def test_values_are_escaped_and_nulls_left_empty(bulk, api, sources):
    first = api.world_rows("SELECT min(Id) FROM crm.opportunity")[0][0]
    sources.execute(
        "UPDATE crm.opportunity SET Name = 'a \"b\", c' || chr(10) || 'd', "
        f"Partner_Role__c = NULL, Amount = NULL WHERE Id = '{first}'"
    )
    job = bulk.create("SELECT Id, Name, Amount, Partner_Role__c FROM Opportunity ORDER BY Id")
    bulk.complete(job.json()["id"])
    body = bulk.pages(job.json()["id"], 1)[0].text
    assert body == f'"Id","Name","Amount","Partner_Role__c"\n"{first}","a ""b"", c\nd",,\n'


def test_query_leaves_deleted_rows_out_and_query_all_keeps_them(bulk, api, sources):
    sources.execute("UPDATE crm.opportunity SET IsDeleted = true WHERE Amount > 0")
    deleted = api.world_rows("SELECT count(*) FROM crm.opportunity WHERE Amount > 0")[0][0]
    counts = {}
    for operation in ("query", "queryAll"):
        job_id = bulk.create(operation=operation).json()["id"]
        counts[operation] = bulk.complete(job_id)["numberRecordsProcessed"]
    assert deleted > 0 and counts["queryAll"] - counts["query"] == deleted


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"operation": "query", "query": "SELECT Nope FROM Opportunity"}, 400, "INVALID_FIELD"),
        ({"operation": "query", "query": "SELEC Id FROM Opportunity"}, 400, "MALFORMED_QUERY"),
        ({"operation": "insert", "query": SOQL}, 400, "INVALIDJOB"),
        ({"operation": "query", "query": SOQL, "contentType": "JSON"}, 400, "INVALIDJOB"),
    ],
)
def test_bad_jobs_are_refused_like_salesforce(bulk, body, status, code):
    r = bulk.call("POST", "/jobs/query", json=body)
    assert r.status_code == status and r.json()[0]["errorCode"] == code


def test_results_of_an_unfinished_job_and_bad_locators_are_refused(bulk):
    job_id = bulk.create().json()["id"]
    r = bulk.call("GET", f"/jobs/query/{job_id}/results")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    bulk.complete(job_id)
    r = bulk.call("GET", f"/jobs/query/{job_id}/results", params={"locator": "!!"})
    assert r.status_code == 400


def test_faults_fail_abort_cut_and_delay_jobs(bulk, sources):
    sources.set_faults("crm", bulk_fail_job=1, bulk_abort_job=1, bulk_cut_page=1, bulk_polls=3)
    failed = bulk.complete(bulk.create().json()["id"])
    assert failed["state"] == "Failed" and failed["errorMessage"].startswith("QUERY_TIMEOUT")
    assert bulk.states == ["InProgress"] * 3 + ["Failed"]
    assert bulk.complete(bulk.create().json()["id"])["state"] == "Aborted"
    job_id = bulk.create().json()["id"]
    assert bulk.complete(job_id)["state"] == "JobComplete"
    cut, whole = (bulk.pages(job_id, 5)[0] for _ in range(2))
    for page, rows in ((cut, 4), (whole, 5)):
        assert page.headers["Sforce-NumberOfRecords"] == "5"
        assert len(list(csv.reader(io.StringIO(page.text)))) - 1 == rows
    assert sources.states["erp"].faults.bulk_polls == 0
    with pytest.raises(ValueError, match="not supported by the erp server"):
        sources.set_faults("erp", bulk_cut_page=1)


def test_record_counts_and_api_usage(bulk, api, sources):
    r = bulk.call("GET", "/limits/recordCount", params={"sObjects": "Opportunity,Account,Nope"})
    counts = {e["name"]: e["count"] for e in r.json()["sObjects"]}
    assert counts == {
        "Opportunity": api.world_rows("SELECT count(*) FROM crm.opportunity")[0][0],
        "Account": api.world_rows("SELECT count(*) FROM crm.account")[0][0],
    }
    usage = int(r.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])
    job_id = bulk.create().json()["id"]
    bulk.complete(job_id)  # 3 polls
    last = bulk.call("DELETE", f"/jobs/query/{job_id}")
    assert last.headers["Sforce-Limit-Info"].startswith(f"api-usage={usage + 5}/")
