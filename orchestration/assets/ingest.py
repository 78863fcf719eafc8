"""Ingestion assets: one asset per source object, landed into the raw schemas of DuckDB.

Each source is one multi-asset so its objects share one authenticated session and the
warehouse is written by one step at a time (pool "warehouse"). Every sync is incremental
(high-water mark per object) and atomic: a failed sync commits nothing.
"""

from collections.abc import Iterator

import dagster as dg
import duckdb

from connectors.sync import Clients, SyncObject, SyncResult, objects, sync_object
from orchestration.resources import SourceSystems

GROUPS = {"crm": "crm", "erp": "erp", "portal": "portal", "pos": "portal"}
KINDS = {"crm": "salesforce", "erp": "netsuite", "portal": "api", "pos": "csv"}
SOURCE_TITLES = {
    "crm": "Salesforce CRM",
    "erp": "NetSuite ERP",
    "portal": "the partner portal export API",
    "pos": "partners' POS CSV files in the landing folder",
}

DESCRIPTIONS = {
    "accounts": "Partner and customer accounts (tier, region, partner since, terminations).",
    "opportunities": "Opportunities with partner role, deal registration and campaign links.",
    "leads": "Leads with MQL/SQL dates and conversions.",
    "deal_registrations": "Partners' deal registrations and their approval decisions.",
    "campaigns": "Marketing campaigns, including through-channel partner campaigns and cost.",
    "partners": "ERP partner records, mapped to CRM partners via Account.ERP_Partner_Id__c.",
    "customers": "ERP customers (end customers on invoices).",
    "classifications": "Product lines (ERP classifications). Read whole every sync.",
    "items": "SKUs with product line and standard unit cost.",
    "currencies": "Currencies known to the ERP. Read whole every sync.",
    "currency_rates": "Monthly USD exchange rates. Read whole every sync.",
    "transactions": "Invoices and credit memos (header: date, partner, currency, status).",
    "transaction_lines": "Invoice and credit-memo lines: the sell-in the ERP recorded.",
    "mdf_payments": "MDF payments the ERP made against portal claims.",
    "sales_reports": "Partner-reported sales (every revision, with its lines).",
    "trainings": "Training enrolments, completions and certifications.",
    "mdf_claims": "Market development fund claims and their decisions.",
    "asset_usage": "Downloads, shares and co-brands of marketing assets.",
    "business_plans": "Quarterly partner business plans and targets.",
    "pos_reports": "POS CSV reports; a file with any bad row is quarantined whole.",
}


def asset_key(obj: SyncObject) -> dg.AssetKey:
    return dg.AssetKey([GROUPS[obj.source], obj.asset_name])


def _spec(obj: SyncObject) -> dg.AssetSpec:
    tables = ", ".join(obj.raw_tables)
    return dg.AssetSpec(
        key=asset_key(obj),
        description=(
            f"{DESCRIPTIONS[obj.asset_name]}\n\nSynced incrementally from "
            f"{SOURCE_TITLES[obj.source]} into `{tables}`."
        ),
        group_name=GROUPS[obj.source],
        kinds={KINDS[obj.source], "duckdb"},
        owners=["team:data-platform"],
        metadata={"raw_tables": tables},
    )


def _row_count(warehouse: str, obj: SyncObject) -> int:
    """Rows now stored in the object's main raw table."""
    con = duckdb.connect(warehouse, read_only=True)
    try:
        return con.sql(f"select count(*) from {obj.raw_tables[0]}").fetchall()[0][0]
    finally:
        con.close()


def _metadata(result: SyncResult, row_count: int) -> dict[str, object]:
    values = {k: v for k, v in result.as_metadata().items() if v is not None}
    return {**values, "dagster/row_count": row_count}


def build_ingest_assets(source: str) -> dg.AssetsDefinition:
    """One multi-asset syncing every object of `source`, one asset per object."""
    by_key = {asset_key(o): o for o in objects(source)}

    @dg.multi_asset(
        name=f"ingest_{source}",
        specs=[_spec(o) for o in by_key.values()],
        can_subset=True,
        pool="warehouse",
    )
    def _ingest(
        context: dg.AssetExecutionContext, sources: SourceSystems
    ) -> Iterator[dg.MaterializeResult]:
        settings = sources.settings
        warehouse = str(settings.warehouse)
        failures: list[str] = []
        selected = [k for k in by_key if k in context.selected_asset_keys]
        with Clients(settings) as clients:
            for key in selected:
                obj = by_key[key]
                try:
                    result = sync_object(settings, warehouse, source, obj.object, clients=clients)
                except Exception as exc:  # sync every object, then fail the step naming each
                    context.log.error(f"{key.to_user_string()}: {exc}")
                    failures.append(f"{key.to_user_string()}: {exc}")
                    continue
                context.log.info(
                    f"{key.to_user_string()}: read {result.rows_read} rows, merged "
                    f"{result.rows_merged}, quarantined {result.rows_quarantined}"
                )
                yield dg.MaterializeResult(
                    asset_key=key, metadata=_metadata(result, _row_count(warehouse, obj))
                )
        if failures:
            raise dg.Failure(
                description=f"{len(failures)} sync(s) of {SOURCE_TITLES[source]} failed",
                metadata={"errors": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures))},
            )

    return _ingest


ingest_assets = [build_ingest_assets(s) for s in ("crm", "erp", "portal", "pos")]
