"""Stand-in partner portal export API (v2): keyset-paged lists of the `portal.*` tables."""

from __future__ import annotations

import base64
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import duckdb
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from source_servers.admin import AdminGuard, admin_routes
from source_servers.faults import FaultMiddleware, SourceState
from source_servers.runtime import JsonRows, World

RESOURCES = {
    "sales-reports": "sales_reports",
    "trainings": "trainings",
    "mdf-claims": "mdf_claims",
    "asset-usage": "asset_usage",
    "business-plans": "business_plans",
}
LINES_TABLE = "sales_report_lines"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def portal_error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    """The portal's error response."""
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers)


def _fault_body(status: int, message: str) -> bytes:
    code = {429: "rate_limited", 401: "unauthorized"}.get(
        status, "unavailable" if status >= 500 else "error"
    )
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class BadRequest(Exception):
    """A request the portal refuses with 400."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value(col: str, duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t == "DATE":
        return f"strftime({col}, '%Y-%m-%d')"
    if t.startswith("TIMESTAMP"):
        return (
            f"CASE WHEN microsecond({col}) % 1000000 = 0 "
            f"THEN strftime({col}, '%Y-%m-%dT%H:%M:%SZ') "
            f"ELSE strftime({col}, '%Y-%m-%dT%H:%M:%S.%fZ') END"
        )
    return col


def _object(columns: list[tuple[str, str]], alias: str, skip: tuple[str, ...] = ()) -> str:
    pairs = [
        f"{_sql_str(name)}, {_value(f'{alias}.{_quote(name)}', dtype)}"
        for name, dtype in columns
        if name not in skip
    ]
    return f"json_object({', '.join(pairs)})"


def encode_cursor(updated_at: str, record_id: Any) -> str:
    """The opaque cursor after a record: urlsafe base64 of its (updated_at, id)."""
    raw = json.dumps([updated_at, record_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, record_id = json.loads(raw)
        return datetime.fromisoformat(stamp), record_id
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"invalid cursor: {exc}") from None


def parse_since(text: str) -> datetime:
    """An ISO-8601 date or datetime as a naive UTC datetime."""
    text = text.strip()
    if " " in text and "T" in text:  # an unencoded '+' of an offset turned into a space
        text = text.replace(" ", "+")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"updated_since is not an ISO-8601 timestamp: {text!r}") from None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


class PortalServer:
    """Request handlers of the stand-in partner portal."""

    def __init__(self, world: World, api_key: str) -> None:
        self.world = world
        self.api_key = api_key
        self.state = SourceState(
            "portal", is_data_path=lambda path: path.startswith("/api/"), error_body=_fault_body
        )

    def _authorized(self, request: Request) -> bool:
        key = request.headers.get("x-api-key")
        if not key or self.state.faults.reject_tokens:
            return False
        return hmac.compare_digest(key.encode(), self.api_key.encode())

    def list(self, request: Request) -> Response:
        if not self._authorized(request):
            return portal_error(401, "unauthorized", "missing or invalid API key")
        resource = request.path_params["resource"]
        table = RESOURCES.get(resource)
        columns = self.world.columns("portal", table) if table else []
        if not columns:
            return portal_error(404, "not_found", f"unknown resource {resource!r}")
        try:
            params = request.query_params
            try:
                limit = int(params.get("limit", DEFAULT_LIMIT))
            except ValueError:
                raise BadRequest("limit must be an integer") from None
            if limit < 1 or limit > MAX_LIMIT:
                raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
            since = parse_since(params["updated_since"]) if params.get("updated_since") else None
            after = (
                decode_cursor(params["starting_after"]) if params.get("starting_after") else None
            )
            return self._page(table, columns, limit, since, after)
        except BadRequest as exc:
            return portal_error(400, "invalid_request", str(exc))

    def _page(
        self,
        table: str,
        columns: list[tuple[str, str]],
        limit: int,
        since: datetime | None,
        after: tuple[datetime, Any] | None,
    ) -> Response:
        where, args = [], []
        if since is not None:
            args.append(since)
            where.append(f"updated_at >= ${len(args)}")
        if after is not None:
            args += [after[0], after[1]]
            n = len(args)
            where.append(f"(updated_at > ${n - 1} OR (updated_at = ${n - 1} AND id > ${n}))")
        sql = f"WITH page AS (SELECT * FROM portal.{_quote(table)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY updated_at, id LIMIT {limit + 1})"
        record = _object(columns, "p")
        join = ""
        if table == "sales_reports":
            line_cols = self.world.columns("portal", LINES_TABLE)
            lines = _object(line_cols, "l", skip=("report_id",))
            sql += (
                ", lines AS (SELECT l.report_id, "
                f"('[' || string_agg({lines}::VARCHAR, ',' ORDER BY l.line_no) || ']')::JSON "
                f"AS lines FROM portal.{LINES_TABLE} l "
                "WHERE l.report_id IN (SELECT id FROM page) GROUP BY l.report_id)"
            )
            record = record[:-1] + ", 'lines', coalesce(x.lines, '[]'::JSON))"
            join = " LEFT JOIN lines x ON x.report_id = p.id"
        sql += (
            f" SELECT {record}::VARCHAR || ',' AS j, "
            "strftime(p.updated_at, '%Y-%m-%dT%H:%M:%S.%f') AS cursor_at, p.id AS cursor_id "
            f"FROM page p{join} ORDER BY p.updated_at, p.id"
        )
        cur = self.world.cursor()
        try:
            table_out = cur.sql(sql, params=args or None).to_arrow_table()
        except (duckdb.ConversionException, duckdb.BinderException) as exc:
            raise BadRequest(f"invalid cursor: {str(exc).splitlines()[0]}") from None
        finally:
            cur.close()
        rows = JsonRows(table_out.column("j"))
        has_more = len(rows) > limit
        count = min(len(rows), limit)
        next_cursor = None
        if has_more:
            next_cursor = encode_cursor(
                table_out.column("cursor_at")[count - 1].as_py(),
                table_out.column("cursor_id")[count - 1].as_py(),
            )
        body = (
            b'{"data":['
            + rows.page(0, count)
            + b'],"has_more":'
            + (b"true" if has_more else b"false")
            + b',"next_cursor":'
            + (json.dumps(next_cursor).encode())
            + b"}"
        )
        return Response(body, media_type="application/json")

    def not_found(self, request: Request) -> Response:
        return portal_error(404, "not_found", "no such endpoint")


def create_app(world: World, api_key: str, *, admin_token: str) -> Starlette:
    """The stand-in portal app; `app.state.source` is its `SourceState`."""
    portal = PortalServer(world, api_key)

    async def list_resource(request: Request) -> Response:
        return await run_in_threadpool(portal.list, request)

    routes = [
        Route("/api/v2/{resource}", list_resource, methods=["GET"]),
        Route("/api/{rest:path}", portal.not_found),
        *admin_routes(portal.state, world),
    ]
    middleware = [
        Middleware(AdminGuard, token=admin_token),
        Middleware(FaultMiddleware, state=portal.state),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.source = portal.state
    app.state.server = portal
    return app
