"""Stand-in Salesforce REST API (v61.0): SOQL queries (the OAuth token endpoint is
`source_servers.crm_auth`).

Serves the `crm.*` tables of the world. The SOQL subset understood is
`SELECT f1, f2 FROM Object [WHERE f op literal [AND ...]] [ORDER BY f [ASC|DESC] [NULLS
FIRST|LAST], ...] [LIMIT n]`; keywords are case-insensitive and literals follow SOQL
(unquoted dates and datetimes, quoted strings, true/false/null, numbers).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from source_servers import metadata, shaping
from source_servers.admin import AdminGuard, admin_routes
from source_servers.crm_auth import TokenEndpoint
from source_servers.faults import FaultMiddleware, SourceState, bearer_token
from source_servers.runtime import JsonRows, SourceCredentials, World, json_rows

API_VERSION = "v61.0"
DATA_PREFIX = f"/services/data/{API_VERSION}"
DEFAULT_DAILY_LIMIT = 5_000_000
DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE, MAX_BATCH_SIZE = 200, 2000
LOCATOR_IDLE_SECONDS = 15 * 60
MAX_LOCATORS = 64


class SoqlError(Exception):
    """A query Salesforce would refuse: 400 with `error_code`."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def sf_errors(status: int, error_code: str, message: str, headers: dict | None = None) -> Response:
    """A Salesforce error list response."""
    body = [{"message": message, "errorCode": error_code, "fields": []}]
    return JSONResponse(body, status_code=status, headers=headers)


def _fault_body(status: int, message: str) -> bytes:
    code = {429: "REQUEST_RATE_EXCEEDED", 401: "INVALID_SESSION_ID"}.get(
        status, "SERVER_UNAVAILABLE" if status >= 500 else "UNKNOWN_EXCEPTION"
    )
    return json.dumps([{"message": message, "errorCode": code, "fields": []}]).encode()


# ---------------------------------------------------------------------------------------
# SOQL
# ---------------------------------------------------------------------------------------

_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<obj>\S+)(?P<rest>.*)$", re.I | re.S
)
_REST = re.compile(
    r"^\s*(?:WHERE\s+(?P<where>.+?))?\s*(?:ORDER\s+BY\s+(?P<order>.+?))?"
    r"\s*(?:LIMIT\s+(?P<limit>\d+))?\s*$",
    re.I | re.S,
)
# A field, or a parent relationship's field (`RecordType.DeveloperName`).
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_CONDITION = re.compile(
    r"^\s*(?P<field>\S+?)\s*(?P<op>>=|<=|!=|<>|=|>|<)\s*(?P<value>.+?)\s*$", re.S
)
_AND = re.compile(r"\s+AND\s+", re.I)
_ORDER_ITEM = re.compile(
    r"^\s*(?P<field>\S+?)(?:\s+(?P<dir>ASC|DESC))?(?:\s+NULLS\s+(?P<nulls>FIRST|LAST))?\s*$", re.I
)
_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$", re.I
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _kind(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t == "BOOLEAN":
        return "boolean"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "datetime"
    if t in ("VARCHAR", "UUID") or t.startswith("VARCHAR"):
        return "string"
    return "number"


def _json_value(col: str, kind: str) -> str:
    quoted = _quote_ident(col)
    if kind == "datetime":
        return f"strftime({quoted}, '%Y-%m-%dT%H:%M:%S.%g+0000')"
    if kind == "date":
        return f"strftime({quoted}, '%Y-%m-%d')"
    return quoted


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _no_field(field_name: str, sobject: str) -> SoqlError:
    return SoqlError(
        "INVALID_FIELD",
        f"No such column '{field_name}' on entity '{sobject}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
    )


def _literal(raw: str, field_name: str, kind: str) -> Any:
    """Convert a SOQL literal for a field of `kind` to a Python value (or raise)."""
    text = raw.strip()
    if text.lower() == "null":
        return None
    bad = SoqlError(
        "INVALID_FIELD",
        f"value of filter criterion for field '{field_name}' must be of type {kind}"
        + (" and should not be enclosed in quotes" if kind != "string" else ""),
    )
    if kind == "datetime":
        m = _DATETIME.match(text)
        if not m:
            raise bad
        day, clock, frac, zone = m.groups()
        zone = "+00:00" if zone.upper() == "Z" else zone
        if ":" not in zone:
            zone = zone[:3] + ":" + zone[3:]
        stamp = datetime.fromisoformat(f"{day}T{clock}{(frac or '.000').ljust(4, '0')}{zone}")
        return stamp.astimezone(UTC).replace(tzinfo=None)
    if kind == "date":
        if not _DATE.match(text):
            raise bad
        return datetime.strptime(text, "%Y-%m-%d").date()
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise bad
        return text.lower() == "true"
    if kind == "number":
        if not _NUMBER.match(text):
            raise bad
        return float(text)
    if len(text) < 2 or text[0] != "'" or text[-1] != "'":
        raise bad
    return re.sub(r"\\(.)", r"\1", text[1:-1])


@dataclass
class SoqlPlan:
    """A parsed SOQL query, ready to run as SQL over the world."""

    sobject: str
    sql: str
    params: list[Any] = field(default_factory=list)
    # The selected fields (name, kind) and the query's `FROM ...` on, for other formats.
    selected: list[tuple[str, str]] = field(default_factory=list)
    source_sql: str = ""
    # `SELECT COUNT() FROM …`: `sql` gives the count, and the answer has no records.
    count_only: bool = False


def _selected_json(name: str, kind: str, by_lower: dict[str, tuple[str, str]]) -> str:
    """`'key', value` of one selected field for json_object; a parent relationship's field
    is nested as Salesforce sends it: `"RecordType": {"attributes": ..., "DeveloperName": ..}`.
    """
    if "." not in name:
        return f"{_sql_str(name)}, {_json_value(name, kind)}"
    parent, child = name.split(".", 1)
    parent_id = by_lower.get(f"{parent.lower()}id")
    url = "NULL"
    if parent_id:
        url = f"{_sql_str(f'{DATA_PREFIX}/sobjects/{parent}/')} || {_quote_ident(parent_id[0])}"
    attributes = f"json_object('type', {_sql_str(parent)}, 'url', {url})"
    nested = (
        f"json_object('attributes', {attributes}, {_sql_str(child)}, {_json_value(name, kind)})"
    )
    return f"{_sql_str(parent)}, {nested}"


def _ungrouped(where: str) -> str:
    """`where` without the parentheses outside string literals. The subset has AND alone
    (OR and NOT are refused), where grouping changes nothing: `(a = 1) AND b = 2`."""
    out, quoted = [], False
    for i, ch in enumerate(where):
        if ch == "'" and (i == 0 or where[i - 1] != "\\"):
            quoted = not quoted
        if quoted or ch not in "()":
            out.append(ch)
    return "".join(out)


def parse_soql(
    soql: str,
    world: World,
    *,
    include_deleted: bool,
    objects: dict[str, metadata.SfObject] | None = None,
) -> SoqlPlan:
    """Translate the supported SOQL subset into a DuckDB query producing JSON rows.

    `objects` is the served catalog (`shaping.crm_catalog(world)` when not given).
    """
    m = _SELECT.match(soql)
    if not m:
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: {soql.strip()[:40]!r}")
    obj_name = m.group("obj")
    if objects is None:
        objects = shaping.crm_catalog(world)
    entry = objects.get(obj_name.lower())
    columns = world.columns(entry.schema, entry.relation) if entry else []
    if not entry or not columns:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{obj_name}' is not supported. If you are attempting to use a custom "
            "object, be sure to append the '__c' after the entity name. Please reference your "
            "WSDL or the describe call for the appropriate names.",
        )
    sobject = entry.name
    by_lower = {name.lower(): (name, _kind(dtype)) for name, dtype in columns}

    def resolve(name: str) -> tuple[str, str]:
        if "(" in name or ")" in name:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{name}'")
        if not _IDENT.match(name):
            raise _no_field(name, sobject)
        found = by_lower.get(name.lower())
        if found is None:
            raise _no_field(name, sobject)
        return found

    selected: list[tuple[str, str]] = []
    count_only = m.group("fields").strip().lower() == "count()"
    for raw in [] if count_only else m.group("fields").split(","):
        name = raw.strip()
        if not name:
            raise SoqlError("MALFORMED_QUERY", "unexpected token: ','")
        column = resolve(name)
        if column in selected:
            raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {column[0]}")
        selected.append(column)

    rest = _REST.match(m.group("rest"))
    if not rest:
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: {m.group('rest').strip()[:40]!r}")
    where_sql: list[str] = []
    params: list[Any] = []
    if rest.group("where"):
        for cond in _AND.split(_ungrouped(rest.group("where"))):
            c = _CONDITION.match(cond)
            if not c or re.search(r"\s(OR|NOT|IN|LIKE)\s", f" {cond} ", re.I):
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: {cond.strip()[:40]!r}")
            name, kind = resolve(c.group("field"))
            value = _literal(c.group("value"), name, kind)
            op = "!=" if c.group("op") == "<>" else c.group("op")
            if value is None:
                if op not in ("=", "!="):
                    raise SoqlError("MALFORMED_QUERY", "null can only be compared with = or !=")
                where_sql.append(f"{_quote_ident(name)} IS {'NOT ' if op == '!=' else ''}NULL")
            else:
                where_sql.append(f"{_quote_ident(name)} {op} ${len(params) + 1}")
                params.append(value)
    if not include_deleted and "isdeleted" in by_lower:
        where_sql.append(f"NOT coalesce({_quote_ident(by_lower['isdeleted'][0])}, false)")

    order_sql: list[str] = []
    if count_only and rest.group("order"):
        raise SoqlError("MALFORMED_QUERY", "ORDER BY is not allowed with COUNT()")
    if rest.group("order"):
        for item in rest.group("order").split(","):
            o = _ORDER_ITEM.match(item)
            if not o:
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: {item.strip()[:40]!r}")
            name, _ = resolve(o.group("field"))
            direction = (o.group("dir") or "ASC").upper()
            nulls = (o.group("nulls") or ("FIRST" if direction == "ASC" else "LAST")).upper()
            order_sql.append(f"{_quote_ident(name)} {direction} NULLS {nulls}")
    elif "id" in by_lower and not count_only:
        order_sql.append(_quote_ident(by_lower["id"][0]))

    id_col = _quote_ident(by_lower["id"][0]) if "id" in by_lower else "NULL"
    url_prefix = f"{DATA_PREFIX}/sobjects/{sobject}/"
    pairs = [
        f"'attributes', json_object('type', {_sql_str(sobject)}, "
        f"'url', {_sql_str(url_prefix)} || {id_col})"
    ]
    pairs += [_selected_json(name, kind, by_lower) for name, kind in selected]
    source_sql = f"FROM {entry.schema}.{_quote_ident(entry.relation)}"
    if where_sql:
        source_sql += " WHERE " + " AND ".join(where_sql)
    if order_sql:
        source_sql += " ORDER BY " + ", ".join(order_sql)
    if rest.group("limit"):
        source_sql += f" LIMIT {int(rest.group('limit'))}"
    if count_only:
        return SoqlPlan(sobject, f"SELECT count(*) {source_sql}", params, count_only=True)
    sql = f"SELECT json_object({', '.join(pairs)})::VARCHAR || ',' {source_sql}"
    return SoqlPlan(sobject, sql, params, selected, source_sql)


# ---------------------------------------------------------------------------------------
# Query locators
# ---------------------------------------------------------------------------------------


@dataclass
class _Locator:
    rows: JsonRows
    batch_size: int
    last_used: float


class LocatorStore:
    """Server-side query cursors (`nextRecordsUrl`), kept until idle or evicted."""

    _ALPHABET = string.ascii_letters + string.digits

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, _Locator] = OrderedDict()

    def add(self, rows: JsonRows, batch_size: int) -> str:
        locator = "01g" + "".join(secrets.choice(self._ALPHABET) for _ in range(15))
        now = time.monotonic()
        with self._lock:
            self._items[locator] = _Locator(rows, batch_size, now)
            self._expire(now)
        return locator

    def get(self, locator: str) -> _Locator | None:
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            item = self._items.get(locator)
            if item is not None:
                item.last_used = now
                self._items.move_to_end(locator)
            return item

    def _expire(self, now: float) -> None:
        for key in [k for k, v in self._items.items() if now - v.last_used > LOCATOR_IDLE_SECONDS]:
            del self._items[key]
        while len(self._items) > MAX_LOCATORS:
            self._items.popitem(last=False)


# ---------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------


def _batch_size(header: str | None) -> int | None:
    if not header:
        return None
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() == "batchsize":
            try:
                return max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, int(value.strip())))
            except ValueError:
                return None
    return None


class _LimitInfoMiddleware:
    """Adds `Sforce-Limit-Info: api-usage=USED/LIMIT` to every API response."""

    def __init__(self, app: Any, crm: CrmServer) -> None:
        self.app = app
        self.crm = crm

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_admin"):
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: dict) -> None:
            if message["type"] == "http.response.start":
                value = f"api-usage={self.crm.state.api_usage}/{self.crm.daily_limit}"
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"sforce-limit-info", value.encode()),
                    ],
                }
            await send(message)

        await self.app(scope, receive, send_with_header)


class CrmServer:
    """Request handlers of the stand-in Salesforce org."""

    def __init__(self, world: World, credentials: SourceCredentials) -> None:
        self.world = world
        self.credentials = credentials
        self.locators = LocatorStore()
        self._catalog: tuple[int, dict[str, metadata.SfObject]] | None = None
        self.state = SourceState(
            "crm",
            is_data_path=lambda path: path.startswith("/services/data"),
            error_body=_fault_body,
            unsupported=(),
        )
        self.auth = TokenEndpoint(self.state, credentials)

    @property
    def daily_limit(self) -> int:
        return self.state.faults.daily_limit or DEFAULT_DAILY_LIMIT

    def _authorize(self, request: Request) -> Response | None:
        if not self.state.tokens.check(bearer_token(request), self.state.faults):
            return sf_errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        limit = self.daily_limit
        with self.state._lock:
            if self.state.api_usage >= limit:
                return sf_errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.state.api_usage += 1
        return None

    def catalog(self) -> dict[str, metadata.SfObject]:
        """The served sObjects (lower-case name -> object), rebuilt when the world changes."""
        version = self.world.version
        cached = self._catalog
        if cached is None or cached[0] != version:
            cached = (version, shaping.crm_catalog(self.world))
            self._catalog = cached
        return cached[1]

    # -- metadata ---------------------------------------------------------------------
    def sobjects(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        return JSONResponse(metadata.sobjects_list(self.catalog().values()))

    def describe(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        obj = self.catalog().get(request.path_params["name"].lower())
        if obj is None:
            # Salesforce's body for an unknown sObject (no `fields` member, unlike a query error).
            return JSONResponse(
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
                status_code=404,
            )
        return JSONResponse(metadata.describe(obj, lambda name: self._distinct(obj, name)))

    def _distinct(self, obj: metadata.SfObject, name: str) -> list[str]:
        """The distinct non-null values of one field of a served object."""
        col = _quote_ident(name)
        cur = self.world.cursor()
        try:
            rows = cur.execute(
                f"SELECT DISTINCT {col} FROM {obj.schema}.{_quote_ident(obj.relation)} "
                f"WHERE {col} IS NOT NULL ORDER BY 1"
            ).fetchall()
        finally:
            cur.close()
        return [str(r[0]) for r in rows]

    # -- data -------------------------------------------------------------------------
    def query(self, request: Request) -> Response:
        return self._query(request, include_deleted=False)

    def query_all(self, request: Request) -> Response:
        return self._query(request, include_deleted=True)

    def _query(self, request: Request, *, include_deleted: bool) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        soql = request.query_params.get("q")
        if not soql:
            return sf_errors(400, "MALFORMED_QUERY", "The q parameter is required")
        try:
            plan = parse_soql(
                soql, self.world, include_deleted=include_deleted, objects=self.catalog()
            )
        except SoqlError as exc:
            return sf_errors(400, exc.error_code, exc.message)
        cur = self.world.cursor()
        try:
            if plan.count_only:
                (count,) = cur.execute(plan.sql, plan.params).fetchone()
                return JSONResponse({"totalSize": count, "done": True, "records": []})
            rows = json_rows(cur, plan.sql, plan.params)
        finally:
            cur.close()
        batch = _batch_size(request.headers.get("sforce-query-options")) or DEFAULT_BATCH_SIZE
        locator = self.locators.add(rows, batch) if len(rows) > batch else None
        return self._page(rows, locator, 0, batch)

    def more(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        m = re.fullmatch(r"(01g[A-Za-z0-9]+)-(\d+)", request.path_params["locator"])
        item = self.locators.get(m.group(1)) if m else None
        if item is None or int(m.group(2)) > len(item.rows):
            return sf_errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        batch = _batch_size(request.headers.get("sforce-query-options")) or item.batch_size
        return self._page(item.rows, m.group(1), int(m.group(2)), batch)

    def _page(self, rows: JsonRows, locator: str | None, start: int, batch: int) -> Response:
        stop = min(start + batch, len(rows))
        done = stop >= len(rows)
        head = f'{{"totalSize":{len(rows)},"done":{"true" if done else "false"},'
        if not done:
            head += f'"nextRecordsUrl":"{DATA_PREFIX}/query/{locator}-{stop}",'
        body = head.encode() + b'"records":[' + rows.page(start, stop) + b"]}"
        return Response(body, media_type="application/json")

    def limits(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        used = self.state.api_usage
        return JSONResponse(
            {"DailyApiRequests": {"Max": self.daily_limit, "Remaining": self.daily_limit - used}}
        )

    def versions(self, request: Request) -> Response:
        return JSONResponse(
            [{"label": "Summer '24", "url": DATA_PREFIX, "version": API_VERSION.lstrip("v")}]
        )

    def not_found(self, request: Request) -> Response:
        return sf_errors(404, "NOT_FOUND", "The requested resource does not exist")


def create_app(world: World, credentials: SourceCredentials, *, admin_token: str) -> Starlette:
    """The stand-in Salesforce app; `app.state.source` is its `SourceState`."""
    from source_servers import crm_bulk  # it builds on this module

    crm = CrmServer(world, credentials)
    routes = [
        Route("/services/oauth2/token", crm.auth.token, methods=["POST"]),
        Route("/services/data", crm.versions, methods=["GET"]),
        Route("/services/data/", crm.versions, methods=["GET"]),
        Route(f"{DATA_PREFIX}/query", crm.query, methods=["GET"]),
        Route(f"{DATA_PREFIX}/queryAll", crm.query_all, methods=["GET"]),
        Route(f"{DATA_PREFIX}/query/{{locator}}", crm.more, methods=["GET"]),
        Route(f"{DATA_PREFIX}/queryAll/{{locator}}", crm.more, methods=["GET"]),
        Route(f"{DATA_PREFIX}/limits", crm.limits, methods=["GET"]),
        Route(f"{DATA_PREFIX}/sobjects", crm.sobjects, methods=["GET"]),
        Route(f"{DATA_PREFIX}/sobjects/", crm.sobjects, methods=["GET"]),
        Route(f"{DATA_PREFIX}/sobjects/{{name}}/describe", crm.describe, methods=["GET"]),
        Route(f"{DATA_PREFIX}/sobjects/{{name}}/describe/", crm.describe, methods=["GET"]),
        *crm_bulk.routes(crm, DATA_PREFIX),
        Route("/services/data/{rest:path}", crm.not_found),
        *admin_routes(crm.state, world),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(AdminGuard, token=admin_token),
            Middleware(_LimitInfoMiddleware, crm=crm),
            Middleware(FaultMiddleware, state=crm.state),
        ],
    )
    app.state.source = crm.state
    app.state.server = crm
    return app
