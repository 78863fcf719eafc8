"""The uniform interface the orchestration calls: a registry of objects and `sync_object`.

A sync reads the object's watermark, fetches every page modified at or after it into a
spool on disk (no warehouse lock held while the source is read), then lands the spool in
ONE warehouse transaction (rows, watermark, `ops.sync_runs`). Any failure records a
`failed` sync run and re-raises: nothing of the failed sync is committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors import netsuite, partner_portal, pos_files, salesforce, salesforce_bulk
from connectors.api_budget import ApiBudgetExhausted
from connectors.config import Settings
from connectors.http import ClientStats
from connectors.landing import JsonLanding, land_pages
from connectors.org import LOGICAL, default_org
from connectors.schema import object_table
from connectors.spool import PageSpool
from connectors.sync_runs import Committed, SyncRun, commit_sync, record_failure, start_run
from connectors.warehouse import held, read_column_map

log = logging.getLogger("partnerpulse.connectors.sync")

SOURCES = ("crm", "erp", "portal", "pos")


@dataclass(frozen=True)
class SyncObject:
    """One syncable object: its source, name, the source's own name, raw tables and asset.

    `asset_name` is the object's name, unique across sources (asset key suggestion:
    `[source group, asset_name]`).
    """

    source: str
    object: str
    source_object: str
    raw_tables: tuple[str, ...]
    asset_name: str
    incremental: bool


def _registry() -> dict[tuple[str, str], SyncObject]:
    entries: list[SyncObject] = []
    # CRM and ERP objects are the logical objects (connectors.org); the default org names
    # their source objects here, the org's mapping at sync time.
    for name, spec in LOGICAL.items():
        table = object_table(name, default_org())
        entries.append(
            SyncObject(
                spec.source,
                name,
                table.read_from,
                (table.qualified_name,),
                name,
                table.watermark is not None,
            )
        )
    for name, res in partner_portal.RESOURCES.items():
        entries.append(
            SyncObject(
                "portal",
                name,
                res.path,
                tuple(t.qualified_name for t in res.tables),
                name,
                True,
            )
        )
    entries.append(
        SyncObject(
            "pos",
            "pos_reports",
            "PARTNERPULSE_LANDING_DIR",
            ("raw_portal.pos_files", "raw_portal.pos_report_lines", "raw_portal.pos_quarantine"),
            "pos_reports",
            False,
        )
    )
    if len({e.asset_name for e in entries}) != len(entries):
        raise AssertionError("asset names must be unique across sources")
    return {(e.source, e.object): e for e in entries}


REGISTRY: dict[tuple[str, str], SyncObject] = _registry()


def objects(source: str | None = None) -> list[SyncObject]:
    """Every registered object (of one source when given), in registry order."""
    return [o for o in REGISTRY.values() if source is None or o.source == source]


def get_object(source: str, object_name: str) -> SyncObject:
    """The registry entry of `(source, object)`; a KeyError lists the valid names."""
    try:
        return REGISTRY[(source, object_name)]
    except KeyError:
        valid = ", ".join(f"{s}/{o}" for s, o in REGISTRY)
        raise KeyError(f"unknown object {source}/{object_name}; valid: {valid}") from None


@dataclass(frozen=True)
class SyncResult:
    """What one sync did (committed).

    `watermark_clamped_from` is the source's largest landed modification time when it was
    past the sync's start, so that the mark stayed below it (None otherwise).
    """

    sync_id: str
    source: str
    object: str
    rows_read: int
    rows_merged: int
    rows_quarantined: int
    watermark_before: datetime | None
    watermark_after: datetime | None
    duration_s: float
    pages: int
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    watermark_clamped_from: datetime | None = None

    def as_metadata(self) -> dict[str, Any]:
        """A JSON-safe dict (datetimes as ISO text) for run metadata."""
        out: dict[str, Any] = {
            "sync_id": self.sync_id,
            "source": self.source,
            "object": self.object,
            "rows_read": self.rows_read,
            "rows_merged": self.rows_merged,
            "rows_quarantined": self.rows_quarantined,
            "watermark_before": _iso(self.watermark_before),
            "watermark_after": _iso(self.watermark_after),
            "watermark_clamped_from": _iso(self.watermark_clamped_from),
            "duration_s": round(self.duration_s, 3),
            "pages": self.pages,
        }
        out.update(self.details)
        return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# -- clients ---------------------------------------------------------------------------------


class Clients:
    """Source clients shared by the syncs of one run (one token per source)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._crm: salesforce.SalesforceClient | None = None
        self._erp: netsuite.NetSuiteClient | None = None
        self._portal: partner_portal.PortalClient | None = None

    @property
    def crm(self) -> salesforce.SalesforceClient:
        if self._crm is None:
            self._crm = salesforce.SalesforceClient(self.settings)
        return self._crm

    @property
    def erp(self) -> netsuite.NetSuiteClient:
        if self._erp is None:
            self._erp = netsuite.NetSuiteClient(self.settings)
        return self._erp

    @property
    def portal(self) -> partner_portal.PortalClient:
        if self._portal is None:
            self._portal = partner_portal.PortalClient(self.settings)
        return self._portal

    def close(self) -> None:
        for client in (self._crm, self._erp, self._portal):
            if client is not None:
                client.close()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- fetching: one entry per HTTP source ------------------------------------------------------


Fetched = tuple[JsonLanding, dict[str, Any]]


@dataclass(frozen=True)
class HttpSource:
    """How one HTTP source is read: its client, and `fetch`, which spools an object's pages
    modified at or after `since - lookback` and returns how they land (and details)."""

    client: Callable[[Clients], Any]
    fetch: Callable[[Any, Settings, str, datetime | None, PageSpool, timedelta], Fetched]


def _fetch_crm(
    client: salesforce.SalesforceClient,
    settings: Settings,
    name: str,
    since: datetime | None,
    spool: PageSpool,
    lookback: timedelta,
) -> Fetched:
    obj = salesforce.object_for(name, settings.org)
    mark = since - lookback if since else None
    choice = salesforce_bulk.choose(client, settings, name, obj, mark)
    details: dict[str, Any] = {"read_with": choice.read_with, "read_with_reason": choice.reason}
    if choice.record_count is not None:
        details["record_count"] = choice.record_count
    if choice.read_with == "rest":
        salesforce.fetch_object(client, obj, since, spool, lookback=lookback)
        return obj.landing(), details
    fetched = salesforce_bulk.fetch_object(
        client,
        obj,
        since,
        spool,
        lookback=lookback,
        options=salesforce_bulk.BulkOptions.from_settings(settings),
    )
    details.update(bulk_job=fetched.job_id, bulk_pages=fetched.pages, bulk_polls=fetched.polls)
    return salesforce_bulk.csv_landing(obj), details


def _fetch_erp(
    client: netsuite.NetSuiteClient,
    settings: Settings,
    name: str,
    since: datetime | None,
    spool: PageSpool,
    lookback: timedelta,
) -> Fetched:
    table = object_table(name, settings.org)
    fetched = netsuite.fetch_table(client, table, since, spool, lookback=lookback)
    return netsuite.landing(table), {
        "windows": fetched.windows,
        "queries": fetched.queries,
        "window_workers": fetched.window_workers,
        "concurrency_lowered": fetched.concurrency_lowered,
    }


def _fetch_portal(
    client: partner_portal.PortalClient,
    settings: Settings,
    name: str,
    since: datetime | None,
    spool: PageSpool,
    lookback: timedelta,
) -> Fetched:
    resource = partner_portal.RESOURCES[name]
    partner_portal.fetch_resource(client, resource, since, spool, lookback=lookback)
    return resource.landing(), {}


HTTP_SOURCES: dict[str, HttpSource] = {
    "crm": HttpSource(lambda clients: clients.crm, _fetch_crm),
    "erp": HttpSource(lambda clients: clients.erp, _fetch_erp),
    "portal": HttpSource(lambda clients: clients.portal, _fetch_portal),
}


# -- syncs -------------------------------------------------------------------------------------


def sync_object(
    settings: Settings,
    warehouse_path: Path | str,
    source: str,
    object_name: str,
    *,
    clients: Clients | None = None,
) -> SyncResult:
    """Sync one object end to end: fetch pages since the watermark, land them atomically.

    Raises `connectors.http.SourceError` (source failures), `connectors.landing.LandingError`
    (invalid data) or the underlying error; a failed sync commits nothing but a `failed`
    `ops.sync_runs` row.
    """
    spec = get_object(source, object_name)
    path = Path(warehouse_path)
    own_clients = clients is None
    clients = clients or Clients(settings)
    run = start_run(path, source, object_name)
    started = time.monotonic()
    try:
        if source == "pos":
            committed, pages, details = _sync_pos(settings, path, run)
        else:
            committed, pages, details = _sync_http(settings, path, run, spec, clients)
    except BaseException as exc:
        stopped = isinstance(exc, ApiBudgetExhausted)
        log.log(
            logging.WARNING if stopped else logging.ERROR,
            "sync %s/%s %s: %s",
            source,
            object_name,
            "stopped" if stopped else "failed",
            exc,
        )
        record_failure(
            path,
            run,
            exc,
            lock_timeout_s=settings.warehouse_lock_timeout_s,
            status="stopped" if stopped else "failed",
        )
        raise
    finally:
        if own_clients:
            clients.close()
    landed = committed.landed
    result = SyncResult(
        sync_id=run.sync_id,
        source=source,
        object=object_name,
        rows_read=landed.rows_read,
        rows_merged=landed.rows_merged,
        rows_quarantined=landed.rows_quarantined,
        watermark_before=run.watermark_before,
        watermark_after=committed.watermark_after,
        duration_s=time.monotonic() - started,
        pages=pages,
        details={**details, **landed.details},
        watermark_clamped_from=landed.watermark_clamped_from,
    )
    if result.watermark_clamped_from is not None:
        log.warning(
            "sync %s/%s: %d record(s) stamped after the sync's start %s (latest %s; a bogus "
            "date or a source clock ahead of ours) landed, but the watermark stays at %s",
            source,
            object_name,
            landed.details.get("rows_past_sync_start", 0),
            _iso(run.started_at),
            _iso(result.watermark_clamped_from),
            _iso(result.watermark_after),
        )
    log.info(
        "sync %s/%s: %d read, %d merged, %d quarantined in %.1fs",
        source,
        object_name,
        result.rows_read,
        result.rows_merged,
        result.rows_quarantined,
        result.duration_s,
    )
    return result


def sync_source(
    settings: Settings,
    warehouse_path: Path | str,
    source: str,
    object_names: Iterable[str] | None = None,
) -> list[SyncResult]:
    """Sync several objects of one source with `sync_objects` (the first failure, if any,
    is raised once every object was tried)."""
    names = list(object_names) if object_names is not None else [o.object for o in objects(source)]
    outcomes = sync_objects(settings, warehouse_path, source, names)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes  # type: ignore[return-value]


def object_workers(settings: Settings, source: str) -> int:
    """How many objects of `source` sync at a time, within the source's concurrency limit.

    Salesforce allows 25 concurrent long-running API requests per org and the portal
    publishes no limit: `object_workers` objects at a time. NetSuite's default account
    limit is 5 concurrent requests, spent on SuiteQL windows (`erp_window_workers`), so
    its objects go one after the other. POS files are local.
    """
    return max(1, settings.object_workers) if source in ("crm", "portal") else 1


def sync_objects(
    settings: Settings,
    warehouse_path: Path | str,
    source: str,
    object_names: Iterable[str],
) -> list[SyncResult | Exception]:
    """Sync every named object of one source, `object_workers` at a time; returns, in the
    order asked, each object's result or the exception its sync raised (every object is
    tried, whatever the others do).

    Concurrent syncs each have their own clients (a requests session is not shared across
    threads); each lands in its own warehouse transaction on its own tables. The warehouse
    is held open meanwhile (`warehouse.held`).
    """
    with held(warehouse_path):
        return _sync_each(settings, warehouse_path, source, list(object_names))


def _sync_each(
    settings: Settings, warehouse_path: Path | str, source: str, names: list[str]
) -> list[SyncResult | Exception]:

    def one(name: str, clients: Clients) -> SyncResult | Exception:
        try:
            return sync_object(settings, warehouse_path, source, name, clients=clients)
        except Exception as exc:  # reported to the caller with the others
            return exc

    workers = min(object_workers(settings, source), len(names))
    if workers <= 1:
        with Clients(settings) as clients:
            return [one(name, clients) for name in names]

    def own_clients(name: str) -> SyncResult | Exception:
        with Clients(settings) as clients:
            return one(name, clients)

    with ThreadPoolExecutor(workers, thread_name_prefix=f"sync-{source}") as pool:
        return list(pool.map(own_clients, names))


def _sync_http(
    settings: Settings, path: Path, run: SyncRun, spec: SyncObject, clients: Clients
) -> tuple[Committed, int, dict[str, Any]]:
    lookback = timedelta(seconds=settings.incremental_lookback_s)
    since = run.watermark_before
    if since is not None and since > run.started_at:
        # Set before marks were bounded by the sync's start, or our clock went back; it only
        # moves forward, so it is reset by hand (docs/connectors.md, "Watermarks").
        log.warning(
            "sync %s/%s: the stored watermark %s is past the sync's start %s: rows stamped "
            "before it are not read until it is reset",
            run.source,
            run.object,
            _iso(since),
            _iso(run.started_at),
        )
    details: dict[str, Any] = {}
    fetch_started = time.monotonic()
    with PageSpool(settings.spool_dir) as spool:
        source = HTTP_SOURCES[spec.source]
        client = source.client(clients)
        client.http.stats = ClientStats()
        landing, fetched = source.fetch(client, settings, spec.object, since, spool, lookback)
        details.update(fetched)
        http_stats = client.http.stats
        details.update(http_stats.as_dict())
        if client.http.budget is not None:
            details.update(client.http.budget.summary())
        details["spooled_bytes"] = spool.bytes
        details["fetch_s"] = round(time.monotonic() - fetch_started, 3)
        files, records, pages = spool.files, spool.records, spool.pages
        land_started = time.monotonic()
        committed = commit_sync(
            path,
            run,
            lambda con: land_pages(con, run, landing, files, rows_expected=records),
            lock_timeout_s=settings.warehouse_lock_timeout_s,
            memory_limit=settings.warehouse_memory_limit,
        )
        details["land_s"] = round(time.monotonic() - land_started, 3)
    return committed, pages, details


def _sync_pos(
    settings: Settings, path: Path, run: SyncRun
) -> tuple[Committed, int, dict[str, Any]]:
    if settings.landing_dir is None:
        raise ValueError("PARTNERPULSE_LANDING_DIR is not set")
    hashes = read_column_map(path, "raw_portal.pos_files", "file_name", "content_sha256")
    statuses = read_column_map(path, "raw_portal.pos_files", "file_name", "status")
    known = {name: (digest, statuses.get(name, "")) for name, digest in hashes.items()}
    committed = commit_sync(
        path,
        run,
        lambda con: pos_files.land_pos_files(
            con,
            run,
            settings.landing_dir,
            known,
            spool_dir=settings.spool_dir,
            layouts=settings.org.pos_layouts,
        ),
        lock_timeout_s=settings.warehouse_lock_timeout_s,
        memory_limit=settings.warehouse_memory_limit,
    )
    return committed, 0, {"landing_dir": str(settings.landing_dir)}
