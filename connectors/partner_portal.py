"""Partner portal export API (v2) connector: `X-API-Key`, cursor paging by `updated_at`.

`GET /api/v2/<resource>?updated_since=<mark>&limit=500[&starting_after=<cursor>]`: the mark
is inclusive and records come ordered by `(updated_at, id)`. Sales reports carry their
lines inline: they land in `raw_portal.sales_reports` and `raw_portal.sales_report_lines`,
and the lines of a re-landed report replace its old lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.auth import ApiKeyAuth
from connectors.config import Settings
from connectors.http import HttpClient, is_array, is_object
from connectors.landing import DEFAULT_PARSERS, ChildLanding, JsonLanding
from connectors.schema import PORTAL_TABLES, RawTable
from connectors.spool import PageSpool

log = logging.getLogger("partnerpulse.connectors.partner_portal")

SYSTEM = "portal"
API_PREFIX = "/api/v2"
MAX_LIMIT = 500

# ISO-8601 values; timestamps converted to UTC; booleans and numbers as JSON.
PARSERS: dict[str, str] = dict(DEFAULT_PARSERS)


@dataclass(frozen=True)
class PortalResource:
    """An export resource (`sales-reports`) and the raw table(s) it lands in."""

    path: str
    table: RawTable
    children: tuple[ChildLanding, ...] = ()

    def landing(self) -> JsonLanding:
        return JsonLanding(
            table=self.table, records_key="data", parsers=PARSERS, children=self.children
        )

    @property
    def tables(self) -> tuple[RawTable, ...]:
        return (self.table, *(c.table for c in self.children))


RESOURCES: dict[str, PortalResource] = {
    "sales_reports": PortalResource(
        "sales-reports",
        PORTAL_TABLES["sales_reports"],
        (
            ChildLanding(
                PORTAL_TABLES["sales_report_lines"],
                list_key="lines",
                parent_columns={"report_id": "id"},
            ),
        ),
    ),
    "trainings": PortalResource("trainings", PORTAL_TABLES["trainings"]),
    "mdf_claims": PortalResource("mdf-claims", PORTAL_TABLES["mdf_claims"]),
    "asset_usage": PortalResource("asset-usage", PORTAL_TABLES["asset_usage"]),
    "business_plans": PortalResource("business-plans", PORTAL_TABLES["business_plans"]),
}


def iso_mark(mark: datetime) -> str:
    """`updated_since` value: ISO-8601 UTC, floored to the second (`2024-05-01T13:45:00Z`)."""
    return mark.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class PortalClient:
    """API-key access to the partner portal export API."""

    def __init__(self, settings: Settings, http: HttpClient | None = None) -> None:
        if not settings.portal_url:
            raise ValueError("PARTNERPULSE_PORTAL_URL is not set")
        self.settings = settings
        self.base_url = settings.portal_url.rstrip("/")
        self.auth = ApiKeyAuth("X-API-Key", settings.portal_api_key)
        self.http = http or HttpClient(SYSTEM, settings.http, self.auth)
        if http is not None:
            self.http.auth = self.auth

    def pages(
        self, resource: str, since: datetime | None
    ) -> Iterator[tuple[bytes, dict[str, Any], int]]:
        """Every page of a resource as (raw body, parsed body, record count)."""
        url = f"{self.base_url}{API_PREFIX}/{resource}"
        params: dict[str, Any] = {"limit": max(1, min(self.settings.portal_page_size, MAX_LIMIT))}
        if since is not None:
            params["updated_since"] = iso_mark(since)
        seen_cursors: set[str] = set()
        while True:
            resp = self.http.request("GET", url, params=params)
            body = self.http.parse_json(resp, "GET", url)
            if not is_object(body) or not is_array(body.get("data")):
                raise self.http.error("GET", url, resp.status_code, "malformed body: no data list")
            if not isinstance(body.get("has_more"), bool):
                raise self.http.error("GET", url, resp.status_code, "malformed body: no has_more")
            yield resp.content, body, len(body["data"])
            if not body["has_more"]:
                return
            cursor = body.get("next_cursor")
            if not isinstance(cursor, str) or not cursor or cursor in seen_cursors:
                raise self.http.error(
                    "GET",
                    url,
                    resp.status_code,
                    "malformed body: has_more without a new next_cursor",
                )
            seen_cursors.add(cursor)
            params = {**params, "starting_after": cursor}

    def close(self) -> None:
        self.http.close()


@dataclass(frozen=True)
class FetchResult:
    """What a fetch spooled."""

    pages: int
    records: int


def fetch_resource(
    client: PortalClient,
    resource: PortalResource,
    since: datetime | None,
    spool: PageSpool,
    *,
    lookback: timedelta = timedelta(0),
) -> FetchResult:
    """Spool every record of `resource` updated at or after `since - lookback`."""
    pages = records = 0
    for raw, _body, count in client.pages(resource.path, since - lookback if since else None):
        spool.add(raw, count)
        pages += 1
        records += count
    log.info("portal %s: %d records in %d pages", resource.path, records, pages)
    return FetchResult(pages, records)
