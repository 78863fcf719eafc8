"""Ingestion assets: one asset per source object, landed into the raw schemas of DuckDB.

Each source is one multi-asset, one step in pool "warehouse", so the warehouse file has
one writing step at a time. Within the step, independent fetches run in parallel within
the source's concurrency limit: CRM and portal objects `PARTNERPULSE_OBJECT_WORKERS` at a
time, SuiteQL windows `PARTNERPULSE_ERP_WINDOW_WORKERS` at a time. Every sync is
incremental (high-water mark per object) and atomic: a failed sync commits nothing.

Operations (docs/operations.md):

- Each materialization of a month-keyed object (ERP transactions and lines, partner sales
  reports, POS files) carries `changed_months`: the month partitions whose rows the sync
  changed, which `restated_months_sensor` rebuilds.
- A POS file that is rejected (quarantined whole) is moved to `<landing>/rejected/` and
  named, with its reason, by the check `pos_files_accepted` (WARN). In the `pos_files` job
  (run by the sensor for a partner's new file) it also fails the step, by name and reason,
  after the rest has landed; a scheduled run goes on with everything else.
- A transient source failure (no response, 429, 5xx) that outlasts the connectors' own
  HTTP retries retries the step (`PARTNERPULSE_SOURCE_STEP_RETRIES`, waiting
  `PARTNERPULSE_SOURCE_RETRY_WAIT_S`); re-syncing merges on primary keys, so nothing lands
  twice.
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from connectors import pos_files
from connectors.api_budget import API_BUDGET
from connectors.config import Settings
from connectors.http import SourceError
from connectors.org import LOGICAL
from connectors.sync import SyncObject, SyncResult, objects, sync_objects
from connectors.warehouse import connect, held
from orchestration.partitions import months_touched
from orchestration.partners import partner_names
from orchestration.resources import PipelineSettings, SourceSystems
from reports.formatting import partner_label

REJECTED_FOLDER = "rejected"

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


# What an operator should know of each source's reads, under every object's description.
HOW_READ = {
    "crm": (
        "Read by REST `queryAll`, or by a Bulk API 2.0 job when the object is large "
        "(`read_with` and its reason in the metadata). The sync spends no API call of the "
        "share of the org's daily allowance kept for other integrations: when that is all "
        "that is left it stops, commits nothing, and the next run resumes it "
        "(`api_calls_left`; docs/authentication.md)."
    ),
    "erp": (
        "Read by SuiteQL in keyset windows, several at a time: each request NetSuite "
        "refuses for concurrency (429) lowers that for the rest of the run "
        "(`window_workers` in the metadata)."
    ),
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
            + (f" {HOW_READ[obj.source]}" if obj.source in HOW_READ else "")
        ),
        group_name=GROUPS[obj.source],
        kinds={KINDS[obj.source], "duckdb"},
        owners=["team:data-platform"],
        metadata={"raw_tables": tables},
    )


def _landed(warehouse: str, obj: SyncObject, result: SyncResult) -> dict[str, object]:
    """Metadata read back from the warehouse: rows stored, months the sync changed (on a
    read-write connection: the step holds the file open, `connectors.warehouse.held`)."""
    with connect(warehouse) as con:
        row_count = con.sql(f"select count(*) from {obj.raw_tables[0]}").fetchall()[0][0]
        months = months_touched(
            con, obj.source, obj.object, result.sync_id, result.watermark_before
        )
    values = {k: v for k, v in result.as_metadata().items() if v is not None}
    return {**values, "dagster/row_count": row_count, "changed_months": months}


def _mapped_from(settings: Settings, obj: SyncObject) -> dict[str, object]:
    """Where the org keeps a CRM or ERP object, and which mapping file said so."""
    if obj.object not in LOGICAL:
        return {}
    mapping = settings.org.mapping(obj.object)
    where = f" WHERE {mapping.filter}" if mapping.filter else ""
    return {
        "read_from": f"{mapping.object}{where}",
        "org_mapping": str(settings.config_path or "the default org (dbt_project.yml vars.org)"),
    }


def is_transient(exc: BaseException) -> bool:
    """A source failure worth retrying later: no response, throttled, or a server error
    (not a 4xx such as a spent API quota, not a stop before the share of the allowance
    kept for others, and not invalid data)."""
    if not isinstance(exc, SourceError) or exc.code in ("REQUEST_LIMIT_EXCEEDED", API_BUDGET):
        return False
    return exc.status is None or exc.status == 429 or exc.status >= 500


def move_rejected_files(warehouse: str, rejected: list[str]) -> list[str]:
    """Moves each rejected POS file to `<landing>/rejected/`; returns one message for each:
    where it is now and why it was rejected (as recorded in `raw_portal.pos_files`).

    A file is moved only if it is still the one that was read (same SHA-256): a corrected
    file dropped since stays for the next sync. Nothing is moved into a `rejected` that is
    a symbolic link (or not a folder): the files stay where they are, and say so.
    """
    if not rejected:
        return []
    con = duckdb.connect(warehouse, read_only=True)
    try:
        stored = {
            name: (reason, digest)
            for name, reason, digest in con.sql(
                "select file_name, reason, content_sha256 from raw_portal.pos_files"
            ).fetchall()
        }
        names = partner_names(con)
    finally:
        con.close()
    moved = []
    for name in rejected:
        path = Path(name)
        reason, digest = stored.get(path.name, ("rejected", None))
        parsed = pos_files.parse_file_name(path.name)
        if parsed is not None:  # the partner by name: the file name holds its id only
            reason = f"{partner_label(names.get(parsed.partner_id), parsed.partner_id)}: {reason}"
        target_dir = path.parent / REJECTED_FOLDER
        if target_dir.is_symlink() or (target_dir.exists() and not target_dir.is_dir()):
            moved.append(
                f"POS file {path.name} was rejected and left in the landing folder "
                f"({target_dir} is a symbolic link or not a folder): {reason}"
            )
            continue
        if not _still_the_file_read(path, digest):
            continue
        target_dir.mkdir(exist_ok=True)
        target = target_dir / path.name
        if os.path.lexists(target):
            if digest is not None and _still_the_file_read(target, digest):
                path.unlink()  # dropped again: already there
                moved.append(f"POS file {path.name} was rejected and moved to {target}: {reason}")
                continue
            # another file of the same name was rejected before: keep both
            target = target_dir / f"{path.stem}.{time.time():.0f}{path.suffix}"
        os.rename(path, target)  # the link itself, never what it points to
        moved.append(f"POS file {path.name} was rejected and moved to {target}: {reason}")
    return moved


def _still_the_file_read(path: Path, digest: str | None) -> bool:
    """`path` is the file a sync read: its SHA-256, or a symbolic link (never read)."""
    if digest is None:
        return path.is_symlink()
    try:
        return pos_files.sha256_of(path) == digest
    except OSError:  # gone, or a link or folder now
        return False


class IngestConfig(dg.Config):
    """Run configuration of an ingestion step."""

    fail_on_rejected_files: bool = Field(
        default=False,
        description=(
            "POS only: fail the step when a file is rejected (the file is moved to "
            "`rejected/` either way). The `pos_files` job sets it."
        ),
    )


POS_FILES_ACCEPTED = "pos_files_accepted"


def _check_specs(source: str) -> list[dg.AssetCheckSpec]:
    if source != "pos":
        return []
    return [
        dg.AssetCheckSpec(
            POS_FILES_ACCEPTED,
            asset=asset_key(objects("pos")[0]),
            description=(
                "Every POS file this sync read was accepted. A rejected file (bad name, "
                "header, encoding or row) is quarantined whole and moved to "
                "`<landing>/rejected/`; this check names it and why."
            ),
        )
    ]


def build_ingest_assets(source: str) -> dg.AssetsDefinition:
    """One multi-asset syncing every object of `source`, one asset per object."""
    by_key = {asset_key(o): o for o in objects(source)}

    @dg.multi_asset(
        name=f"ingest_{source}",
        specs=[_spec(o) for o in by_key.values()],
        check_specs=_check_specs(source),
        can_subset=True,
        pool="warehouse",
    )
    def _ingest(
        context: dg.AssetExecutionContext,
        config: IngestConfig,
        sources: SourceSystems,
        settings: PipelineSettings,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        # The org's mapping of this run: the launchpad's (`settings` resource), else
        # PARTNERPULSE_CONFIG's; the dbt steps read the same one.
        run_settings = sources.settings.replace(config_path=settings.settings.config_path)
        # An invalid org mapping stops the step before anything is fetched or recorded,
        # naming every mistake and its line (OrgConfigError).
        run_settings.org  # noqa: B018
        warehouse = str(run_settings.warehouse)
        failures: list[str] = []
        transient: list[BaseException] = []
        selected = [k for k in by_key if k in context.selected_asset_keys]
        # Objects sync concurrently within the source's limit (connectors.sync.object_workers)
        # and each lands in its own transaction; results are reported in the asset order.
        # The warehouse stays open meanwhile and while what landed is read back
        # (connectors.warehouse.held): three connections an object, each otherwise
        # opening the file anew.
        with held(warehouse):
            outcomes = sync_objects(
                run_settings, warehouse, source, [by_key[k].object for k in selected]
            )
            landed = {
                key: _landed(warehouse, by_key[key], result)
                for key, result in zip(selected, outcomes, strict=True)
                if not isinstance(result, Exception)
            }
        for key, result in zip(selected, outcomes, strict=True):
            obj = by_key[key]
            if isinstance(result, Exception):  # every object was tried: fail the step naming each
                context.log.error(f"{key.to_user_string()}: {result}")
                failures.append(f"{key.to_user_string()}: {result}")
                if is_transient(result):
                    transient.append(result)
                continue
            context.log.info(
                f"{key.to_user_string()}: read {result.rows_read} rows, merged "
                f"{result.rows_merged}, quarantined {result.rows_quarantined}"
            )
            metadata = {**landed[key], **_mapped_from(run_settings, obj)}
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)
            if source == "pos":
                rejected = move_rejected_files(
                    warehouse, list(result.details.get("rejected_files") or [])
                )
                yield dg.AssetCheckResult(
                    asset_key=key,
                    check_name=POS_FILES_ACCEPTED,
                    passed=not rejected,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "files_rejected": len(rejected),
                        "rejected": dg.MetadataValue.md(
                            "\n".join(f"- {r}" for r in rejected) or "none"
                        ),
                    },
                )
                for message in rejected:
                    context.log.warning(message)
                if config.fail_on_rejected_files:
                    failures.extend(rejected)
        retry = failures and len(transient) == len(failures)
        if retry and context.retry_number < run_settings.source_step_retries:
            context.log.warning(
                f"transient failure of {SOURCE_TITLES[source]}: retrying the step in "
                f"{run_settings.source_retry_wait_s:g}s"
            )
            raise dg.RetryRequested(
                max_retries=run_settings.source_step_retries,
                seconds_to_wait=run_settings.source_retry_wait_s,
            ) from transient[0]
        if failures:
            raise dg.Failure(
                description=f"{len(failures)} problem(s) syncing {SOURCE_TITLES[source]}: "
                + "; ".join(failures),
                metadata={"errors": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures))},
            )

    return _ingest


ingest_assets = [build_ingest_assets(s) for s in ("crm", "erp", "portal", "pos")]
