"""Stand-in NetSuite REST API: OAuth 2.0 and token-based logins, SuiteQL over `erp.*`.

Logins are checked by `source_servers.erp_auth`; a refused one answers NetSuite's bare
"Invalid login attempt" and records why in `state.login_audit`.

SuiteQL is executed as SQL by DuckDB over the world's `erp` tables, with
`TO_DATE`, `TO_TIMESTAMP`, `TO_CHAR` and `NVL` provided as macros. Results come back as
NetSuite sends them: every value a string, null columns left out, lowercase names,
dates `M/D/YYYY`, datetimes `M/D/YYYY h:mm am|pm`, numbers without a leading zero
(`.5`, `-.25`) or trailing `.0`, as NetSuite's Oracle back end renders them.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qs

import duckdb
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from source_servers import metadata, shaping
from source_servers.admin import AdminGuard, admin_routes
from source_servers.erp_auth import TbaVerifier, assertion_problem, client_secret_problem
from source_servers.faults import FaultMiddleware, SourceState, bearer_token
from source_servers.runtime import JsonRows, SourceCredentials, World, json_rows

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
QUERY_PATH = "/services/rest/query/v1/suiteql"
CATALOG_PATH = "/services/rest/record/v1/metadata-catalog"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME_SECONDS = 3600
MAX_LIMIT = 1000
MAX_ROWS = 100_000
CACHE_ENTRIES = 8
PROBE_LIMIT = 10
CACHE_BYTES = 768 * 1024 * 1024

_TITLES = {
    400: ("Bad Request", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1"),
    401: ("Unauthorized", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2"),
    403: ("Forbidden", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.4"),
    404: ("Not Found", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5"),
    429: ("Too Many Requests", "https://www.rfc-editor.org/rfc/rfc6585.html#section-4"),
    500: ("Internal Server Error", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.1"),
    502: ("Bad Gateway", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.3"),
    503: ("Service Unavailable", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.4"),
    504: ("Gateway Timeout", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.5"),
}

_MACROS = [
    "CREATE SCHEMA IF NOT EXISTS memory.suiteql",
    "CREATE OR REPLACE MACRO memory.suiteql.to_date(s) AS CAST(s AS DATE)",
    "CREATE OR REPLACE MACRO memory.suiteql.to_timestamp(s) AS CAST(s AS TIMESTAMP)",
    "CREATE OR REPLACE MACRO memory.suiteql.to_char(t) AS CAST(t AS VARCHAR)",
    "CREATE OR REPLACE MACRO memory.suiteql.nvl(a, b) AS coalesce(a, b)",
]

# A string literal (left alone) or an Oracle conversion call with a literal format.
_CONVERSION = re.compile(
    r"'(?:[^']|'')*'"
    r"|\b(?P<fn>TO_DATE|TO_TIMESTAMP|TO_CHAR)\s*\(\s*(?P<arg>'(?:[^']|'')*'|[A-Za-z_][\w.]*)"
    r"\s*,\s*'(?P<fmt>(?:[^']|'')*)'\s*\)",
    re.I,
)
_ORACLE_FORMAT = [
    ("YYYY", "%Y"),
    ("HH24", "%H"),
    ("HH12", "%I"),
    ("HH", "%I"),
    ("MI", "%M"),
    ("MM", "%m"),
    ("DD", "%d"),
    ("SS", "%S"),
    ("AM", "%p"),
    ("PM", "%p"),
]


def _strftime_format(oracle: str) -> str:
    """An Oracle datetime format (`YYYY-MM-DD HH24:MI:SS`) as a strftime format."""
    out = oracle.upper()
    for old, new in _ORACLE_FORMAT:
        out = out.replace(old, new)
    return out


def rewrite_conversions(query: str) -> str:
    """Replace TO_DATE/TO_TIMESTAMP/TO_CHAR(x, 'format') by DuckDB's strptime/strftime."""

    def sub(m: re.Match[str]) -> str:
        fn = m.group("fn")
        if fn is None:
            return m.group(0)
        fmt = "'" + _strftime_format(m.group("fmt").replace("''", "'")).replace("'", "''") + "'"
        arg = m.group("arg")
        if fn.upper() == "TO_DATE":
            return f"CAST(strptime({arg}, {fmt}) AS DATE)"
        if fn.upper() == "TO_TIMESTAMP":
            return f"strptime({arg}, {fmt})"
        return f"strftime({arg}, {fmt})"

    return _CONVERSION.sub(sub, query)


_OTHER_SCHEMAS = re.compile(
    r"\b(crm|portal|main|memory|system|temp|information_schema|pg_catalog|suiteql)\s*\.\s*\w*",
    re.I,
)
_TABLE_FUNCTION = re.compile(r"\b(FROM|JOIN)\s+[A-Za-z_][\w.]*\s*\(", re.I)
_CTE_NAME = re.compile(r"\b([A-Za-z_]\w*)\s+AS\s*\(", re.I)
_STRING = re.compile(r"'(?:[^']|'')*'")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


class SuiteQLError(Exception):
    """A query NetSuite would refuse (400)."""


def ns_error(status: int, detail: str, code: str, headers: dict | None = None) -> Response:
    """A NetSuite REST error response."""
    return Response(ns_error_body(status, detail, code), status, headers, "application/json")


def ns_error_body(status: int, detail: str, code: str) -> bytes:
    title, kind = _TITLES.get(status, ("Error", "about:blank"))
    return json.dumps(
        {
            "type": kind,
            "title": title,
            "status": status,
            "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
        }
    ).encode()


def _fault_body(status: int, message: str) -> bytes:
    if status == 429:
        return ns_error_body(
            429, "Concurrent request limit exceeded. Request blocked.", "CONCURRENCY_LIMIT_EXCEEDED"
        )
    if status == 401:
        return ns_error_body(401, _INVALID_LOGIN, "INVALID_LOGIN")
    return ns_error_body(status, message, "UNEXPECTED_ERROR")


_INVALID_LOGIN = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI "
    "at Setup > Users/Roles > User Management > View Login Audit Trail."
)
_SEARCH = "Invalid search query. Detailed unprocessed description follows. Search error occurred: "


def _format(col: str, duckdb_type: str) -> tuple[str, bool]:
    """SQL rendering column `col` as NetSuite's string; True when it needs JSON escaping."""
    t = duckdb_type.upper()
    if t == "BOOLEAN":
        return f"CASE WHEN {col} THEN 'T' ELSE 'F' END", False
    if t == "DATE":
        return f"strftime({col}, '%-m/%-d/%Y')", False
    if t.startswith("TIMESTAMP"):
        return f"lower(strftime({col}, '%-m/%-d/%Y %-I:%M %p'))", False
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT") or t.startswith("U"):
        return f"CAST({col} AS VARCHAR)", False
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        d = f"CAST({col} AS DOUBLE)"
        return (
            f"CASE WHEN isfinite({d}) AND {d} = trunc({d}) AND abs({d}) < 1e15 "
            f"THEN CAST(CAST({d} AS BIGINT) AS VARCHAR) "
            f"WHEN abs({d}) < 1 THEN regexp_replace(CAST({d} AS VARCHAR), '^(-?)0\\.', '\\1.') "
            f"ELSE CAST({d} AS VARCHAR) END",
            False,
        )
    if t == "VARCHAR":
        return col, True
    return f"CAST({col} AS VARCHAR)", True


def _output_names(columns: list[str]) -> list[str]:
    names: list[str] = []
    expr = 0
    for raw in columns:
        name = raw.lower()
        if not _IDENT.match(name):
            expr += 1
            name = f"expr{expr}"
        base, n = name, 1
        while name in names:
            name = f"{base}_{n}"
            n += 1
        names.append(name)
    return names


@dataclass
class _Result:
    """Formatted rows of a query starting at row `start`, and the query's total count."""

    rows: JsonRows
    total: int
    start: int = 0

    def page(self, offset: int, stop: int) -> bytes:
        return self.rows.page(offset - self.start, stop - self.start)


class SuiteQLRunner:
    """Validates SuiteQL, runs it on the world and caches the formatted rows per query."""

    def __init__(self, world: World) -> None:
        self.world = world
        # The schema serving the records: `erp`, or a shape's views over it. A shaped
        # account must not reach the unshaped tables by qualifying a name with `erp.`.
        self.schema = shaping.served_schema(world.shape, "erp")
        self._hidden_schemas = (
            None
            if self.schema == "erp"
            else re.compile(rf"\b(erp|{re.escape(self.schema)})\s*\.\s*\w*", re.I)
        )
        cur = world.cursor()
        try:
            for statement in _MACROS:
                cur.execute(statement)
        finally:
            cur.close()
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, str], _Result] = OrderedDict()
        self._computing: dict[tuple[int, str], threading.Lock] = {}

    def result(self, query: str, offset: int = 0, limit: int = MAX_ROWS) -> _Result:
        """Rows (at most 100,000) and total count of `query`, cached per world version.

        A small page of a query not seen before (a probe such as `limit=1&offset=99999`)
        is computed alone and not cached.
        """
        key = (self.world.version, query)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            if limit <= PROBE_LIMIT:
                key_lock = None
            else:
                key_lock = self._computing.setdefault(key, threading.Lock())
        if key_lock is None:
            return self._run(query, offset, limit)
        with key_lock:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None:
                return hit
            result = self._run(query)
            with self._lock:
                self._cache[key] = result
                self._computing.pop(key, None)
                while len(self._cache) > CACHE_ENTRIES or (
                    len(self._cache) > 1
                    and sum(r.rows.nbytes for r in self._cache.values()) > CACHE_BYTES
                ):
                    self._cache.popitem(last=False)
            return result

    def _validate(self, cur: duckdb.DuckDBPyConnection, query: str) -> str:
        try:
            statements = cur.extract_statements(query)
        except duckdb.Error as exc:
            raise SuiteQLError(_SEARCH + _first_line(exc)) from None
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise SuiteQLError(_SEARCH + "Only a single SELECT statement is supported.")
        text = rewrite_conversions(query.strip().rstrip(";").strip())
        bare = _STRING.sub("''", text)
        qualified = _OTHER_SCHEMAS.search(bare) or (
            self._hidden_schemas.search(bare) if self._hidden_schemas else None
        )
        if qualified:
            name = "".join(qualified.group(0).split())
            raise SuiteQLError(_SEARCH + f"Record '{name}' was not found.")
        if _TABLE_FUNCTION.search(bare):
            raise SuiteQLError(_SEARCH + "Table functions are not supported.")
        allowed = {t.lower() for t in self.world.tables(self.schema)}
        allowed |= {m.lower() for m in _CTE_NAME.findall(bare)}
        # Names as written: a cursor that cannot see the records, since DuckDB would
        # report the tables under a shape's views instead of the views themselves.
        names_cur = self.world.cursor()
        try:
            referenced = names_cur.get_table_names(text)
        except duckdb.Error as exc:
            raise SuiteQLError(_SEARCH + _first_line(exc)) from None
        finally:
            names_cur.close()
        for name in sorted(referenced):
            if name.lower() not in allowed:
                raise SuiteQLError(_SEARCH + f"Record '{name}' was not found.")
        return text

    def _run(self, query: str, offset: int = 0, limit: int = MAX_ROWS) -> _Result:
        cur = self.world.cursor()
        try:
            cur.execute(f"SET search_path = 'memory.{self.schema},memory.suiteql'")
            text = self._validate(cur, query)
            try:
                rel = cur.sql(text)
                columns, types = list(rel.columns), [str(t) for t in rel.types]
            except duckdb.Error as exc:
                raise SuiteQLError(_SEARCH + _describe(exc)) from None
            names = _output_names(columns)
            aliases = [f"c{i}" for i in range(len(columns))]
            parts = ["'{\"links\":[]'"]
            for name, alias, dtype in zip(names, aliases, types, strict=True):
                expr, needs_json = _format(alias, dtype)
                value = f"to_json({expr})::VARCHAR" if needs_json else f"'\"' || {expr} || '\"'"
                parts.append(f"',\"{name}\":' || {value}")
            parts.append("'},'")
            inner = f"(\n{text}\n) AS _q({', '.join(aliases)})"
            limit = min(limit, MAX_ROWS - offset)
            sql = f"SELECT concat({', '.join(parts)}) FROM {inner} LIMIT {limit} OFFSET {offset}"
            try:
                rows = json_rows(cur, sql)
                total = offset + len(rows)
                if len(rows) >= limit or offset > 0:
                    total = cur.execute(f"SELECT count(*) FROM (\n{text}\n) AS _q").fetchall()[0][0]
            except duckdb.Error as exc:
                raise SuiteQLError(_SEARCH + _describe(exc)) from None
            return _Result(rows, total, offset)
        finally:
            cur.close()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _describe(exc: duckdb.Error) -> str:
    text = _first_line(exc)
    m = re.search(r"Table with name (\S+) does not exist", text)
    if m:
        return f"Record '{m.group(1)}' was not found."
    m = re.search(r'Referenced column "?([^"\s]+)"? not found', text)
    if m:
        return f"Unknown identifier '{m.group(1)}'."
    m = re.search(r"Referenced table \"?([^\"\s]+)\"? not found", text)
    if m:
        return f"Unknown identifier '{m.group(1)}'."
    return text


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


class ErpServer:
    """Request handlers of the stand-in NetSuite account."""

    def __init__(self, world: World, credentials: SourceCredentials) -> None:
        self.world = world
        self.credentials = credentials
        self.client_id = credentials.erp_client_id
        self.client_secret = credentials.erp_client_secret
        self.runner = SuiteQLRunner(world)
        self.state = SourceState(
            "erp",
            is_data_path=lambda path: path.startswith("/services/rest/query"),
            error_body=_fault_body,
            token_lifetime_seconds=TOKEN_LIFETIME_SECONDS,
        )
        self.tba = TbaVerifier(credentials)

    async def token(self, request: Request) -> Response:
        form = _form(await request.body())
        if form.get("grant_type") != "client_credentials":
            return JSONResponse(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                status_code=400,
            )
        if "client_assertion" in form:
            if form.get("client_assertion_type") != JWT_BEARER:
                return JSONResponse(
                    {"error": "invalid_request", "error_description": "bad client_assertion_type"},
                    status_code=400,
                )
            base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
            method = "certificate"
            problem = assertion_problem(
                form["client_assertion"], self.credentials, base + request.url.path
            )
        else:
            method = "client_credentials"
            problem = client_secret_problem(form, request.headers, self.credentials)
        if problem:
            self.state.audit_login(method, problem)
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        return JSONResponse(
            {
                "access_token": self.state.tokens.issue(),
                "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME_SECONDS,
            }
        )

    def _logged_in(self, request: Request) -> bool:
        """A request signed with token-based authentication, or with a valid bearer token
        (a refused TBA login is audited; a bearer token is checked per use)."""
        header = request.headers.get("authorization", "")
        if header[:6].lower() == "oauth ":
            if self.state.faults.reject_tokens:
                problem: str | None = "access token revoked (reject_tokens fault)"
            else:
                problem = self.tba.check(request.method, str(request.url), request.headers)
            if problem:
                self.state.audit_login("tba", problem)
            return problem is None
        return self.state.tokens.check(bearer_token(request), self.state.faults)

    def suiteql(self, request: Request, body: bytes) -> Response:
        if not self._logged_in(request):
            return ns_error(401, _INVALID_LOGIN, "INVALID_LOGIN")
        if "transient" not in request.headers.get("prefer", "").lower():
            return ns_error(
                400,
                "Invalid request: the 'Prefer: transient' header is required for SuiteQL queries.",
                "INVALID_HEADER",
            )
        try:
            limit = int(request.query_params.get("limit", MAX_LIMIT))
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return ns_error(400, "Invalid value for 'limit' or 'offset'.", "INVALID_PARAMETER")
        if limit < 1 or limit > MAX_LIMIT:
            return ns_error(
                400,
                f"Invalid value for query parameter 'limit'. It must be between 1 and {MAX_LIMIT}.",
                "INVALID_PARAMETER",
            )
        if offset < 0 or offset >= MAX_ROWS:
            return ns_error(
                400,
                f"Invalid value for query parameter 'offset'. It must be between 0 and "
                f"{MAX_ROWS - 1}: a query returns at most {MAX_ROWS} results.",
                "INVALID_PARAMETER",
            )
        try:
            payload = json.loads(body)
            query = payload["q"]
            if not isinstance(query, str) or not query.strip():
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return ns_error(400, 'The request body must be {"q": "<SuiteQL>"}.', "INVALID_CONTENT")
        try:
            result = self.runner.result(query, offset, limit)
        except SuiteQLError as exc:
            return ns_error(400, str(exc), "INVALID_PARAMETER")
        stop = min(offset + limit, MAX_ROWS, result.total)
        count = max(0, stop - offset)
        has_more = offset + count < result.total
        base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        base += request.url.path

        def link(rel: str, at: int) -> dict[str, str]:
            return {"rel": rel, "href": f"{base}?limit={limit}&offset={at}"}

        links = []
        if offset > 0:
            links.append(link("previous", max(0, offset - limit)))
        links.append(link("first", 0))
        if has_more:
            links.append(link("next", offset + limit))
        if result.total:
            links.append(link("last", ((min(result.total, MAX_ROWS) - 1) // limit) * limit))
        links.append(link("self", offset))
        head = (
            f'{{"links":{json.dumps(links, separators=(",", ":"))},"count":{count},'
            f'"hasMore":{"true" if has_more else "false"},"items":['
        ).encode()
        tail = f'],"offset":{offset},"totalResults":{result.total}}}'.encode()
        return Response(head + result.page(offset, stop) + tail, media_type="application/json")

    # -- record metadata ------------------------------------------------------------------
    def metadata_catalog(self, request: Request) -> Response:
        if not self._logged_in(request):
            return ns_error(401, _INVALID_LOGIN, "INVALID_LOGIN")
        base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        records = sorted(self.world.tables(self.runner.schema))
        return JSONResponse(metadata.record_catalog(records, base + CATALOG_PATH))

    def record_metadata(self, request: Request) -> Response:
        if not self._logged_in(request):
            return ns_error(401, _INVALID_LOGIN, "INVALID_LOGIN")
        wanted = request.path_params["record"].lower()
        records = {t.lower(): t for t in self.world.tables(self.runner.schema)}
        if wanted not in records:
            return ns_error(
                404,
                f"Record type '{request.path_params['record']}' was not found.",
                "NONEXISTENT_ID",
            )
        name = records[wanted]
        body = metadata.record_schema(name, self.world.columns(self.runner.schema, name))
        return JSONResponse(body, media_type="application/schema+json")

    def not_found(self, request: Request) -> Response:
        return ns_error(404, "The requested resource does not exist.", "NONEXISTENT_ID")


def create_app(world: World, credentials: SourceCredentials, *, admin_token: str) -> Starlette:
    """The stand-in NetSuite app; `app.state.source` is its `SourceState`."""
    erp = ErpServer(world, credentials)

    async def suiteql(request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(erp.suiteql, request, body)

    routes = [
        Route(TOKEN_PATH, erp.token, methods=["POST"]),
        Route(QUERY_PATH, suiteql, methods=["POST"]),
        Route(CATALOG_PATH, erp.metadata_catalog, methods=["GET"]),
        Route(CATALOG_PATH + "/", erp.metadata_catalog, methods=["GET"]),
        Route(CATALOG_PATH + "/{record}", erp.record_metadata, methods=["GET"]),
        Route("/services/rest/{rest:path}", erp.not_found),
        *admin_routes(erp.state, world),
    ]
    middleware = [
        Middleware(AdminGuard, token=admin_token),
        Middleware(FaultMiddleware, state=erp.state),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.source = erp.state
    app.state.server = erp
    return app
