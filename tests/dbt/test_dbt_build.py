"""The dbt project built for real on a small hand-made warehouse, checked against hand sums.

One `dbt build` runs per session (models, data tests and unit tests) on a fresh DuckDB file
holding the raw tables of `connectors.schema` and the rows below; the tests then read
`marts.fct_partner_months`, `marts.rpt_partner_reconciliation` and the findings.
The expected values are worked out by hand in the comments next to the data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.schema import ALL_TABLES, create_all_ddl

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
AS_OF = "2024-06-15"

# One `dbt build` per session: every test of it on one worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt_build")]


def pid(n: int) -> str:
    """An 18-character Salesforce-like Account Id for partner number n."""
    return f"001P{n:014d}"


P1, P2, P3, P4, P5 = pid(1), pid(2), pid(3), pid(4), pid(5)
CUSTOMER = "001C00000000000001"
UNKNOWN_PARTNER = "001X00000000000099"

USD, EUR = 1, 2
SKU_A, SKU_B = 10, 11  # standard costs 40 and 100 USD

LOADED_AT = datetime(2024, 6, 15, 6, 0, 0)


def d(text: str) -> date:
    return date.fromisoformat(text)


# --------------------------------------------------------------------------------------
# The raw data
# --------------------------------------------------------------------------------------

ACCOUNTS = [
    # P1: partner since January 2024, active: spine 2024-01 .. 2024-06 (as_of month).
    dict(
        id=P1,
        name="Alpha Resellers",
        type="Partner",
        ispartner=True,
        region__c="NA",
        partner_tier__c="Gold",
        partner_since__c=d("2024-01-10"),
        partner_status__c="Active",
        erp_partner_id__c="101",
        recruitment_cost__c=5000.0,
        createddate=datetime(2023, 12, 1),
        isdeleted=False,
    ),
    # P2: terminated 2024-04-20: spine 2024-02 .. 2024-04, both ends included.
    dict(
        id=P2,
        name="Beta Partners",
        type="Partner",
        ispartner=True,
        region__c="EMEA",
        partner_since__c=d("2024-02-01"),
        partner_status__c="Terminated",
        terminated_on__c=d("2024-04-20"),
        erp_partner_id__c="102",
        createddate=datetime(2024, 1, 5),
        isdeleted=False,
    ),
    # P3: reports in EUR (API and POS files); spine 2024-03 .. 2024-06.
    dict(
        id=P3,
        name="Gamma GmbH",
        type="Partner",
        ispartner=True,
        region__c="EMEA",
        partner_since__c=d("2024-03-05"),
        partner_status__c="Active",
        erp_partner_id__c="103",
        createddate=datetime(2024, 3, 1),
        isdeleted=False,
    ),
    # P4: soft-deleted: no spine, and ERP partner 104 (which it names) stays unmapped.
    dict(
        id=P4,
        name="Deleted Partner",
        type="Partner",
        ispartner=True,
        partner_since__c=d("2024-01-01"),
        partner_status__c="Active",
        erp_partner_id__c="104",
        createddate=datetime(2024, 1, 1),
        isdeleted=True,
    ),
    # P5: starts in May: spine 2024-05 .. 2024-06.
    dict(
        id=P5,
        name="Epsilon Ltd",
        type="Partner",
        ispartner=True,
        region__c="APAC",
        partner_since__c=d("2024-05-01"),
        partner_status__c="Active",
        erp_partner_id__c="105",
        createddate=datetime(2024, 4, 20),
        isdeleted=False,
    ),
    # An end customer: not a partner.
    dict(
        id=CUSTOMER,
        name="Customer Inc",
        type="Customer",
        ispartner=False,
        createddate=datetime(2023, 1, 1),
        isdeleted=False,
    ),
]

ERP_PARTNERS = [
    dict(id=101, entityid="P-101", companyname="Alpha Resellers", externalid=P1, isinactive=False),
    dict(id=102, entityid="P-102", companyname="Beta Partners", externalid=P2, isinactive=False),
    # externalid disagrees with the CRM mapping (P3 names 103): the CRM field wins.
    dict(id=103, entityid="P-103", companyname="Gamma GmbH", externalid=P1, isinactive=False),
    dict(id=104, entityid="P-104", companyname="Deleted Partner", externalid=P4, isinactive=True),
    dict(id=105, entityid="P-105", companyname="Epsilon Ltd", externalid=P5, isinactive=False),
]

CURRENCIES = [dict(id=USD, symbol="USD"), dict(id=EUR, symbol="EUR")]

# EUR -> USD, monthly; none for June 2024 (carried forward from May).
EUR_RATES = {
    "2024-01-01": 1.10,
    "2024-02-01": 1.08,
    "2024-03-01": 1.09,
    "2024-04-01": 1.07,
    "2024-05-01": 1.10,
}
CURRENCY_RATES = [
    dict(id=i, basecurrency=USD, transactioncurrency=EUR, exchangerate=rate, effectivedate=d(day))
    for i, (day, rate) in enumerate(EUR_RATES.items(), start=1)
]

ITEMS = [
    dict(id=SKU_A, itemid="SKU-A", displayname="Widget A", cost=40.0),
    dict(id=SKU_B, itemid="SKU-B", displayname="Widget B", cost=100.0),
]


def _txn(
    tid: int,
    ttype: str,
    day: str,
    partner: int | None,
    *,
    currency: int = USD,
    rate: float = 1.0,
    status: str = "Open",
) -> dict[str, Any]:
    prefix = "INV" if ttype == "CustInvc" else "CM"
    return dict(
        id=tid,
        tranid=f"{prefix}-{tid}",
        type=ttype,
        trandate=d(day),
        entity=900,
        partner=partner,
        currency=currency,
        exchangerate=rate,
        status=status,
    )


TRANSACTIONS = [
    _txn(1, "CustInvc", "2024-01-20", 101),
    _txn(2, "CustInvc", "2024-02-15", 101),
    _txn(3, "CustInvc", "2024-03-30", 101),
    _txn(4, "CustInvc", "2024-04-10", 101),
    _txn(5, "CustCred", "2024-05-12", 101),  # the only sale of P1's May: a credit memo
    _txn(6, "CustInvc", "2024-05-20", 101, status="Voided"),  # counts nowhere
    _txn(7, "CustInvc", "2024-06-05", 101),
    _txn(8, "CustInvc", "2024-03-15", 102),
    _txn(9, "CustInvc", "2024-05-03", 102),  # after P2's termination: a finding
    _txn(10, "CustInvc", "2024-03-10", 103, currency=EUR, rate=1.09),
    _txn(11, "CustInvc", "2024-04-12", 103, currency=EUR, rate=1.07),
    _txn(12, "CustInvc", "2024-05-09", 103, currency=EUR, rate=1.10),
    _txn(13, "CustInvc", "2024-05-15", 105),
    _txn(14, "CustInvc", "2024-06-02", 105),
    _txn(15, "CustInvc", "2024-03-03", 104),  # unmapped ERP partner: a finding
    _txn(16, "CustInvc", "2024-03-03", None),  # direct sale: no partner
]

# (transaction, item, quantity, netamount) of the sales lines; every transaction also gets a
# main line and a tax line, which are not sales lines.
SALES_LINES = [
    (1, SKU_A, 10, 1000.0),
    (2, SKU_B, 20, 2000.0),
    (3, SKU_A, 30, 3000.0),
    (4, SKU_A, 10, 1000.0),
    (5, SKU_A, 5, 500.0),
    (6, SKU_B, 100, 10000.0),
    (7, SKU_A, 8, 800.0),
    (8, SKU_A, 12, 1200.0),
    (9, SKU_A, 7, 700.0),
    (10, SKU_B, 10, 1000.0),
    (11, SKU_B, 20, 2000.0),
    (12, SKU_A, 10, 1000.0),
    (13, SKU_A, 10, 1000.0),
    (14, SKU_A, 1, 30.0),
    (15, SKU_A, 7, 777.0),
    (16, SKU_B, 50, 5000.0),
]


def _transaction_lines() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for tid, item, qty, amount in SALES_LINES:
        rows.append(
            dict(
                transaction=tid,
                id=0,
                linesequencenumber=0,
                netamount=amount,
                mainline=True,
                taxline=False,
            )
        )
        rows.append(
            dict(
                transaction=tid,
                id=1,
                linesequencenumber=1,
                item=item,
                quantity=qty,
                rate=amount / qty,
                netamount=amount,
                mainline=False,
                taxline=False,
            )
        )
        rows.append(
            dict(
                transaction=tid,
                id=2,
                linesequencenumber=2,
                netamount=amount * 0.08,
                mainline=False,
                taxline=True,
            )
        )
    return rows


def _report(
    rid: str, partner: str, period: str, revision: int, status: str, currency: str = "USD"
) -> dict[str, Any]:
    return dict(
        id=rid,
        partner_id=partner,
        period=period,
        revision=revision,
        status=status,
        currency=currency,
        submitted_at=datetime(2024, 6, 1),
        updated_at=datetime(2024, 6, 1),
    )


SALES_REPORTS = [
    _report("R-P1-01", P1, "2024-01", 1, "submitted"),
    _report("R-P1-02-1", P1, "2024-02", 1, "restated"),
    _report("R-P1-02-2", P1, "2024-02", 2, "submitted"),
    _report("R-P1-02-3", P1, "2024-02", 3, "withdrawn"),  # latest revision withdrawn
    _report("R-P1-03", P1, "2024-03", 1, "submitted"),
    _report("R-P1-04", P1, "2024-04", 1, "submitted"),
    _report("R-P1-05", P1, "2024-05", 1, "submitted"),
    _report("R-P2-04", P2, "2024-04", 1, "submitted"),
    _report("R-P3-04-1", P3, "2024-04", 1, "submitted", "EUR"),
    _report("R-P3-04-2", P3, "2024-04", 2, "withdrawn", "EUR"),  # clashes with a POS r2
    _report("R-P3-05", P3, "2024-05", 1, "submitted", "EUR"),
    _report("R-P5-05", P5, "2024-05", 1, "submitted"),
    _report("R-UNKNOWN", UNKNOWN_PARTNER, "2024-05", 1, "submitted"),
]

# (report, sku, quantity, amount, invoice_ref)
REPORT_LINES = [
    ("R-P1-01", "SKU-A", 10, 1000.0, "INV-1"),
    ("R-P1-02-1", "SKU-B", 15, 1500.0, None),
    ("R-P1-02-2", "SKU-B", 10, 1000.0, None),
    ("R-P1-02-2", "SKU-B", 10, 990.0, None),
    ("R-P1-02-3", "SKU-B", 50, 5000.0, None),
    ("R-P1-03", "SKU-A", 10, 1000.0, None),
    ("R-P1-04", "SKU-A", 30, 3000.0, None),
    ("R-P1-05", "SKU-A", -5, -480.0, "CM-5"),
    ("R-P2-04", "SKU-UNKNOWN", 7, 700.0, None),
    ("R-P3-04-1", "SKU-B", 20, 2000.0, None),
    ("R-P3-04-2", "SKU-B", 99, 9999.0, None),
    ("R-P3-05", "SKU-A", 50, 5000.0, "INV-404"),
    ("R-P5-05", "SKU-A", 9, 900.0, None),
    ("R-UNKNOWN", "SKU-A", 1, 100.0, None),
]


def _report_lines() -> list[dict[str, Any]]:
    rows, counters = [], {}
    for rid, sku, qty, amount, ref in REPORT_LINES:
        counters[rid] = counters.get(rid, 0) + 1
        rows.append(
            dict(
                report_id=rid,
                line_no=counters[rid],
                sku=sku,
                quantity=qty,
                amount=amount,
                invoice_ref=ref,
                sold_on=d("2024-01-15"),
            )
        )
    return rows


POS_FILES = [
    dict(
        file_name=f"pos_{P3}_2024-03.csv",
        partner_id=P3,
        period="2024-03",
        revision=1,
        status="loaded",
        rows_read=2,
        rows_loaded=2,
        rows_quarantined=0,
    ),
    # Same (partner, period, revision) as the withdrawn API revision 2: the API wins.
    dict(
        file_name=f"pos_{P3}_2024-04_r2.csv",
        partner_id=P3,
        period="2024-04",
        revision=2,
        status="loaded",
        rows_read=1,
        rows_loaded=1,
        rows_quarantined=0,
    ),
    # Rejected whole: counts as not received.
    dict(
        file_name=f"pos_{P1}_2024-06.csv",
        partner_id=P1,
        period="2024-06",
        revision=1,
        status="rejected",
        rows_read=1,
        rows_loaded=0,
        rows_quarantined=1,
        reason="row 1: amount is not a number",
    ),
]

POS_LINES = [
    dict(
        file_name=f"pos_{P3}_2024-03.csv",
        row_number=1,
        partner_id=P3,
        period="2024-03",
        revision=1,
        sku="SKU-B",
        quantity=6,
        amount=600.0,
        currency="EUR",
    ),
    dict(
        file_name=f"pos_{P3}_2024-03.csv",
        row_number=2,
        partner_id=P3,
        period="2024-03",
        revision=1,
        sku="SKU-B",
        quantity=4,
        amount=400.0,
        currency="EUR",
    ),
    dict(
        file_name=f"pos_{P3}_2024-04_r2.csv",
        row_number=1,
        partner_id=P3,
        period="2024-04",
        revision=2,
        sku="SKU-B",
        quantity=25,
        amount=2500.0,
        currency="EUR",
    ),
]

POS_QUARANTINE = [
    dict(
        file_name=f"pos_{P1}_2024-06.csv",
        row_number=1,
        raw_row='{"partner_id": "x", "amount": "abc"}',
        reason="amount is not a number",
    ),
]

OPPORTUNITIES = [
    # P1, March closes: O1 sourced (role), O2 sourced (approved deal registration, EUR),
    # O3 influenced, O4 lost, O5 deleted (counts nowhere).
    dict(
        id="O1",
        partneraccountid=P1,
        partner_role__c="Sourced",
        isclosed=True,
        iswon=True,
        amount=5000.0,
        currencyisocode="USD",
        createddate=datetime(2024, 1, 15, 9),
        closedate=d("2024-03-10"),
        isdeleted=False,
    ),
    dict(
        id="O2",
        partneraccountid=P1,
        partner_role__c=None,
        deal_registration__c="DR1",
        isclosed=True,
        iswon=True,
        amount=1000.0,
        currencyisocode="EUR",
        createddate=datetime(2024, 2, 1, 9),
        closedate=d("2024-03-20"),
        isdeleted=False,
    ),
    dict(
        id="O3",
        partneraccountid=P1,
        partner_role__c="Influenced",
        isclosed=True,
        iswon=True,
        amount=2000.0,
        currencyisocode="USD",
        createddate=datetime(2024, 3, 1, 9),
        closedate=d("2024-03-25"),
        isdeleted=False,
    ),
    dict(
        id="O4",
        partneraccountid=P1,
        partner_role__c=None,
        isclosed=True,
        iswon=False,
        amount=3000.0,
        currencyisocode="USD",
        createddate=datetime(2024, 2, 10, 9),
        closedate=d("2024-03-28"),
        isdeleted=False,
    ),
    dict(
        id="O5",
        partneraccountid=P1,
        partner_role__c="Sourced",
        isclosed=True,
        iswon=True,
        amount=9999.0,
        currencyisocode="USD",
        createddate=datetime(2024, 3, 2, 9),
        closedate=d("2024-03-29"),
        isdeleted=True,
    ),
]

DEAL_REGISTRATIONS = [
    dict(
        id="DR1",
        partner_account__c=P1,
        estimated_amount__c=1000.0,
        currencyisocode="EUR",
        status__c="Approved",
        submitted_date__c=d("2024-01-20"),
        decision_date__c=d("2024-01-25"),
        isdeleted=False,
    ),
    dict(
        id="DR2",
        partner_account__c=P1,
        estimated_amount__c=500.0,
        currencyisocode="USD",
        status__c="Rejected",
        submitted_date__c=d("2024-02-02"),
        decision_date__c=d("2024-02-10"),
        isdeleted=False,
    ),
]

LEADS = [
    dict(
        id="L1",
        partneraccountid=P1,
        status="SQL",
        createddate=datetime(2024, 1, 5),
        mql_date__c=d("2024-02-01"),
        sql_date__c=d("2024-03-01"),
        isdeleted=False,
    ),
]

TRAININGS = [
    # A certification passed in February, expiring 2024-04-15: active at the end of Feb, Mar.
    dict(
        id="T1",
        partner_id=P1,
        learner_id="L1",
        course_id="C1",
        is_certification=True,
        enrolled_on=d("2024-01-15"),
        due_on=d("2024-02-28"),
        completed_on=d("2024-02-10"),
        passed=True,
        expires_on=d("2024-04-15"),
    ),
    # Due mid-March, never completed: overdue at the end of Mar, Apr, May, Jun.
    dict(
        id="T2",
        partner_id=P1,
        learner_id="L2",
        course_id="C2",
        is_certification=False,
        enrolled_on=d("2024-02-01"),
        due_on=d("2024-03-15"),
        completed_on=None,
        passed=False,
    ),
    # Due 2024-04-01, completed 2024-05-05: overdue at the end of April only.
    dict(
        id="T3",
        partner_id=P1,
        learner_id="L3",
        course_id="C3",
        is_certification=False,
        enrolled_on=d("2024-03-01"),
        due_on=d("2024-04-01"),
        completed_on=d("2024-05-05"),
        passed=True,
    ),
]

MDF_CLAIMS = [
    dict(
        id="M1",
        partner_id=P1,
        requested_amount=1000.0,
        approved_amount=900.0,
        currency="EUR",
        status="paid",
        submitted_on=d("2024-02-05"),
        decided_on=d("2024-03-01"),
    ),
]

MDF_PAYMENTS = [
    dict(
        id=1,
        custrecord_mdf_partner=101,
        custrecord_mdf_claim="M1",
        custrecord_mdf_amount=900.0,
        custrecord_mdf_currency=EUR,
        custrecord_mdf_paid_date=d("2024-04-10"),
    ),
]

ASSET_USAGE = [
    dict(
        id="A1",
        partner_id=P1,
        asset_id="X",
        action="download",
        occurred_at=datetime(2024, 3, 3, 10),
    ),
    dict(
        id="A2",
        partner_id=P1,
        asset_id="X",
        action="download",
        occurred_at=datetime(2024, 3, 4, 10),
    ),
    dict(
        id="A3", partner_id=P1, asset_id="X", action="share", occurred_at=datetime(2024, 3, 5, 10)
    ),
]

BUSINESS_PLANS = [
    dict(
        id="BP1",
        partner_id=P1,
        period="2024-Q2",
        revenue_target=30000.0,
        deal_reg_target=10000.0,
        mdf_target=3000.0,
        certifications_target=2.0,
        currency="USD",
        updated_at=datetime(2024, 3, 20),
    ),
]

RAW_ROWS: dict[str, list[dict[str, Any]]] = {
    "raw_crm.account": ACCOUNTS,
    "raw_crm.opportunity": OPPORTUNITIES,
    "raw_crm.lead": LEADS,
    "raw_crm.deal_registration": DEAL_REGISTRATIONS,
    "raw_erp.partner": ERP_PARTNERS,
    "raw_erp.currency": CURRENCIES,
    "raw_erp.currencyrate": CURRENCY_RATES,
    "raw_erp.item": ITEMS,
    "raw_erp.transaction": TRANSACTIONS,
    "raw_erp.transactionline": _transaction_lines(),
    "raw_erp.customrecord_mdf_payment": MDF_PAYMENTS,
    "raw_portal.sales_reports": SALES_REPORTS,
    "raw_portal.sales_report_lines": _report_lines(),
    "raw_portal.trainings": TRAININGS,
    "raw_portal.mdf_claims": MDF_CLAIMS,
    "raw_portal.asset_usage": ASSET_USAGE,
    "raw_portal.business_plans": BUSINESS_PLANS,
    "raw_portal.pos_files": POS_FILES,
    "raw_portal.pos_report_lines": POS_LINES,
    "raw_portal.pos_quarantine": POS_QUARANTINE,
}


def _load_raw(warehouse: Path) -> None:
    """Create the raw schemas with the connectors' DDL and insert the rows above."""
    con = duckdb.connect(str(warehouse))
    try:
        for statement in create_all_ddl():
            con.execute(statement)
        for table_name, rows in RAW_ROWS.items():
            columns = [*ALL_TABLES[table_name].columns, "_sync_id", "_loaded_at"]
            quoted = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            values = [[row.get(c) for c in columns[:-2]] + ["test-sync", LOADED_AT] for row in rows]
            con.executemany(f"INSERT INTO {table_name} ({quoted}) VALUES ({marks})", values)
    finally:
        con.close()


def _dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if found is None:  # `make install` always installs dbt: a missing one is a broken setup
        raise RuntimeError("dbt is not installed in this environment: run `make install`")
    return found


def _run_dbt(
    args: list[str], warehouse: Path | str, work_dir: Path, **extra_env: str
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PARTNERPULSE_WAREHOUSE": str(warehouse),
        "PARTNERPULSE_AS_OF": AS_OF,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
        **extra_env,
    }
    command = [
        _dbt_executable(),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def _changed_copy(built_warehouse: Path, tmp_path: Path, sql: str, params: list) -> Path:
    """A copy of the built warehouse with one statement applied to it."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(sql, params)
    finally:
        con.close()
    return warehouse


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with the raw rows above and every dbt node built (one build per session)."""
    work_dir = tmp_path_factory.mktemp("dbt_build")
    warehouse = work_dir / "warehouse.duckdb"
    _load_raw(warehouse)
    started = time.monotonic()
    result = _run_dbt(["build"], warehouse, work_dir)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-8000:]}\n{result.stderr}"
    print(f"dbt build took {elapsed:.1f} s")
    return warehouse


@pytest.fixture(scope="session")
def marts(built_warehouse: Path):
    """A read-only connection to the built warehouse."""
    con = duckdb.connect(str(built_warehouse), read_only=True)
    yield con
    con.close()


def _rows(con, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _fct(con, partner: str, month: str) -> dict[str, Any]:
    rows = _rows(
        con,
        "select * from marts.fct_partner_months where partner_id = ? and month_start = ?",
        [partner, d(f"{month}-01")],
    )
    assert len(rows) == 1, (partner, month, rows)
    return rows[0]


def _rec(con, partner: str, month: str) -> dict[str, Any]:
    rows = _rows(
        con,
        "select * from marts.rpt_partner_reconciliation where partner_id = ? and month_start = ?",
        [partner, d(f"{month}-01")],
    )
    assert len(rows) == 1, (partner, month, rows)
    return rows[0]


approx = pytest.approx


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """One `dbt parse` (about 12 s of CPU) for the two tests below, with
    `PARTNERPULSE_WAREHOUSE` set but empty and a blank memory limit, as a careless `.env`
    leaves them: its result and target folder."""
    work = tmp_path_factory.mktemp("dbt_parse")
    result = _run_dbt(["parse"], "", work, PARTNERPULSE_DBT_MEMORY_LIMIT=" ")
    return result, work / "target"


def test_dbt_parse_writes_manifest(parsed: tuple[subprocess.CompletedProcess, Path]) -> None:
    result, target = parsed
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    manifest = json.loads((target / "manifest.json").read_text())
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {
        "fct_partner_months",
        "rpt_partner_reconciliation",
        "dim_partners",
        "rpt_data_quality_findings",
        "int_partner_months_spined",
    } <= models
    unit_tests = manifest.get("unit_tests", {})
    assert len(unit_tests) >= 5
    sources = {(s["source_name"], s["name"]): s for s in manifest["sources"].values()}
    assert len(sources) == len(ALL_TABLES)
    account = sources[("crm", "account")]
    assert account["config"]["meta"]["dagster"]["asset_key"] == ["crm", "accounts"]
    assert account["loaded_at_field"] == "_loaded_at"
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model":
            assert node["schema"] in {"staging", "intermediate", "marts", "validation"}, node[
                "name"
            ]


def test_dbt_parse_takes_an_empty_variable_as_unset(
    parsed: tuple[subprocess.CompletedProcess, Path],
) -> None:
    # `PARTNERPULSE_WAREHOUSE=` (set, empty) made `make install` fail in `dbt parse`, while
    # the pipeline's settings take an empty variable as unset.
    result, target = parsed
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert (target / "manifest.json").is_file()


def test_dbt_keeps_its_parse_when_today_or_the_runs_months_change(
    parsed: tuple[subprocess.CompletedProcess, Path], tmp_path: Path
) -> None:
    # The pipeline passes what changes from run to run (today, a month partition's months)
    # through the environment, which dbt's parse state survives: as dbt vars, each new day
    # and each month's run parsed the whole project again (about 6 s). Nor is the
    # environment read while dbt parses: dbt parses again every model whose parse read a
    # variable that changed, which made each new day parse the 13 models using today.
    result, target = parsed
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    shutil.copytree(target, tmp_path / "target")
    again = _run_dbt(
        ["parse"],
        "",
        tmp_path,
        PARTNERPULSE_DBT_MEMORY_LIMIT=" ",
        PARTNERPULSE_AS_OF="2024-06-16",
        PARTNERPULSE_DBT_MIN_MONTH="2024-06-01",
        PARTNERPULSE_DBT_MAX_MONTH="2024-06-01",
    )
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr
    assert "Unable to do partial parsing" not in again.stdout, again.stdout[-4000:]
    log = (tmp_path / "logs" / "dbt.log").read_text()
    assert "Partial parsing enabled: 0 files deleted, 0 files added, 0 files changed" in log, [
        line for line in log.splitlines() if "Partial parsing" in line
    ]


def test_the_project_parses_to_the_same_nodes_on_both_engines(
    parsed: tuple[subprocess.CompletedProcess, Path], tmp_path: Path
) -> None:
    # Dagster's assets and checks come from the manifest parsed at install (DuckDB's
    # target); a node whose id depended on the engine (a column test of a column the engine
    # quotes, for one) would be a result Dagster cannot place on Spark.
    result, target = parsed
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    on_spark = _run_dbt(["parse"], "", tmp_path, PARTNERPULSE_ENGINE="spark")
    assert on_spark.returncode == 0, on_spark.stdout[-4000:] + on_spark.stderr

    def nodes(folder: Path) -> set[str]:
        manifest = json.loads((folder / "manifest.json").read_text())
        return {*manifest["nodes"], *manifest["sources"], *manifest.get("unit_tests", {})}

    assert nodes(tmp_path / "target") == nodes(target)


def test_spine_holds_every_partner_month(marts) -> None:
    rows = _rows(
        marts,
        "select partner_id, count(*) as months, min(month_start) as first_month, "
        "max(month_start) as last_month from marts.fct_partner_months group by partner_id",
    )
    spans = {r["partner_id"]: (r["months"], r["first_month"], r["last_month"]) for r in rows}
    assert spans == {
        P1: (6, d("2024-01-01"), d("2024-06-01")),
        P2: (3, d("2024-02-01"), d("2024-04-01")),  # terminated 2024-04-20, April included
        P3: (4, d("2024-03-01"), d("2024-06-01")),
        P5: (2, d("2024-05-01"), d("2024-06-01")),
    }
    recon = marts.execute("select count(*) from marts.rpt_partner_reconciliation").fetchall()
    assert recon == [(15,)]


def test_sales_volume_units_and_margin(marts) -> None:
    jan = _fct(marts, P1, "2024-01")
    assert jan["sales_volume_usd"] == approx(1000.0)  # main and tax lines left out
    assert jan["units_sold"] == approx(10)
    assert jan["gross_margin_usd"] == approx(1000 - 10 * 40)
    # May: one credit memo of 5 x SKU-A for 500; the voided 10,000 invoice counts nowhere.
    may = _fct(marts, P1, "2024-05")
    assert may["sales_volume_usd"] == approx(-500.0)
    assert may["units_sold"] == approx(-5)
    assert may["gross_margin_usd"] == approx(-500 + 5 * 40)
    # EUR invoices convert with their own exchange rate.
    assert _fct(marts, P3, "2024-03")["sales_volume_usd"] == approx(1000 * 1.09)
    assert _fct(marts, P3, "2024-05")["sales_volume_usd"] == approx(1000 * 1.10)
    # Months without activity hold zeros, not NULLs.
    feb_p2 = _fct(marts, P2, "2024-02")
    assert (feb_p2["sales_volume_usd"], feb_p2["units_sold"]) == (0, 0)
    assert feb_p2["reported_sales_usd"] is None


def test_month_over_month_and_ratios(marts) -> None:
    assert _fct(marts, P1, "2024-01")["sales_volume_mom_pct"] is None  # first spine month
    assert _fct(marts, P1, "2024-02")["sales_volume_mom_pct"] == approx(2000 / 1000 - 1)
    assert _fct(marts, P1, "2024-06")["sales_volume_mom_pct"] == approx(800 / -500 - 1)
    assert _fct(marts, P2, "2024-03")["sales_volume_mom_pct"] is None  # previous month is 0
    assert _fct(marts, P1, "2024-03")["sales_volume_yoy_pct"] is None
    assert _fct(marts, P1, "2024-03")["is_sales_anomaly"] is False


def test_reported_sales_use_the_effective_report(marts) -> None:
    # February: revision 3 is withdrawn, so revision 2 (1000 + 990) is effective.
    feb = _fct(marts, P1, "2024-02")
    assert feb["reported_sales_usd"] == approx(1990.0)
    assert feb["effective_report_revision"] == 2
    # March of P3: a POS file in EUR at March's rate.
    assert _fct(marts, P3, "2024-03")["reported_sales_usd"] == approx((600 + 400) * 1.09)
    # April of P3: API revision 2 is withdrawn and clashes with the POS file revision 2; the
    # API wins, so the file does not count and revision 1 is effective.
    apr = _fct(marts, P3, "2024-04")
    assert apr["reported_sales_usd"] == approx(2000 * 1.07)
    assert (apr["effective_report_revision"], apr["effective_report_source"]) == (1, "api")
    # June of P1: the only report is a rejected POS file: no effective report.
    assert _fct(marts, P1, "2024-06")["reported_sales_usd"] is None


def test_reconciliation_statuses(marts) -> None:
    expected = {
        (P1, "2024-01"): "matched",
        (P1, "2024-02"): "matched",  # 1990 vs 2000: 10 USD off
        (P1, "2024-03"): "timing_difference",  # 1000 vs 3000, with April 4000 vs 4000
        (P1, "2024-04"): "timing_difference",  # 3000 vs 1000, with March
        (P1, "2024-05"): "matched",  # -480 vs -500: 20 USD off (4 %)
        (P1, "2024-06"): "awaiting_report",  # due 2024-07-10
        (P2, "2024-02"): "no_activity",
        (P2, "2024-03"): "missing_report",  # due 2024-04-10, as_of 2024-06-15
        (P2, "2024-04"): "no_erp_sales",  # May is off the spine: no pair with it
        (P3, "2024-03"): "matched",
        (P3, "2024-04"): "matched",
        (P3, "2024-05"): "over_reported",
        (P3, "2024-06"): "no_activity",
        (P5, "2024-05"): "under_reported",
        (P5, "2024-06"): "awaiting_report",
    }
    rows = _rows(
        marts, "select partner_id, month_start, status from marts.rpt_partner_reconciliation"
    )
    actual = {(r["partner_id"], r["month_start"].isoformat()[:7]): r["status"] for r in rows}
    assert actual == expected


def test_reconciliation_amounts(marts) -> None:
    may = _rec(marts, P1, "2024-05")
    assert may["erp_sales_usd"] == approx(-500.0)
    assert may["variance_usd"] == approx(20.0)
    assert may["variance_pct"] == approx(20.0 / -500.0)
    missing = _rec(marts, P2, "2024-03")
    assert missing["reported_sales_usd"] is None
    assert missing["variance_usd"] == approx(-1200.0)  # a missing report counts as 0
    assert missing["variance_pct"] == approx(-1.0)
    assert missing["is_report_due"] is True
    assert missing["report_due_date"] == d("2024-04-10")
    no_erp = _rec(marts, P2, "2024-04")
    assert no_erp["variance_usd"] == approx(700.0)
    assert no_erp["variance_pct"] is None  # ERP sales are 0
    awaiting = _rec(marts, P1, "2024-06")
    assert awaiting["is_report_due"] is False
    assert awaiting["report_due_date"] == d("2024-07-10")
    over = _rec(marts, P3, "2024-05")
    assert over["variance_usd"] == approx(5000 * 1.10 - 1000 * 1.10)


def test_crm_and_portal_measures(marts) -> None:
    mar = _fct(marts, P1, "2024-03")
    # Sourced: O1 by role, O2 by its approved deal registration (EUR at March's rate).
    assert mar["partner_sourced_revenue_usd"] == approx(5000 + 1000 * 1.09)
    assert mar["partner_influenced_revenue_usd"] == approx(2000.0)
    assert mar["partner_led_revenue_usd"] == approx(5000 + 1000 * 1.09 + 2000)
    assert (mar["opportunities_won"], mar["opportunities_lost"]) == (3, 1)
    assert mar["win_rate"] == approx(0.75)
    assert mar["avg_won_deal_usd"] == approx((5000 + 1090 + 2000) / 3)
    assert mar["avg_days_to_close"] == approx((55 + 48 + 24) / 3)
    assert mar["opportunities_created"] == 1  # O3 (O5 is deleted)
    feb = _fct(marts, P1, "2024-02")
    assert feb["pipeline_created_usd"] == approx(1000 * 1.08 + 3000)
    assert feb["win_rate"] is None
    assert (feb["mqls"], mar["sqls"], _fct(marts, P1, "2024-01")["leads_created"]) == (1, 1, 1)
    jan = _fct(marts, P1, "2024-01")
    assert jan["deal_regs_submitted"] == 1
    assert jan["deal_reg_value_submitted_usd"] == approx(1000 * 1.10)
    assert (jan["deal_regs_approved"], feb["deal_regs_rejected"]) == (1, 1)
    assert feb["mdf_requested_usd"] == approx(1000 * 1.08)
    assert (mar["mdf_claims_approved"], mar["mdf_approved_usd"]) == (1, approx(900 * 1.09))
    apr = _fct(marts, P1, "2024-04")
    assert apr["mdf_paid_usd"] == approx(900 * 1.07)
    assert [
        _fct(marts, P1, m)["active_certifications"]
        for m in ("2024-01", "2024-02", "2024-03", "2024-04")
    ] == [0, 1, 1, 0]
    assert [
        _fct(marts, P1, m)["overdue_trainings"]
        for m in ("2024-02", "2024-03", "2024-04", "2024-05", "2024-06")
    ] == [0, 1, 2, 1, 1]
    assert (feb["courses_completed"], feb["certifications_earned"]) == (1, 1)
    assert (mar["asset_downloads"], mar["asset_shares"], mar["asset_cobrands"]) == (2, 1, 0)
    assert mar["revenue_target_usd"] is None
    assert apr["revenue_target_usd"] == approx(10000.0)
    assert apr["revenue_attainment"] == approx(1000 / 10000)


def test_data_quality_findings(marts) -> None:
    rows = _rows(marts, "select * from marts.rpt_data_quality_findings")
    found = {(r["finding_type"], r["record_id"]): r for r in rows}
    unmapped = found[("erp_partner_unmapped", "104")]
    assert unmapped["severity"] == "error"
    assert unmapped["amount_usd"] == approx(777.0)
    outside = found[("erp_sales_outside_partnership", f"{P2}|2024-05-01")]
    assert outside["amount_usd"] == approx(700.0)
    assert ("erp_partner_external_id_mismatch", "103") in found
    assert ("report_api_csv_clash", f"pos_{P3}_2024-04_r2.csv") in found
    assert ("report_unknown_partner", "R-UNKNOWN") in found
    rejected = found[("pos_file_rejected", f"pos_{P1}_2024-06.csv")]
    assert "amount is not a number" in rejected["detail"]
    assert ("report_line_unknown_sku", "R-P2-04|1") in found
    assert ("report_line_unknown_invoice_ref", "R-P3-05|1") in found
    # Mapped partners and their in-spine sales raise nothing.
    assert not any(
        t == "erp_partner_unmapped" and r in {"101", "102", "103", "105"} for t, r in found
    )


def test_a_picklist_value_the_map_does_not_cover_is_named_by_a_warning_test(
    built_warehouse: Path, tmp_path: Path
) -> None:
    """An org value added after the last `config check` passes through staging and the
    `org_values_mapped` test names it, as a warning (one odd record stops nothing)."""
    warehouse = _changed_copy(
        built_warehouse,
        tmp_path,
        "update raw_crm.account set partner_tier__c = 'Diamond' where id = ?",
        [P1],
    )
    result = _run_dbt(["build", "--select", "stg_crm__accounts"], warehouse, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    run_results = json.loads((tmp_path / "target" / "run_results.json").read_text())
    by_id = {r["unique_id"]: r for r in run_results["results"]}
    (tier,) = [r for i, r in by_id.items() if "org_values_mapped" in i and "partner_tier" in i]
    assert (tier["status"], tier["failures"]) == ("warn", 1)
    others = [r for i, r in by_id.items() if "org_values_mapped" in i and r is not tier]
    assert len(others) == 3 and all(r["status"] == "pass" for r in others)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tiers = con.execute(
            "select partner_tier from staging.stg_crm__accounts where account_id = ?", [P1]
        ).fetchall()
    finally:
        con.close()
    assert tiers == [("Diamond",)]


def test_a_null_in_a_column_that_must_have_values_fails_the_models_one_null_test_naming_it(
    built_warehouse: Path, tmp_path: Path
) -> None:
    """Each model's columns that must never be NULL are one `not_null_columns` test (one
    node, one scan); a NULL fails it with one row per column that holds NULLs."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "update marts.fct_partner_months set units_sold = null where partner_id = ?", [P1]
        )
        con.execute("update marts.fct_partner_months set mqls = null where partner_id = ?", [P2])
        nulls = con.execute(
            "select count(*) filter (where units_sold is null), "
            "count(*) filter (where mqls is null) from marts.fct_partner_months"
        ).fetchone()
    finally:
        con.close()
    result = _run_dbt(
        ["test", "--select", "fct_partner_months,test_name:not_null_columns", "--store-failures"],
        warehouse,
        tmp_path,
    )
    assert result.returncode == 1, result.stdout[-4000:]
    (run,) = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    assert (run["status"], run["failures"]) == ("fail", 2)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        relation = run["relation_name"]
        failures = dict(con.execute(f"select column_name, null_rows from {relation}").fetchall())
    finally:
        con.close()
    assert failures == {"units_sold": nulls[0], "mqls": nulls[1]}


def test_an_erp_partner_id_that_is_not_a_number_is_a_finding_not_a_failed_build(
    built_warehouse: Path, tmp_path: Path
) -> None:
    """`ERP_Partner_Id__c` is free text in the CRM: a value that is not a number stages as
    NULL (dbt's safe_cast, which dbt-duckdb leaves a plain cast) and is named as a
    `crm_erp_partner_id_invalid` finding; the build goes on."""
    warehouse = _changed_copy(
        built_warehouse,
        tmp_path,
        "update raw_crm.account set erp_partner_id__c = 'N/A' where id = ?",
        [P5],
    )
    result = _run_dbt(
        ["build", "--select", "stg_crm__accounts", "rpt_data_quality_findings"], warehouse, tmp_path
    )
    assert result.returncode == 0, result.stdout[-4000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        staged = con.execute(
            "select erp_partner_id from staging.stg_crm__accounts where account_id = ?", [P5]
        ).fetchall()
        findings = con.execute(
            "select record_id from marts.rpt_data_quality_findings "
            "where finding_type = 'crm_erp_partner_id_invalid'"
        ).fetchall()
    finally:
        con.close()
    assert staged == [(None,)]
    assert findings == [(P5,)]


# --------------------------------------------------------------------------------------
# The reconciliations stored month by month (docs/models.md, decision 31)
# --------------------------------------------------------------------------------------

MONTH_MARTS = ("rpt_partner_invoice_reconciliation", "rpt_partner_sku_reconciliation")
MONTH_MARTS_AND_PARENTS = [f"+{mart}" for mart in MONTH_MARTS]


def _month_rows(warehouse: Path, mart: str) -> dict[str, list[tuple]]:
    """A mart's rows by month (its bookkeeping column left out), sorted, floats rounded."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = _rows(con, f"select * exclude (_month_inputs_digest) from marts.{mart}")
    finally:
        con.close()
    by_month: dict[str, list[tuple]] = {}
    for row in rows:
        values = tuple(round(v, 6) if isinstance(v, float) else v for v in row.values())
        by_month.setdefault(row["month_start"].isoformat()[:7], []).append(values)
    return {month: sorted(values, key=repr) for month, values in sorted(by_month.items())}


def _built_after(
    built_warehouse: Path,
    work: Path,
    changes: list[tuple[str, list]],
    *,
    full_refresh: bool,
    tamper: dict[str, str] | None = None,
    **env: str,
) -> Path:
    """A copy of the built warehouse with `changes` applied to its raw tables (and, before
    the build, the months of `tamper` ({mart: 'YYYY-MM'}) marked in the stored marts), the
    two reconciliations and their parents built again, incrementally or from scratch."""
    work.mkdir()
    warehouse = work / "warehouse.duckdb"
    shutil.copy(built_warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        for sql, params in changes:
            con.execute(sql, params)
        for mart, month in (tamper or {}).items():
            con.execute(
                f"update marts.{mart} set status = 'tampered' "
                "where strftime(month_start, '%Y-%m') = ?",
                [month],
            )
    finally:
        con.close()
    args = ["run", "--select", *MONTH_MARTS_AND_PARENTS]
    result = _run_dbt([*args, "--full-refresh"] if full_refresh else args, warehouse, work, **env)
    assert result.returncode == 0, result.stdout[-4000:]
    return warehouse


def _incremental_and_full(
    built_warehouse: Path, tmp_path: Path, changes: list[tuple[str, list]], **kwargs: Any
) -> tuple[dict[str, dict], dict[str, dict]]:
    incremental = _built_after(
        built_warehouse, tmp_path / "inc", changes, full_refresh=False, **kwargs
    )
    kwargs.pop("tamper", None)
    full = _built_after(built_warehouse, tmp_path / "full", changes, full_refresh=True, **kwargs)
    return (
        {mart: _month_rows(incremental, mart) for mart in MONTH_MARTS},
        {mart: _month_rows(full, mart) for mart in MONTH_MARTS},
    )


def test_the_reconciliations_rebuild_the_months_a_change_reaches_and_no_other(
    built_warehouse: Path, tmp_path: Path
) -> None:
    """CM-5, the credit memo P1's May report quotes, is re-dated to April as a sync would
    land it, and a day passes June's due date. May's invoice reconciliation is built again
    (an invoice it quotes changed, now dated in another month), and the SKU reconciliation
    of February to July (units moved from May to April; March's partner-month, whose
    timing difference looks at April; June's reports became due; and each month's
    neighbours), equal to a build from scratch. The months nothing reached keep their
    stored rows: marked before the build, they are still marked."""
    before = {mart: _month_rows(built_warehouse, mart) for mart in MONTH_MARTS}
    changes = [
        (
            "update raw_erp.transaction set trandate = date '2024-04-28', "
            "_loaded_at = _loaded_at + interval 1 day where id = 5",
            [],
        ),
        (
            "update raw_erp.transactionline set _loaded_at = _loaded_at + interval 1 day "
            "where transaction = 5",
            [],
        ),
    ]
    tamper = {
        "rpt_partner_invoice_reconciliation": "2024-01",
        "rpt_partner_sku_reconciliation": "2024-01",
    }
    incremental, full = _incremental_and_full(
        built_warehouse, tmp_path, changes, tamper=tamper, PARTNERPULSE_AS_OF="2024-07-11"
    )
    for mart, month in tamper.items():
        assert {row[-1] for row in incremental[mart].pop(month)} == {"tampered"}, mart
        assert full[mart].pop(month) == before[mart][month]
    assert incremental == full
    (may,) = full["rpt_partner_invoice_reconciliation"]["2024-05"][:1]
    assert may != before["rpt_partner_invoice_reconciliation"]["2024-05"][0]
    changed = sorted(
        month
        for month, rows in full["rpt_partner_sku_reconciliation"].items()
        if rows != before["rpt_partner_sku_reconciliation"].get(month)
    )
    assert changed == ["2024-03", "2024-04", "2024-05", "2024-06"]


def test_a_withdrawn_report_takes_its_months_rows_with_it(
    built_warehouse: Path, tmp_path: Path
) -> None:
    """P1's January report, the only one quoting an invoice that month, is withdrawn: the
    incremental build leaves January without invoice-reconciliation rows (a delete+insert on
    the month would have kept them: no new row names the month), as a build from scratch."""
    changes = [
        ("update raw_portal.sales_reports set status = 'withdrawn' where id = 'R-P1-01'", [])
    ]
    incremental, full = _incremental_and_full(built_warehouse, tmp_path, changes)
    assert "2024-01" in _month_rows(built_warehouse, "rpt_partner_invoice_reconciliation")
    assert "2024-01" not in incremental["rpt_partner_invoice_reconciliation"]
    assert incremental == full


def test_a_partner_mapping_change_rebuilds_every_month_it_reaches(
    built_warehouse: Path, tmp_path: Path
) -> None:
    """P1's CRM account is mapped to ERP partner 102 (P2's) instead of 101: no row of a
    month's facts changed in the ERP or the portal, yet every month of both partners reads
    differently (P1's invoices now belong to another partner; the units move), and the
    incremental build gives what a build from scratch gives."""
    changes = [("update raw_crm.account set erp_partner_id__c = '102' where id = ?", [P1])]
    incremental, full = _incremental_and_full(built_warehouse, tmp_path, changes)
    before = _month_rows(built_warehouse, "rpt_partner_invoice_reconciliation")
    assert full["rpt_partner_invoice_reconciliation"] != before
    assert incremental == full


def test_a_month_joining_the_spine_rebuilds_its_neighbour(
    built_warehouse: Path, tmp_path: Path
) -> None:
    """P1 becomes a partner a month earlier: December joins its spine without any sales or
    report, and January's matched SKU rows now have a previous month (their
    `is_within_tolerance_with_previous_month` turns true). The incremental build rewrites
    January, as a build from scratch does."""
    changes = [
        ("update raw_crm.account set partner_since__c = date '2023-12-01' where id = ?", [P1])
    ]
    incremental, full = _incremental_and_full(built_warehouse, tmp_path, changes)
    before = _month_rows(built_warehouse, "rpt_partner_sku_reconciliation")
    assert full["rpt_partner_sku_reconciliation"]["2024-01"] != before["2024-01"]
    assert incremental == full
