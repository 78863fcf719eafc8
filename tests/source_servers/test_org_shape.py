"""The northwind org shape: the same world, served under another org's names and layout."""

from __future__ import annotations

import csv
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from source_servers.runtime import RunningSources, start_sources
from source_servers.shapes import NORTHWIND, ORG_SHAPE_VARIABLE, Part
from tests.source_servers.conftest import SourceClient, serve
from tests.source_servers.test_crm_contract import fetch_all, soql
from tests.source_servers.test_metadata import CATALOG, SOBJECTS, crm_get, erp_get

SINCE = "SystemModstamp >= 2000-01-01T00:00:00Z"
DEAL_REG = f"{SINCE} AND RecordType.DeveloperName = 'Deal_Registration'"


@pytest.fixture
def northwind(world_dir: Path, tmp_path: Path) -> Iterator[SourceClient]:
    """The servers in the northwind shape, next to the default ones of `api`."""
    with (
        start_sources(world_dir, landing_dir=tmp_path / "nw", org_shape="northwind") as running,
        requests.Session() as http,
    ):
        yield SourceClient(running, http, world_dir)


def part(name: str, table: str) -> Part:
    (served,) = [s for s in NORTHWIND.crm if s.name == name]
    (found,) = [p for p in served.parts if p.table == table]
    return found


def records(client: SourceClient, q: str) -> list[dict]:
    token, instance = client.crm_token()
    rows, _, _ = fetch_all(client.http, token, instance, q)
    for row in rows:
        row.pop("attributes")
    return rows


def unshaped(rows: list[dict], p: Part) -> list[dict]:
    """Northwind rows under the world's names and values."""
    old_name = {new: old for old, new in p.renames.items()}
    out = []
    for row in rows:
        back = {}
        for name, value in row.items():
            old = old_name.get(name, name)
            inverse = {b: a for a, b in p.values.get(old, {}).items()}
            back[old] = inverse.get(value, value)
        out.append(back)
    return out


@pytest.mark.parametrize(
    ("default_object", "shaped_object", "table", "where"),
    [
        ("Account", "Account", "account", SINCE),
        ("Opportunity", "Opportunity", "opportunity", SINCE),
        ("Campaign", "Campaign", "campaign", SINCE),
        ("Lead", "Lead", "lead", f"{SINCE} AND RecordType.DeveloperName = 'Standard_Lead'"),
        ("Deal_Registration__c", "Lead", "deal_registration__c", DEAL_REG),
    ],
)
def test_renamed_fields_serve_the_same_rows(
    api, northwind, default_object: str, shaped_object: str, table: str, where: str
) -> None:
    p = part(shaped_object, table)
    columns = [r[0] for r in api.world_rows(f"DESCRIBE crm.{table}")]
    shaped = [p.renames.get(c, c) for c in columns]
    order = "ORDER BY Id"
    expected = records(api, f"SELECT {', '.join(columns)} FROM {default_object} {order}")
    got = records(
        northwind, f"SELECT {', '.join(shaped)} FROM {shaped_object} WHERE {where} {order}"
    )
    assert expected and unshaped(got, p) == expected
    if p.values:  # the values really are mapped
        assert got != expected


def test_deal_registration_filter_splits_lead(api, northwind) -> None:
    dr_ids = {r[0] for r in api.world_rows("SELECT Id FROM crm.deal_registration__c")}
    lead_ids = {r[0] for r in api.world_rows("SELECT Id FROM crm.lead")}
    assert dr_ids and not dr_ids & lead_ids
    regs = records(northwind, f"SELECT Id, RecordType.DeveloperName FROM Lead WHERE {DEAL_REG}")
    assert {r["Id"] for r in regs} == dr_ids
    assert {r["RecordType"]["DeveloperName"] for r in regs} == {"Deal_Registration"}
    others = records(
        northwind,
        f"SELECT Id FROM Lead WHERE {SINCE} AND RecordType.DeveloperName != 'Deal_Registration'",
    )
    assert {r["Id"] for r in others} == lead_ids
    # On a deal registration, the ordinary lead's fields are null, and the other way round.
    mixed = records(northwind, f"SELECT Id, Status, Deal_Value__c FROM Lead WHERE {DEAL_REG}")
    assert all(r["Status"] is None and r["Deal_Value__c"] is not None for r in mixed)


@pytest.mark.parametrize(
    ("sobject", "old_field"),
    [
        ("Account", "Region__c"),
        ("Account", "Partner_Tier__c"),
        ("Opportunity", "Partner_Role__c"),
        ("Opportunity", "Deal_Registration__c"),
        ("Lead", "MQL_Date__c"),
        ("Lead", "Estimated_Amount__c"),
        ("Campaign", "Partner_Account__c"),
    ],
)
def test_old_names_are_invalid_fields(northwind, sobject: str, old_field: str) -> None:
    token, instance = northwind.crm_token()
    r = soql(northwind.http, token, instance, f"SELECT Id, {old_field} FROM {sobject}")
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == "INVALID_FIELD"


def test_deal_registration_object_does_not_exist(northwind) -> None:
    token, instance = northwind.crm_token()
    r = soql(northwind.http, token, instance, "SELECT Id FROM Deal_Registration__c")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_TYPE"
    assert crm_get(northwind, f"{SOBJECTS}/Deal_Registration__c/describe").status_code == 404
    listed = {o["name"] for o in crm_get(northwind, f"{SOBJECTS}/").json()["sobjects"]}
    assert listed == {"Account", "Opportunity", "Lead", "Campaign"}


def test_describe_shows_shaped_fields_and_values(northwind) -> None:
    token = northwind.crm_token()[0]
    account = crm_get(northwind, f"{SOBJECTS}/Account/describe", token).json()
    fields = {f["name"]: f for f in account["fields"]}
    assert "Partner_Tier__c" not in fields and "Region__c" not in fields
    tier = [v["value"] for v in fields["Program_Level__c"]["picklistValues"]]
    assert tier == ["Elite", "Premier", "Select", "Member"]
    region = [v["value"] for v in fields["Sales_Region__c"]["picklistValues"]]
    assert region == ["North America", "Europe Middle East Africa", "Asia Pacific", "Latin America"]
    status = {v["value"] for v in fields["Program_Status__c"]["picklistValues"]}
    assert status <= {"Enrolled", "Exited"} and status
    assert fields["Onboarding_Cost__c"]["type"] == "currency"
    assert fields["Program_Join_Date__c"]["type"] == "date"

    lead = crm_get(northwind, f"{SOBJECTS}/Lead/describe", token).json()
    fields = {f["name"]: f for f in lead["fields"]}
    reg = {v["value"] for v in fields["Registration_Status__c"]["picklistValues"]}
    assert reg and reg <= {"Pending Review", "Accepted", "Declined", "Lapsed"}
    assert fields["RecordTypeId"]["referenceTo"] == ["RecordType"]
    assert fields["Registered_Opportunity__c"]["referenceTo"] == ["Opportunity"]
    assert fields["Marketing_Qualified_On__c"]["type"] == "date"
    assert "RecordType.DeveloperName" not in fields
    types = {rt["developerName"] for rt in lead["recordTypeInfos"]}
    assert types == {"Standard_Lead", "Deal_Registration", "Master"}

    opp = crm_get(northwind, f"{SOBJECTS}/Opportunity/describe", token).json()
    fields = {f["name"]: f for f in opp["fields"]}
    assert fields["Registered_Deal__c"]["referenceTo"] == ["Lead"]
    roles = {v["value"] for v in fields["Partner_Involvement__c"]["picklistValues"]}
    assert roles == {"Partner Originated", "Partner Assisted"}


def suiteql_items(client: SourceClient, q: str) -> list[dict]:
    r = client.suiteql(client.erp_token(), q)
    assert r.status_code == 200, r.text
    return [{k: v for k, v in item.items() if k != "links"} for item in r.json()["items"]]


def test_suiteql_serves_coop_payments_and_the_crm_id(api, northwind) -> None:
    columns = ["id", "partner", "claim", "amount", "currency", "paid_date"]
    default = suiteql_items(
        api,
        "SELECT id, custrecord_mdf_partner, custrecord_mdf_claim, custrecord_mdf_amount, "
        "custrecord_mdf_currency, custrecord_mdf_paid_date FROM customrecord_mdf_payment "
        "ORDER BY id",
    )
    shaped = suiteql_items(
        northwind,
        "SELECT id, custrecord_cp_partner, custrecord_cp_claim_ref, custrecord_cp_amount, "
        "custrecord_cp_currency, custrecord_cp_paid_on FROM customrecord_coop_payment "
        "ORDER BY id",
    )
    assert default and [list(r.values()) for r in shaped] == [list(r.values()) for r in default]
    assert len(shaped[0]) == len(columns)
    r = northwind.suiteql(northwind.erp_token(), "SELECT * FROM customrecord_mdf_payment")
    assert r.status_code == 400
    r = northwind.suiteql(northwind.erp_token(), "SELECT externalid FROM partner")
    assert r.status_code == 400
    r = northwind.suiteql(northwind.erp_token(), "SELECT * FROM erp.partner")
    assert r.status_code == 400
    partners = suiteql_items(
        northwind, "SELECT id, custentity_crm_account_id FROM partner ORDER BY id"
    )
    world = api.world_rows("SELECT id, externalid FROM erp.partner ORDER BY id")
    assert [(int(p["id"]), p.get("custentity_crm_account_id")) for p in partners] == world


def test_metadata_catalog_shows_shaped_records(northwind) -> None:
    token = northwind.erp_token()
    items = {i["name"] for i in erp_get(northwind, f"{CATALOG}/", token).json()["items"]}
    assert "customrecord_coop_payment" in items and "customrecord_mdf_payment" not in items
    props = erp_get(northwind, f"{CATALOG}/customrecord_coop_payment", token).json()
    assert list(props["properties"]) == [
        "id",
        "custrecord_cp_partner",
        "custrecord_cp_claim_ref",
        "custrecord_cp_amount",
        "custrecord_cp_currency",
        "custrecord_cp_paid_on",
        "lastmodifieddate",
    ]
    assert props["properties"]["custrecord_cp_paid_on"]["format"] == "date"
    partner = erp_get(northwind, f"{CATALOG}/partner", token).json()["properties"]
    assert "custentity_crm_account_id" in partner and "externalid" not in partner
    assert erp_get(northwind, f"{CATALOG}/customrecord_mdf_payment", token).status_code == 404


# -- POS files ----------------------------------------------------------------------------

NW_HEADER = (
    "Reseller;Periode;Artikelnummer;Menge;Umsatz;Waehrung;Endkunde;Rechnung;Verkaufsdatum;Filiale"
)


def read_default(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.reader(fh))


def read_northwind(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="cp1252") as fh:
        return list(csv.reader(fh, delimiter=";"))


def decimal_comma(text: str) -> float:
    return float(text.replace(".", "").replace(",", "."))


def bad_files(world_dir: Path) -> set[str]:
    cases = json.loads((world_dir / "truth.json").read_text())["cases"]
    return {c["detail"]["file"] for c in cases if c["case"] in ("pos_bad_row", "pos_bad_header")}


def test_pos_files_use_the_distributor_layout(northwind, world_dir: Path) -> None:
    landing = northwind.sources.landing_dir
    world_files = sorted((world_dir / "pos").glob("*.csv"))
    assert world_files and sorted(p.name for p in landing.glob("*.csv")) == [
        p.name for p in world_files
    ]
    bad = bad_files(world_dir)
    for src in world_files:
        dest = landing / src.name
        assert dest.stat().st_mtime_ns == src.stat().st_mtime_ns
        if src.name in bad:
            continue
        default, shaped = read_default(src), read_northwind(dest)
        assert dest.read_bytes().split(b"\r\n")[0].decode() == NW_HEADER
        assert len(shaped) == len(default)
        for old, new in zip(default[1:], shaped[1:], strict=True):
            pid, period, sku, qty, amount, cur, cust, ref, sold = old
            assert new[:3] == [pid, f"{period[5:]}/{period[:4]}", sku]
            assert decimal_comma(new[3]) == float(qty)
            assert decimal_comma(new[4]) == float(amount)
            assert new[5:8] == [cur, cust, ref]
            assert new[8] == f"{sold[8:]}.{sold[5:7]}.{sold[:4]}"
    assert any(
        "." in row[4] for src in world_files for row in read_northwind(landing / src.name)[1:]
    )


def test_malformed_pos_files_stay_malformed(northwind, world_dir: Path) -> None:
    cases = json.loads((world_dir / "truth.json").read_text())["cases"]
    landing = northwind.sources.landing_dir
    seen = 0
    for c in cases:
        detail = c["detail"]
        if c["case"] == "pos_bad_header":
            header = read_northwind(landing / detail["file"])[0]
            missing = {"renamed_column": "Menge", "missing_column": "Waehrung"}[detail["reason"]]
            assert missing not in header
            seen += 1
        elif c["case"] == "pos_bad_row":
            default = read_default(world_dir / "pos" / detail["file"])
            shaped = read_northwind(landing / detail["file"])
            row = detail["row_number"]
            assert len(shaped[row]) == len(default[row]) + 1  # (+ Filiale)
            if detail["reason"] == "non_numeric_quantity":
                assert shaped[row][3] == "n/a"
            if detail["reason"] == "unparseable_date":
                assert shaped[row][8].startswith("32.")
            seen += 1
    assert seen


def test_default_shape_copies_files_and_sets_no_variable(sources: RunningSources, world_dir: Path):
    for src in (world_dir / "pos").glob("*.csv"):
        assert (sources.landing_dir / src.name).read_bytes() == src.read_bytes()
    assert ORG_SHAPE_VARIABLE not in sources.env()


def test_env_variable_selects_the_shape(
    world_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ORG_SHAPE_VARIABLE, "northwind")
    with start_sources(world_dir) as running:
        assert running.world.shape is NORTHWIND
        assert running.env()[ORG_SHAPE_VARIABLE] == "northwind"
    monkeypatch.setenv(ORG_SHAPE_VARIABLE, "nowhere")
    with pytest.raises(ValueError, match="unknown org shape"):
        start_sources(world_dir)


def test_serve_takes_the_org_shape_option(world_dir: Path, tmp_path: Path) -> None:
    proc = serve(world_dir, "--org-shape", "northwind", "--landing-dir", str(tmp_path / "nw"))
    try:
        exports = {}
        while "PARTNERPULSE_CRM_URL" not in exports or ORG_SHAPE_VARIABLE not in exports:
            line = proc.stdout.readline()
            assert line, f"serve exited early: {proc.stderr.read()}"
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                exports[name] = value
        assert exports[ORG_SHAPE_VARIABLE] == "northwind"
        assert (tmp_path / "nw").is_dir()
        header = next((tmp_path / "nw").glob("*.csv")).read_bytes().split(b"\r\n")[0]
        assert header.decode("cp1252") == NW_HEADER
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
