"""The raw layer's tables: names, typed columns, primary keys and watermark columns.

This is the one description of the raw schemas. The loader (`warehouse.py`) creates and
merges tables from it, and the connectors type their rows to it. `docs/warehouse.md`
explains the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass

LINEAGE_COLUMNS: dict[str, str] = {"_sync_id": "VARCHAR", "_loaded_at": "TIMESTAMP"}


@dataclass(frozen=True)
class RawTable:
    """A raw table: `schema.name`, its typed columns, primary key and watermark column."""

    schema: str
    name: str
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    watermark: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def ddl(self) -> str:
        cols = {**self.columns, **LINEAGE_COLUMNS}
        body = ",\n    ".join(f'"{c}" {t}' for c, t in cols.items())
        return f"CREATE TABLE IF NOT EXISTS {self.qualified_name} (\n    {body}\n)"


def _t(
    schema: str, name: str, pk: tuple[str, ...], watermark: str | None, columns: str
) -> RawTable:
    parsed: dict[str, str] = {}
    for part in columns.split(","):
        col, _, typ = part.strip().partition(" ")
        parsed[col] = typ.strip() or "VARCHAR"
    return RawTable(schema, name, parsed, pk, watermark)


CRM_TABLES: dict[str, RawTable] = {
    t.name: t
    for t in [
        _t(
            "raw_crm",
            "account",
            ("id",),
            "systemmodstamp",
            """
            id, name, type, ispartner BOOLEAN, billingcountry, region__c, industry,
            partner_tier__c, partner_type__c, specialization__c, partner_since__c DATE,
            partner_status__c, terminated_on__c DATE, recruitment_cost__c DOUBLE,
            erp_partner_id__c, createddate TIMESTAMP, systemmodstamp TIMESTAMP,
            isdeleted BOOLEAN""",
        ),
        _t(
            "raw_crm",
            "opportunity",
            ("id",),
            "systemmodstamp",
            """
            id, name, accountid, partneraccountid, partner_role__c, deal_registration__c,
            campaignid, stagename, isclosed BOOLEAN, iswon BOOLEAN, amount DOUBLE,
            currencyisocode, probability DOUBLE, product_line__c, createddate TIMESTAMP,
            closedate DATE, systemmodstamp TIMESTAMP, isdeleted BOOLEAN""",
        ),
        _t(
            "raw_crm",
            "lead",
            ("id",),
            "systemmodstamp",
            """
            id, partneraccountid, status, leadsource, campaignid, mql_date__c DATE,
            sql_date__c DATE, converteddate DATE, convertedopportunityid,
            createddate TIMESTAMP, systemmodstamp TIMESTAMP, isdeleted BOOLEAN""",
        ),
        _t(
            "raw_crm",
            "deal_registration",
            ("id",),
            "systemmodstamp",
            """
            id, partner_account__c, end_customer__c, product_line__c,
            estimated_amount__c DOUBLE, currencyisocode, status__c, submitted_date__c DATE,
            decision_date__c DATE, expiration_date__c DATE, opportunity__c,
            systemmodstamp TIMESTAMP, isdeleted BOOLEAN""",
        ),
        _t(
            "raw_crm",
            "campaign",
            ("id",),
            "systemmodstamp",
            """
            id, name, partner_account__c, type, startdate DATE, enddate DATE,
            actualcost DOUBLE, currencyisocode, systemmodstamp TIMESTAMP, isdeleted BOOLEAN""",
        ),
    ]
}

ERP_TABLES: dict[str, RawTable] = {
    t.name: t
    for t in [
        _t(
            "raw_erp",
            "partner",
            ("id",),
            "lastmodifieddate",
            """
            id BIGINT, entityid, companyname, externalid, isinactive BOOLEAN,
            lastmodifieddate TIMESTAMP""",
        ),
        _t(
            "raw_erp",
            "customer",
            ("id",),
            "lastmodifieddate",
            """
            id BIGINT, entityid, companyname, lastmodifieddate TIMESTAMP""",
        ),
        _t("raw_erp", "classification", ("id",), None, "id BIGINT, name"),
        _t(
            "raw_erp",
            "item",
            ("id",),
            "lastmodifieddate",
            """
            id BIGINT, itemid, displayname, class BIGINT, cost DOUBLE,
            lastmodifieddate TIMESTAMP""",
        ),
        _t("raw_erp", "currency", ("id",), None, "id BIGINT, symbol"),
        _t(
            "raw_erp",
            "currencyrate",
            ("id",),
            None,
            """
            id BIGINT, basecurrency BIGINT, transactioncurrency BIGINT, exchangerate DOUBLE,
            effectivedate DATE""",
        ),
        _t(
            "raw_erp",
            "transaction",
            ("id",),
            "lastmodifieddate",
            """
            id BIGINT, tranid, type, trandate DATE, entity BIGINT, partner BIGINT,
            currency BIGINT, exchangerate DOUBLE, status, memo, lastmodifieddate TIMESTAMP""",
        ),
        _t(
            "raw_erp",
            "transactionline",
            ("transaction", "id"),
            "lastmodifieddate",
            """
            transaction BIGINT, id BIGINT, linesequencenumber INTEGER, item BIGINT,
            quantity DOUBLE, rate DOUBLE, netamount DOUBLE, mainline BOOLEAN, taxline BOOLEAN,
            lastmodifieddate TIMESTAMP""",
        ),
        _t(
            "raw_erp",
            "customrecord_mdf_payment",
            ("id",),
            "lastmodifieddate",
            """
            id BIGINT, custrecord_mdf_partner BIGINT, custrecord_mdf_claim,
            custrecord_mdf_amount DOUBLE, custrecord_mdf_currency BIGINT,
            custrecord_mdf_paid_date DATE, lastmodifieddate TIMESTAMP""",
        ),
    ]
}

PORTAL_TABLES: dict[str, RawTable] = {
    t.name: t
    for t in [
        _t(
            "raw_portal",
            "sales_reports",
            ("id",),
            "updated_at",
            """
            id, partner_id, period, revision INTEGER, status, currency,
            submitted_at TIMESTAMP, updated_at TIMESTAMP""",
        ),
        _t(
            "raw_portal",
            "sales_report_lines",
            ("report_id", "line_no"),
            None,
            """
            report_id, line_no INTEGER, sku, quantity DOUBLE, amount DOUBLE, end_customer,
            invoice_ref, sold_on DATE""",
        ),
        _t(
            "raw_portal",
            "trainings",
            ("id",),
            "updated_at",
            """
            id, partner_id, learner_id, course_id, course_name, is_certification BOOLEAN,
            enrolled_on DATE, due_on DATE, completed_on DATE, passed BOOLEAN,
            expires_on DATE, updated_at TIMESTAMP""",
        ),
        _t(
            "raw_portal",
            "mdf_claims",
            ("id",),
            "updated_at",
            """
            id, partner_id, campaign_id, requested_amount DOUBLE, approved_amount DOUBLE,
            currency, status, submitted_on DATE, decided_on DATE, denial_reason,
            updated_at TIMESTAMP""",
        ),
        _t(
            "raw_portal",
            "asset_usage",
            ("id",),
            "updated_at",
            """
            id, partner_id, asset_id, asset_type, action, occurred_at TIMESTAMP,
            updated_at TIMESTAMP""",
        ),
        _t(
            "raw_portal",
            "business_plans",
            ("id",),
            "updated_at",
            """
            id, partner_id, period, revenue_target DOUBLE, deal_reg_target DOUBLE,
            mdf_target DOUBLE, certifications_target DOUBLE, currency, updated_at TIMESTAMP""",
        ),
        _t(
            "raw_portal",
            "pos_files",
            ("file_name",),
            None,
            """
            file_name, partner_id, period, revision INTEGER, status, rows_read INTEGER,
            rows_loaded INTEGER, rows_quarantined INTEGER, content_sha256,
            file_modified_at TIMESTAMP, reason""",
        ),
        _t(
            "raw_portal",
            "pos_report_lines",
            ("file_name", "row_number"),
            None,
            """
            file_name, row_number INTEGER, partner_id, period, revision INTEGER, sku,
            quantity DOUBLE, amount DOUBLE, currency, end_customer, invoice_ref, sold_on DATE""",
        ),
        _t(
            "raw_portal",
            "pos_quarantine",
            ("file_name", "row_number"),
            None,
            """
            file_name, row_number INTEGER, raw_row, reason""",
        ),
    ]
}

OPS_DDL = [
    "CREATE SCHEMA IF NOT EXISTS ops",
    """CREATE TABLE IF NOT EXISTS ops.sync_runs (
        sync_id VARCHAR PRIMARY KEY, source VARCHAR, object VARCHAR, status VARCHAR,
        started_at TIMESTAMP, finished_at TIMESTAMP, duration_s DOUBLE,
        rows_read BIGINT, rows_merged BIGINT, rows_quarantined BIGINT,
        watermark_before TIMESTAMP, watermark_after TIMESTAMP, error VARCHAR,
        watermark_clamped_from TIMESTAMP)""",
    # Warehouses created before the column existed get it last too (a no-op once it does).
    "ALTER TABLE ops.sync_runs ADD COLUMN IF NOT EXISTS watermark_clamped_from TIMESTAMP",
    """CREATE TABLE IF NOT EXISTS ops.watermarks (
        source VARCHAR, object VARCHAR, watermark TIMESTAMP, sync_id VARCHAR,
        updated_at TIMESTAMP, PRIMARY KEY (source, object))""",
    # Great Expectations results, written by the asset checks (orchestration/checks/gx.py):
    # per run and expectation one summary row (partner_id and month_start NULL), plus one
    # row per failing partner-month (detail: JSON text with the row's amounts and reasons).
    """CREATE TABLE IF NOT EXISTS ops.validation_results (
        run_id VARCHAR NOT NULL, validated_at TIMESTAMP NOT NULL, checkpoint VARCHAR NOT NULL,
        suite VARCHAR, asset_key VARCHAR, check_name VARCHAR, expectation VARCHAR,
        expectation_type VARCHAR, column_name VARCHAR, finding VARCHAR, severity VARCHAR,
        success BOOLEAN, partner_id VARCHAR, month_start DATE, element_count BIGINT,
        unexpected_count BIGINT, detail VARCHAR)""",
]

ALL_TABLES: dict[str, RawTable] = {
    t.qualified_name: t for group in (CRM_TABLES, ERP_TABLES, PORTAL_TABLES) for t in group.values()
}


def create_all_ddl() -> list[str]:
    """Every statement that creates the raw and ops schemas and tables, idempotently."""
    schemas = sorted({t.schema for t in ALL_TABLES.values()})
    return (
        [f"CREATE SCHEMA IF NOT EXISTS {s}" for s in schemas]
        + [t.ddl() for t in ALL_TABLES.values()]
        + OPS_DDL
    )
