"""Metadata endpoints of the stand-ins: Salesforce describe and NetSuite's metadata catalog."""

from __future__ import annotations

import requests

from source_servers.world import names as N
from source_servers.world.schema import WORLD_TABLES

SOBJECTS = "/services/data/v61.0/sobjects"
CATALOG = "/services/rest/record/v1/metadata-catalog"
CRM_OBJECTS = {
    "Account": "account",
    "Opportunity": "opportunity",
    "Lead": "lead",
    "Deal_Registration__c": "deal_registration__c",
    "Campaign": "campaign",
}
ERP_RECORDS = {t.split(".")[1] for t in WORLD_TABLES if t.startswith("erp.")}


def crm_get(api, path: str, token: str | None = None) -> requests.Response:
    token = token if token is not None else api.crm_token()[0]
    return api.http.get(
        f"{api.sources.crm_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def erp_get(api, path: str, token: str | None = None) -> requests.Response:
    token = token if token is not None else api.erp_token()
    return api.http.get(
        f"{api.sources.erp_url}{path}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/schema+json"},
        timeout=10,
    )


def fields_of(body: dict) -> dict[str, dict]:
    return {f["name"]: f for f in body["fields"]}


def test_sobjects_lists_every_object_with_its_describe_url(api) -> None:
    r = crm_get(api, f"{SOBJECTS}/")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["encoding"] == "UTF-8" and body["maxBatchSize"] == 200
    listed = {o["name"]: o for o in body["sobjects"]}
    assert set(listed) == set(CRM_OBJECTS)
    for name, o in listed.items():
        assert o["queryable"] is True
        assert o["custom"] is name.endswith("__c")
        assert o["urls"]["describe"] == f"{SOBJECTS}/{name}/describe"
        assert crm_get(api, o["urls"]["describe"]).status_code == 200
    assert listed["Deal_Registration__c"]["label"] == "Deal Registration"


def test_describe_fields_are_the_served_columns(api) -> None:
    token = api.crm_token()[0]
    for name, table in CRM_OBJECTS.items():
        body = crm_get(api, f"{SOBJECTS}/{name}/describe", token).json()
        columns = [
            r[0]
            for r in api.world_rows(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'crm' "
                f"AND table_name = '{table}' ORDER BY column_index"
            )
        ]
        assert [f["name"] for f in body["fields"]] == columns
        assert [rt["developerName"] for rt in body["recordTypeInfos"]] == ["Master"]


def test_describe_types_follow_salesforce(api) -> None:
    token = api.crm_token()[0]
    account = fields_of(crm_get(api, f"{SOBJECTS}/Account/describe", token).json())
    opp = fields_of(crm_get(api, f"{SOBJECTS}/Opportunity/describe", token).json())
    expected = [
        (account, "Id", "id"),
        (account, "Name", "string"),
        (account, "IsPartner", "boolean"),
        (account, "Partner_Since__c", "date"),
        (account, "SystemModstamp", "datetime"),
        (account, "Recruitment_Cost__c", "currency"),
        (account, "Region__c", "picklist"),
        (opp, "Amount", "currency"),
        (opp, "Probability", "percent"),
        (opp, "AccountId", "reference"),
        (opp, "StageName", "picklist"),
    ]
    for fields, name, kind in expected:
        assert fields[name]["type"] == kind, name
    assert opp["PartnerAccountId"]["referenceTo"] == ["Account"]
    assert opp["Deal_Registration__c"]["referenceTo"] == ["Deal_Registration__c"]
    assert account["Id"]["nillable"] is False and account["Name"]["nillable"] is True
    assert account["Partner_Tier__c"]["custom"] is True and account["Name"]["custom"] is False
    assert account["Name"]["picklistValues"] == []


def test_picklists_hold_the_known_and_the_present_values(api) -> None:
    token = api.crm_token()[0]
    cases = [
        ("Account", "account", "Region__c", N.REGIONS),
        ("Account", "account", "Partner_Tier__c", N.TIERS),
        ("Account", "account", "Partner_Status__c", ()),
        ("Deal_Registration__c", "deal_registration__c", "Status__c", ()),
        ("Lead", "lead", "LeadSource", ()),
        ("Campaign", "campaign", "Type", N.CAMPAIGN_TYPES),
    ]
    for obj, table, field, known in cases:
        f = fields_of(crm_get(api, f"{SOBJECTS}/{obj}/describe", token).json())[field]
        assert f["type"] == "picklist"
        values = [v["value"] for v in f["picklistValues"]]
        present = {
            r[0]
            for r in api.world_rows(
                f'SELECT DISTINCT "{field}" FROM crm.{table} WHERE "{field}" IS NOT NULL'
            )
        }
        assert values[: len(known)] == list(known)
        assert set(values) == present | set(known)
        assert all(v["active"] and not v["defaultValue"] for v in f["picklistValues"])


def test_crm_metadata_needs_a_token_and_known_objects(api) -> None:
    assert crm_get(api, f"{SOBJECTS}/", token="nope").status_code == 401
    assert crm_get(api, f"{SOBJECTS}/Account/describe", token="nope").status_code == 401
    r = crm_get(api, f"{SOBJECTS}/Nothing__c/describe")
    assert r.status_code == 404
    assert r.json() == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]


def test_metadata_catalog_lists_every_suiteql_record(api) -> None:
    r = erp_get(api, f"{CATALOG}/")
    assert r.status_code == 200, r.text
    items = {i["name"]: i for i in r.json()["items"]}
    assert set(items) == ERP_RECORDS
    for name, item in items.items():
        (link,) = item["links"]
        assert link["rel"] == "alternate" and link["mediaType"] == "application/schema+json"
        assert link["href"].endswith(f"{CATALOG}/{name}")


def test_record_schema_types(api) -> None:
    token = api.erp_token()
    r = erp_get(api, f"{CATALOG}/transactionline", token)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/schema+json")
    line = r.json()
    assert line["type"] == "object" and line["title"] == "Transaction Line"
    props = line["properties"]
    assert props["id"]["type"] == "integer"
    assert props["netamount"]["type"] == "number"
    assert props["mainline"]["type"] == "string"
    assert props["lastmodifieddate"] == {
        "title": "Lastmodifieddate",
        "type": "string",
        "format": "date-time",
        "nullable": True,
    }
    tran = erp_get(api, f"{CATALOG}/transaction", token).json()["properties"]
    assert tran["trandate"]["format"] == "date"
    for record in ERP_RECORDS:
        props = erp_get(api, f"{CATALOG}/{record}", token).json()["properties"]
        columns = api.world_rows(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'erp' "
            f"AND table_name = '{record}' ORDER BY column_index"
        )
        assert list(props) == [c[0] for c in columns]


def test_erp_metadata_needs_a_token_and_known_records(api) -> None:
    assert erp_get(api, f"{CATALOG}/", token="nope").status_code == 401
    assert erp_get(api, f"{CATALOG}/partner", token="nope").status_code == 401
    r = erp_get(api, f"{CATALOG}/customrecord_nothing")
    assert r.status_code == 404
    body = r.json()
    assert body["title"] == "Not Found" and body["status"] == 404
    assert body["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"
