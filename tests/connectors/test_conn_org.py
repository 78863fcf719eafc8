"""Your org by configuration: the mapping file, its errors, and what the connectors and dbt
make of it (connectors/org.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors import netsuite, salesforce
from connectors.config import Settings
from connectors.org import (
    LOGICAL,
    OrgConfigError,
    dbt_vars_override,
    default_org,
    load_org,
)
from connectors.schema import CRM_TABLES, ERP_TABLES, object_table, org_tables

REPO = Path(__file__).resolve().parents[2]
NORTHWIND = REPO / "docs" / "examples" / "northwind.partnerpulse.yml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partnerpulse.yml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(OrgConfigError) as caught:
        load_org(path)
    return caught.value.problems


def test_the_default_org_is_the_stand_in_contract() -> None:
    org = default_org()
    assert set(org.crm) | set(org.erp) == set(LOGICAL)
    account = salesforce.OBJECTS["account"]
    assert salesforce.build_soql(account, None) == (
        "SELECT Id, Name, Type, IsPartner, BillingCountry, Region__c, Industry, "
        "Partner_Tier__c, Partner_Type__c, Specialization__c, Partner_Since__c, "
        "Partner_Status__c, Terminated_On__c, Recruitment_Cost__c, ERP_Partner_Id__c, "
        "CreatedDate, SystemModstamp, IsDeleted FROM Account ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert list(ERP_TABLES["customrecord_mdf_payment"].columns) == [
        "id",
        "custrecord_mdf_partner",
        "custrecord_mdf_claim",
        "custrecord_mdf_amount",
        "custrecord_mdf_currency",
        "custrecord_mdf_paid_date",
        "lastmodifieddate",
    ]
    assert CRM_TABLES["opportunity"].columns["partner_role__c"] == "VARCHAR"
    # dbt's own default is the default org: nothing extra to pass, parse state kept.
    assert dbt_vars_override(org) == {}


def test_a_file_names_only_what_differs_and_raw_tables_keep_the_orgs_names() -> None:
    org = load_org(NORTHWIND)
    accounts = object_table("accounts", org)
    assert accounts.columns["sales_region__c"] == "VARCHAR"
    assert accounts.columns["program_join_date__c"] == "DATE"
    assert "region__c" not in accounts.columns
    assert accounts.columns["name"] == "VARCHAR"  # not named in the file: the default's
    assert org.mapping("accounts").values["partner_tier"]["Elite"] == "Platinum"

    deal_regs = salesforce.object_for("deal_registrations", org)
    soql = salesforce.build_soql(deal_regs, None)
    assert soql.startswith("SELECT Id, PartnerAccountId, End_Customer_Account__c, ")
    assert " FROM Lead WHERE (RecordType.DeveloperName = 'Deal_Registration') ORDER BY" in soql
    assert deal_regs.table.qualified_name == "raw_crm.deal_registration"

    payments = object_table("mdf_payments", org)
    query = netsuite.build_query(payments, None)
    assert query.startswith("SELECT id, custrecord_cp_partner, custrecord_cp_claim_ref, ")
    assert " FROM customrecord_coop_payment ORDER BY id" in query
    assert payments.qualified_name == "raw_erp.customrecord_mdf_payment"
    assert [x.name for x in org.pos_layouts] == ["distributor_eu", "default"]
    override = dbt_vars_override(org)["org"]
    assert "pos" not in override  # staging needs no file layouts
    assert override["crm"]["deal_registrations"]["object"] == "Lead"
    json.dumps(override)  # dbt receives it as JSON


def test_settings_read_the_file_named_by_partnerpulse_config(tmp_path: Path) -> None:
    settings = Settings.from_env({"PARTNERPULSE_CONFIG": str(NORTHWIND)})
    assert settings.config_path == NORTHWIND
    assert settings.org.mapping("campaigns").fields["partner_id"] == "Sponsoring_Partner__c"
    tables = org_tables(settings.org)
    assert "sponsoring_partner__c" in tables["raw_crm.campaign"].columns
    assert Settings.from_env({}).org == default_org()


def test_every_mistake_is_listed_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
crm:
  accounts:
    fields:
      regoin: Sales_Region__c
      partner_tier: Program-Level
    values:
      partner_tier: {Elite: Diamond}
  opportunites:
    object: Opportunity
    fields: {}
erp:
  mdf_payments:
    objekt: customrecord_coop_payment
""",
    )
    found = problems(path)
    text = "\n".join(found)
    assert "line 13: erp.mdf_payments.objekt: Extra inputs are not permitted" in text
    assert (
        "line 5: crm.accounts.fields.partner_tier: Value error, 'Program-Level' is not a field"
        in text
    )
    assert len(found) == 2  # the schema's problems first: the rest is judged on a valid file

    path = write(
        tmp_path,
        """\
crm:
  accounts:
    fields:
      regoin: Sales_Region__c
    values:
      partner_tier: {Elite: Diamond}
  opportunites:
    object: Opportunity
    fields: {}
""",
    )
    text = "\n".join(problems(path))
    assert "line 4: unknown field 'regoin' of accounts" in text
    assert "line 6: accounts.partner_tier: 'Elite' maps to 'Diamond', not one of" in text
    assert "line 7: unknown crm object 'opportunites'" in text


def test_a_file_that_is_not_a_mapping_or_not_yaml_says_so(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "- crm\n")) == [
        "line 1: the file must be a mapping (crm:, erp:)"
    ]
    (found,) = problems(write(tmp_path, "crm:\n  accounts: [\n"))
    assert found.startswith("line ") and "not YAML" in found
    (missing,) = problems(tmp_path / "absent.yml")
    assert missing.startswith("cannot read it")


def _partnerpulse(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "partnerpulse"
    return subprocess.run(
        [str(exe), *args], env={**os.environ, **env}, capture_output=True, text=True, check=False
    )


def test_config_check_and_a_run_with_a_bad_file_fetch_and_commit_nothing(tmp_path: Path) -> None:
    bad = write(tmp_path, "crm:\n  accounts:\n    fields: {regoin: Sales_Region__c}\n")
    warehouse = tmp_path / "warehouse.duckdb"
    env = {"PARTNERPULSE_CONFIG": str(bad), "PARTNERPULSE_WAREHOUSE": str(warehouse)}
    checked = _partnerpulse("config", "check", "--offline", env=env)
    assert checked.returncode == 1
    assert "line 3: unknown field 'regoin' of accounts" in checked.stderr

    ran = _partnerpulse("run", env={**env, "DAGSTER_HOME": ""})
    assert ran.returncode == 1
    assert "invalid configuration, nothing was run" in ran.stderr
    assert "line 3: unknown field 'regoin' of accounts" in ran.stderr
    assert not warehouse.exists()

    good = _partnerpulse("config", "check", "--offline", "--file", str(NORTHWIND), env=env)
    assert good.returncode == 0, good.stderr
    assert "14 objects mapped, no problems" in good.stdout


def test_a_bad_pos_layout_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
pos:
  layouts:
    - name: distributor
      delimiter: ";;"
      columns: {Reseller: partner_id, Periode: period}
""",
    )
    text = "\n".join(problems(path))
    assert "line 4: pos.layouts.0.delimiter:" in text


@pytest.mark.slow  # generates a world and starts the stand-ins in two processes of their own
def test_config_check_starts_the_embedded_stand_ins_and_asks_them(tmp_path: Path) -> None:
    standins = {
        "PARTNERPULSE_STANDIN_CACHE_DIR": str(tmp_path / "worlds"),
        "PARTNERPULSE_STANDIN_PARTNERS": "6",
        "PARTNERPULSE_STANDIN_MONTHS": "6",
        "PARTNERPULSE_LANDING_DIR": str(tmp_path / "landing"),
        "PARTNERPULSE_STANDIN_ORG_SHAPE": "northwind",
        "PARTNERPULSE_CONFIG": "",
    }
    agree = _partnerpulse("config", "check", "--file", str(NORTHWIND), env=standins)
    assert agree.returncode == 0, agree.stderr
    assert "no problems (against the sources' metadata)" in agree.stdout
    default = _partnerpulse("config", "check", env=standins)
    assert default.returncode == 1
    assert "deal_registrations: Salesforce has no object 'Deal_Registration__c'" in default.stderr
    assert "the default org: " in default.stderr


def test_config_check_names_a_bad_setting_in_the_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "settings:\n  http_max_retries: many\n  warehous: /tmp/w.duckdb\n")
    checked = _partnerpulse("config", "check", "--offline", "--file", str(bad), env={})
    assert checked.returncode == 1
    assert "line 3: settings.warehous: unknown setting 'warehous'" in checked.stderr
    assert "Traceback" not in checked.stderr
