"""The tables of `world.duckdb`: every source table in its source's own shape.

Column names are exactly the source's (Salesforce fields case-preserved, NetSuite
lowercase); types are native DuckDB types, the servers do the wire formatting.
"""

from __future__ import annotations


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    out = []
    for part in spec.split(","):
        name, _, typ = part.strip().partition(" ")
        out.append((name, typ.strip() or "VARCHAR"))
    return tuple(out)


WORLD_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "crm.account": _cols(
        """Id, Name, Type, IsPartner BOOLEAN, BillingCountry, Region__c, Industry,
        Partner_Tier__c, Partner_Type__c, Specialization__c, Partner_Since__c DATE,
        Partner_Status__c, Terminated_On__c DATE, Recruitment_Cost__c DOUBLE,
        ERP_Partner_Id__c, CreatedDate TIMESTAMP, SystemModstamp TIMESTAMP,
        IsDeleted BOOLEAN"""
    ),
    "crm.opportunity": _cols(
        """Id, Name, AccountId, PartnerAccountId, Partner_Role__c, Deal_Registration__c,
        CampaignId, StageName, IsClosed BOOLEAN, IsWon BOOLEAN, Amount DOUBLE,
        CurrencyIsoCode, Probability DOUBLE, Product_Line__c, CreatedDate TIMESTAMP,
        CloseDate DATE, SystemModstamp TIMESTAMP, IsDeleted BOOLEAN"""
    ),
    "crm.lead": _cols(
        """Id, PartnerAccountId, Status, LeadSource, CampaignId, MQL_Date__c DATE,
        SQL_Date__c DATE, ConvertedDate DATE, ConvertedOpportunityId,
        CreatedDate TIMESTAMP, SystemModstamp TIMESTAMP, IsDeleted BOOLEAN"""
    ),
    "crm.deal_registration__c": _cols(
        """Id, Partner_Account__c, End_Customer__c, Product_Line__c,
        Estimated_Amount__c DOUBLE, CurrencyIsoCode, Status__c, Submitted_Date__c DATE,
        Decision_Date__c DATE, Expiration_Date__c DATE, Opportunity__c,
        SystemModstamp TIMESTAMP, IsDeleted BOOLEAN"""
    ),
    "crm.campaign": _cols(
        """Id, Name, Partner_Account__c, Type, StartDate DATE, EndDate DATE,
        ActualCost DOUBLE, CurrencyIsoCode, SystemModstamp TIMESTAMP, IsDeleted BOOLEAN"""
    ),
    "erp.partner": _cols(
        """id BIGINT, entityid, companyname, externalid, isinactive,
        lastmodifieddate TIMESTAMP"""
    ),
    "erp.customer": _cols("id BIGINT, entityid, companyname, lastmodifieddate TIMESTAMP"),
    "erp.classification": _cols("id BIGINT, name"),
    "erp.item": _cols(
        "id BIGINT, itemid, displayname, class BIGINT, cost DOUBLE, lastmodifieddate TIMESTAMP"
    ),
    "erp.currency": _cols("id BIGINT, symbol"),
    "erp.currencyrate": _cols(
        """id BIGINT, basecurrency BIGINT, transactioncurrency BIGINT, exchangerate DOUBLE,
        effectivedate DATE"""
    ),
    "erp.transaction": _cols(
        """id BIGINT, tranid, type, trandate DATE, entity BIGINT, partner BIGINT,
        currency BIGINT, exchangerate DOUBLE, status, memo, lastmodifieddate TIMESTAMP"""
    ),
    "erp.transactionline": _cols(
        """id BIGINT, transaction BIGINT, linesequencenumber INTEGER, item BIGINT,
        quantity DOUBLE, rate DOUBLE, netamount DOUBLE, mainline, taxline,
        lastmodifieddate TIMESTAMP"""
    ),
    "erp.customrecord_mdf_payment": _cols(
        """id BIGINT, custrecord_mdf_partner BIGINT, custrecord_mdf_claim,
        custrecord_mdf_amount DOUBLE, custrecord_mdf_currency BIGINT,
        custrecord_mdf_paid_date DATE, lastmodifieddate TIMESTAMP"""
    ),
    "portal.sales_reports": _cols(
        """id, partner_id, period, revision INTEGER, status, currency,
        submitted_at TIMESTAMP, updated_at TIMESTAMP"""
    ),
    "portal.sales_report_lines": _cols(
        """report_id, line_no INTEGER, sku, quantity DOUBLE, amount DOUBLE, end_customer,
        invoice_ref, sold_on DATE"""
    ),
    "portal.trainings": _cols(
        """id, partner_id, learner_id, course_id, course_name, is_certification BOOLEAN,
        enrolled_on DATE, due_on DATE, completed_on DATE, passed BOOLEAN, expires_on DATE,
        updated_at TIMESTAMP"""
    ),
    "portal.mdf_claims": _cols(
        """id, partner_id, campaign_id, requested_amount DOUBLE, approved_amount DOUBLE,
        currency, status, submitted_on DATE, decided_on DATE, denial_reason,
        updated_at TIMESTAMP"""
    ),
    "portal.asset_usage": _cols(
        """id, partner_id, asset_id, asset_type, action, occurred_at TIMESTAMP,
        updated_at TIMESTAMP"""
    ),
    "portal.business_plans": _cols(
        """id, partner_id, period, revenue_target DOUBLE, deal_reg_target DOUBLE,
        mdf_target DOUBLE, certifications_target DOUBLE, currency, updated_at TIMESTAMP"""
    ),
}

POS_HEADER = (
    "partner_id",
    "period",
    "sku",
    "quantity",
    "amount",
    "currency",
    "end_customer",
    "invoice_ref",
    "sold_on",
)


def qualified(table: str) -> str:
    """`schema.table` with the table name quoted (`transaction` is an SQL keyword)."""
    schema, name = table.split(".")
    return f'{schema}."{name}"'


def create_ddl() -> list[str]:
    stmts = [f"CREATE SCHEMA IF NOT EXISTS {s}" for s in ("crm", "erp", "portal")]
    for table, cols in WORLD_TABLES.items():
        body = ", ".join(f'"{c}" {t}' for c, t in cols)
        stmts.append(f"CREATE TABLE {qualified(table)} ({body})")
    return stmts
