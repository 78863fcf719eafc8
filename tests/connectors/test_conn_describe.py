"""`partnerpulse config check` against the sources' own metadata, over real HTTP to the
stand-ins: Salesforce `describe`, NetSuite's metadata catalog (connectors/describe.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import Settings
from connectors.describe import check_against_sources
from connectors.org import load_org
from source_servers.runtime import start_sources

REPO = Path(__file__).resolve().parents[2]
NORTHWIND = REPO / "docs" / "examples" / "northwind.partnerpulse.yml"


def check(settings: Settings, config: Path | None) -> list[str]:
    settings = settings.replace(config_path=config)
    return check_against_sources(settings, load_org(config))


def test_the_default_org_agrees_with_the_default_stand_ins(settings: Settings) -> None:
    assert check(settings, None) == []


@pytest.fixture
def northwind_settings(world_dir: Path, tmp_path: Path, settings: Settings):
    with start_sources(world_dir, landing_dir=tmp_path / "nw", org_shape="northwind") as nw:
        yield Settings.from_env(nw.env()).replace(http=settings.http)


def test_northwinds_file_agrees_with_northwinds_org(northwind_settings: Settings) -> None:
    assert check(northwind_settings, NORTHWIND) == []


def test_the_default_mapping_against_northwind_names_every_mismatch(
    northwind_settings: Settings,
) -> None:
    found = check(northwind_settings, None)
    text = "\n".join(found)
    assert "deal_registrations: Salesforce has no object 'Deal_Registration__c'" in text
    assert "accounts: Account has no field 'Region__c'" in text
    assert "opportunities: Opportunity has no field 'Partner_Role__c'" in text
    assert "mdf_payments: NetSuite has no record 'customrecord_mdf_payment'" in text
    assert "partners: record partner has no field 'externalid'" in text


def test_each_kind_of_mistake_is_reported_with_its_line(
    northwind_settings: Settings, tmp_path: Path
) -> None:
    config = tmp_path / "partnerpulse.yml"
    text = NORTHWIND.read_text()
    # A tier value the map forgets, a field of the wrong type, a field that is not there.
    text = text.replace(
        "partner_tier: {Elite: Platinum, Premier: Gold, Select: Silver, Member: Registered}",
        "partner_tier: {Elite: Platinum, Premier: Gold, Select: Silver}",
    )
    text = text.replace("recruitment_cost_usd: Onboarding_Cost__c", "recruitment_cost_usd: Name")
    text = text.replace("partner_role: Partner_Involvement__c", "partner_role: Partner_Role__c")
    config.write_text(text)
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if fragment in line)

    found = check(northwind_settings, config)
    assert (
        f"line {line_of('partner_tier: {Elite')}: accounts.partner_tier: the org's value "
        "'Member' of Program_Level__c is not mapped to a value the metrics use"
    ) in found
    assert (
        f"line {line_of('recruitment_cost_usd: Name')}: accounts: Account.Name is a string "
        "field; recruitment_cost_usd needs DOUBLE"
    ) in found
    assert (
        f"line {line_of('partner_role: Partner_Role__c')}: opportunities: Opportunity has no "
        "field 'Partner_Role__c'"
    ) in found
    assert len(found) == 3


def test_an_unreachable_source_is_one_problem_and_no_secret(settings: Settings) -> None:
    dead = settings.replace(crm_url="http://127.0.0.1:9", http={"max_retries": 0})
    found = check(dead, None)
    assert len(found) == 1 and found[0].startswith("crm: cannot read its metadata:")
    assert settings.crm_client_secret.reveal() not in found[0]


def test_a_mapped_field_the_org_no_longer_has_fails_the_sync_naming_it(
    northwind_settings: Settings, tmp_path: Path
) -> None:
    from connectors.http import SourceError
    from connectors.sync import sync_object

    settings = northwind_settings.replace(warehouse=tmp_path / "w.duckdb")
    with pytest.raises(SourceError, match="INVALID_FIELD.*Region__c"):
        sync_object(settings, settings.warehouse, "crm", "accounts")
    mapped = settings.replace(config_path=NORTHWIND)
    result = sync_object(mapped, mapped.warehouse, "crm", "accounts")
    assert result.rows_read > 0 and result.rows_quarantined == 0


def test_a_field_the_org_adds_later_breaks_neither_the_check_nor_the_sync(
    sources, settings: Settings
) -> None:
    from connectors.salesforce import API_VERSION, SalesforceClient
    from connectors.sync import sync_object

    sources.execute("ALTER TABLE crm.account ADD COLUMN Loyalty_Points__c DOUBLE")
    client = SalesforceClient(settings)
    try:
        url = f"{client.instance_url}/services/data/{API_VERSION}/sobjects/Account/describe"
        described = client.http.request("GET", url).json()
    finally:
        client.close()
    assert "Loyalty_Points__c" in {f["name"] for f in described["fields"]}
    assert check(settings, None) == []
    result = sync_object(settings, settings.warehouse, "crm", "accounts")
    assert result.rows_read > 0 and result.rows_quarantined == 0


def test_an_unknown_object_or_record_is_named_with_its_line(
    northwind_settings: Settings, tmp_path: Path
) -> None:
    config = tmp_path / "partnerpulse.yml"
    text = NORTHWIND.read_text()
    text = text.replace("    object: Lead\n", "    object: Deal_Reg__c\n")
    text = text.replace("object: customrecord_coop_payment", "object: customrecord_coop_pay")
    config.write_text(text)
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if fragment in line)

    found = check(northwind_settings, config)
    assert found == [
        f"line {line_of('object: Deal_Reg__c')}: deal_registrations: Salesforce has no object "
        "'Deal_Reg__c'",
        f"line {line_of('object: customrecord_coop_pay')}: mdf_payments: NetSuite has no record "
        "'customrecord_coop_pay'",
    ]
