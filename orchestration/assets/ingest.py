"""Ingestion assets: one asset per source object, landed into the raw schemas of DuckDB.

Each source is one multi-asset so its objects share one authenticated session and the
warehouse is written by one step at a time (pool "warehouse"). Every sync is incremental
(high-water mark per object) and atomic: a failed sync commits nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from connectors.sync import OBJECTS, SourceObject, SyncResult, sync_object
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


def asset_key(obj: SourceObject) -> dg.AssetKey:
    return dg.AssetKey([GROUPS[obj.source], obj.asset_name])


def _spec(obj: SourceObject) -> dg.AssetSpec:
    tables = ", ".join(obj.tables)
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


def _metadata(result: SyncResult) -> dict[str, dg.MetadataValue]:
    metadata = {
        "sync_id": dg.MetadataValue.text(result.sync_id),
        "rows_read": dg.MetadataValue.int(result.rows_read),
        "rows_merged": dg.MetadataValue.int(result.rows_merged),
        "rows_quarantined": dg.MetadataValue.int(result.rows_quarantined),
        "dagster/row_count": dg.MetadataValue.int(result.rows_total),
        "duration_s": dg.MetadataValue.float(round(result.duration_s, 3)),
        "watermark": dg.MetadataValue.text(str(result.watermark_after or "")),
    }
    for name, value in result.details.items():
        metadata[name] = dg.MetadataValue.text(str(value))
    return metadata


def build_ingest_assets(source: str) -> dg.AssetsDefinition:
    """One multi-asset syncing every object of `source`, one asset per object."""
    objects = {asset_key(o): o for o in OBJECTS if o.source == source}

    @dg.multi_asset(
        name=f"ingest_{source}",
        specs=[_spec(o) for o in objects.values()],
        can_subset=True,
        pool="warehouse",
    )
    def _ingest(
        context: dg.AssetExecutionContext, sources: SourceSystems
    ) -> Iterator[dg.MaterializeResult]:
        failures: list[str] = []
        for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
            obj = objects[key]
            try:
                result = sync_object(sources.settings, obj)
            except Exception as exc:  # report every object, then fail the step
                context.log.error(f"{key.to_user_string()}: {exc}")
                failures.append(f"{key.to_user_string()}: {exc}")
                continue
            context.log.info(
                f"{key.to_user_string()}: read {result.rows_read} rows, merged "
                f"{result.rows_merged}, quarantined {result.rows_quarantined}"
            )
            yield dg.MaterializeResult(asset_key=key, metadata=_metadata(result))
        if failures:
            raise dg.Failure(
                description=f"{len(failures)} sync(s) of {SOURCE_TITLES[source]} failed",
                metadata={"errors": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures))},
            )

    return _ingest


ingest_assets = [build_ingest_assets(s) for s in ("crm", "erp", "portal", "pos")]
