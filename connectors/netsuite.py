"""NetSuite SuiteQL (REST) connector: logins, keyset windows, paging, concurrency.

The login is `settings.erp_auth_method`: OAuth 2.0 client credentials (client id and
secret), OAuth 2.0 M2M ("certificate": a JWT client assertion signed with the
certificate's key) or token-based authentication ("tba": OAuth 1.0a, each request signed
with HMAC-SHA256, the account id as realm). A credential missing for the chosen login is a
ValueError naming its variables.

One SuiteQL query returns at most 100,000 rows (`offset` at or past the cap is a 400), so
a table is read in keyset windows over its unique key: `list_windows` finds the window
bounds with one 1-row probe per 100,000 rows, and `fetch_window` pages through one window
(`ORDER BY` the key, `limit=1000&offset=N`), continuing after the last key seen should a
window have grown past the cap meanwhile. Windows are independent: `fetch_table` reads
them one by one or, with `erp_window_workers > 1`, concurrently.

NetSuite refuses requests beyond the account's concurrency limit with 429
`CONCURRENCY_LIMIT_EXCEEDED`, and the limit is shared with every other integration of the
account. When a SuiteQL request meets a 429 (as `HttpClient` retries it, or final), the
client sends one SuiteQL request fewer at a time for the rest of the run (not below 1):
`WindowLimiter`, shared by every table the client fetches. It is lowered while the
request is still being retried: requests that keep going meanwhile would otherwise take
every free place, and the retried one would run out of retries.

SuiteQL items are strings, with null columns left out; the landing types every column
(`PARSERS`): dates `M/D/YYYY`, `lastmodifieddate` `M/D/YYYY h:mm am|pm`, flags 'T'/'F'.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from connectors.auth import Auth, OAuth1Signature, OAuthToken
from connectors.config import Settings, reveal
from connectors.http import HttpClient, SourceError, is_array, is_object
from connectors.landing import DEFAULT_PARSERS, JsonLanding
from connectors.schema import ERP_TABLES, RawTable
from connectors.spool import PageSpool

log = logging.getLogger("partnerpulse.connectors.netsuite")

SYSTEM = "erp"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
QUERY_PATH = "/services/rest/query/v1/suiteql"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
MAX_LIMIT = 1000
MAX_ROWS_PER_QUERY = 100_000

PARSERS: dict[str, str] = {
    **DEFAULT_PARSERS,
    "BOOLEAN": "(CASE {x} WHEN 'T' THEN TRUE WHEN 'F' THEN FALSE END)",
    "DATE": "CAST(try_strptime({x}, '%m/%d/%Y') AS DATE)",
    "TIMESTAMP": "try_strptime({x}, '%m/%d/%Y %I:%M %p')",
}

# The default org's raw tables (connectors.schema.source_tables gives another org's).
TABLES: dict[str, RawTable] = dict(ERP_TABLES)

Key = tuple[int, ...]


def page_size(settings: Settings) -> int:
    """Rows per SuiteQL page (NetSuite refuses more than 1,000)."""
    return max(1, min(settings.erp_page_size, MAX_LIMIT))


def query_cap(settings: Settings) -> int:
    """Rows read per query: at most 100,000 (NetSuite's cap), a multiple of the page size."""
    limit = page_size(settings)
    cap = min(settings.erp_query_row_cap, MAX_ROWS_PER_QUERY)
    return max(limit, cap // limit * limit)


@dataclass(frozen=True)
class Window:
    """Rows whose key is > `after` (None: from the start) and <= `upto` (None: to the end)."""

    after: Key | None = None
    upto: Key | None = None


def landing(table: RawTable) -> JsonLanding:
    """How SuiteQL pages of `table` land (records under `items`)."""
    return JsonLanding(table=table, records_key="items", parsers=PARSERS)


def suiteql_timestamp(mark: datetime) -> str:
    """`TO_TIMESTAMP('2024-05-01 13:45:00', 'YYYY-MM-DD HH24:MI:SS')` (floored to the second)."""
    return f"TO_TIMESTAMP('{mark:%Y-%m-%d %H:%M:%S}', 'YYYY-MM-DD HH24:MI:SS')"


def _keyset(columns: tuple[str, ...], values: Key, strict: str, last: str) -> str:
    """Lexicographic comparison of `columns` with `values` (`>`/`<` then `>`/`<=` at the end)."""
    if len(columns) != len(values):
        raise ValueError("key and values differ in length")
    if len(columns) == 1:
        return f"{columns[0]} {last} {values[0]}"
    head, rest = columns[0], columns[1:]
    inner = _keyset(rest, values[1:], strict, last)
    return f"({head} {strict} {values[0]}) OR ({head} = {values[0]} AND {inner})"


def keyset_after(columns: tuple[str, ...], values: Key) -> str:
    """`key > values`, e.g. `(transaction > 5) OR (transaction = 5 AND id > 2)`."""
    return _keyset(columns, values, ">", ">")


def keyset_upto(columns: tuple[str, ...], values: Key) -> str:
    """`key <= values`, e.g. `(transaction < 9) OR (transaction = 9 AND id <= 1)`."""
    return _keyset(columns, values, "<", "<=")


def build_query(
    table: RawTable,
    since: datetime | None,
    window: Window = Window(),
    columns: tuple[str, ...] | None = None,
) -> str:
    """The SuiteQL of one window: incremental filter, key bounds, ORDER BY the unique key."""
    key = table.primary_key
    conds = [table.source_filter] if table.source_filter else []
    if since is not None and table.watermark:
        conds.append(f"{table.watermark} >= {suiteql_timestamp(since)}")
    if window.after is not None:
        conds.append(keyset_after(key, window.after))
    if window.upto is not None:
        conds.append(keyset_upto(key, window.upto))
    where = " WHERE " + " AND ".join(f"({c})" for c in conds) if conds else ""
    cols = ", ".join(columns or tuple(table.columns))
    return f"SELECT {cols} FROM {table.read_from}{where} ORDER BY {', '.join(key)}"


def client_assertion(settings: Settings, token_url: str, now: float | None = None) -> str:
    """A JWT client assertion signed with the integration's certificate key (NetSuite M2M)."""
    if not (settings.erp_private_key_path and settings.erp_certificate_id):
        raise ValueError("a JWT client assertion needs a certificate id and a private key path")
    issued = int(time.time() if now is None else now)
    payload = {
        "iss": settings.erp_client_id,
        "scope": [s.strip() for s in settings.erp_jwt_scope.split(",") if s.strip()],
        "aud": token_url,
        "iat": issued,
        "exp": issued + 3600,
    }
    key = settings.erp_private_key_path.read_bytes()
    return jwt.encode(
        payload,
        key,
        algorithm=settings.erp_jwt_algorithm,
        headers={"kid": settings.erp_certificate_id, "typ": "JWT"},
    )


def token_form(settings: Settings, token_url: str) -> dict[str, str]:
    """The token request's form: a JWT client assertion when configured, else id + secret."""
    if settings.erp_uses_jwt:
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": client_assertion(settings, token_url),
        }
    secret = settings.erp_client_secret
    return {
        "grant_type": "client_credentials",
        "client_id": settings.erp_client_id or "",
        "client_secret": reveal(secret),
    }


# NetSuite answers every refused login with "Invalid login attempt" alone; the reason is
# in the account's Login Audit Trail.
TBA_HINT = (
    "check PARTNERPULSE_ERP_ACCOUNT_ID (the realm: the account id as written, e.g. "
    "1234567_SB1), the consumer key/secret pair (integration record) and token id/secret "
    "pair (access token), and the token role's permissions (Log in using Access Tokens, "
    "REST Web Services); the Login Audit Trail says why"
)
# The settings each login needs (their variables are PARTNERPULSE_<NAME>).
REQUIRED: dict[str, tuple[str, ...]] = {
    "client_credentials": (),
    "certificate": ("erp_client_id", "erp_certificate_id", "erp_private_key_path"),
    "tba": (
        "erp_account_id",
        "erp_consumer_key",
        "erp_consumer_secret",
        "erp_token_id",
        "erp_token_secret",
    ),
}


def login(settings: Settings, token_url: str) -> Auth:
    """The Auth of `settings.erp_auth_method`; ValueError naming the variables of any
    credential it needs that is not set (never a value)."""
    method = settings.erp_auth_method
    missing = settings.unset(REQUIRED[method])
    if missing:
        raise ValueError(f"NetSuite login {method!r} needs {', '.join(missing)}: not set")
    if method == "tba":
        assert settings.erp_account_id and settings.erp_consumer_key  # checked above
        return OAuth1Signature(
            settings.erp_account_id,
            settings.erp_consumer_key,
            reveal(settings.erp_consumer_secret),
            reveal(settings.erp_token_id),
            reveal(settings.erp_token_secret),
            hint=TBA_HINT,
        )
    secret = settings.erp_client_secret
    return OAuthToken(
        token_url, lambda: token_form(settings, token_url), [secret.reveal()] if secret else []
    )


class WindowLimiter:
    """How many SuiteQL requests a client sends at a time: `limit`, lowered by one (not
    below 1) for each request that meets a 429.

    Lowered once per request, not per 429: a request's retries meet the same crowd. Of
    a burst, as many requests are refused as were too many, so the limit lands on what
    the account allows.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.lowered = 0
        self._active = 0
        self._cond = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the `limit` places while sending a request."""
        with self._cond:
            while self._active >= self.limit:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def lower(self) -> None:
        """Send one request fewer at a time (not below 1)."""
        with self._cond:
            if self.limit <= 1:
                return
            self.limit -= 1
            self.lowered += 1
            limit = self.limit
        log.warning(
            "erp: NetSuite refused a SuiteQL request for concurrency (HTTP 429): sending at "
            "most %d at a time for the rest of the run",
            limit,
        )


class NetSuiteClient:
    """Authenticated SuiteQL access to one NetSuite account.

    `auth` replaces the login `settings` choose (tests sign with a fixed nonce, say).
    """

    def __init__(
        self, settings: Settings, http: HttpClient | None = None, *, auth: Auth | None = None
    ) -> None:
        if not settings.erp_url:
            raise ValueError("PARTNERPULSE_ERP_URL is not set")
        self.settings = settings
        self.base_url = settings.erp_url.rstrip("/")
        self.auth = auth or login(settings, self.base_url + TOKEN_PATH)
        self.http = http or HttpClient(SYSTEM, settings.http, self.auth)
        if http is not None:
            self.http.auth = self.auth
        self.limiter = WindowLimiter(settings.erp_window_workers)

    @property
    def query_url(self) -> str:
        return self.base_url + QUERY_PATH

    def suiteql(self, query: str, *, limit: int, offset: int) -> tuple[bytes, dict[str, Any]]:
        """One page of a SuiteQL query: (raw body, parsed body), validated."""
        url = self.query_url
        met_429 = False

        def on_429(status: int | None) -> None:
            nonlocal met_429
            if status == 429 and not met_429:
                met_429 = True
                self.limiter.lower()

        with self.limiter.slot():
            try:
                resp = self.http.request(
                    "POST",
                    url,
                    params={"limit": limit, "offset": offset},
                    json={"q": query},
                    headers={"Prefer": "transient"},
                    on_retry=on_429,
                )
            except SourceError as exc:
                on_429(exc.status)
                raise
        body = self.http.parse_json(resp, "POST", url)
        if not is_object(body) or not is_array(body.get("items")):
            raise self.http.error("POST", url, resp.status_code, "malformed body: no items list")
        if not isinstance(body.get("hasMore"), bool):
            raise self.http.error("POST", url, resp.status_code, "malformed body: no hasMore")
        count = body.get("count")
        if count is not None and count != len(body["items"]):
            raise self.http.error(
                "POST",
                url,
                resp.status_code,
                f"malformed body: count {count} but {len(body['items'])} items",
            )
        return resp.content, body

    def key_of(self, table: RawTable, item: Any) -> Key:
        """The unique key of an item as integers (a missing or non-numeric key is malformed)."""
        try:
            return tuple(int(item[k]) for k in table.primary_key)
        except (KeyError, TypeError, ValueError):
            raise self.http.error(
                "POST",
                self.query_url,
                200,
                f"malformed body: a {table.name} item has no numeric key {table.primary_key}",
            ) from None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> NetSuiteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def list_windows(client: NetSuiteClient, table: RawTable, since: datetime | None) -> list[Window]:
    """Key windows of at most `erp_query_row_cap` rows each (one 1-row probe per window)."""
    cap = query_cap(client.settings)
    windows: list[Window] = []
    after: Key | None = None
    while True:
        query = build_query(table, since, Window(after, None), columns=table.primary_key)
        _, body = client.suiteql(query, limit=1, offset=cap - 1)
        if not body["items"]:
            windows.append(Window(after, None))
            return windows
        bound = client.key_of(table, body["items"][0])
        windows.append(Window(after, bound))
        after = bound


@dataclass(frozen=True)
class WindowResult:
    """What one window's fetch spooled."""

    window: Window
    pages: int
    rows: int
    queries: int


def fetch_window(
    client: NetSuiteClient,
    table: RawTable,
    since: datetime | None,
    window: Window,
    spool: PageSpool,
    *,
    group: str = "w",
) -> WindowResult:
    """Spool every row of one window, page by page (a new query after the last key if the
    window outgrew the cap); pages cut short or counts that do not add up are hard errors."""
    settings = client.settings
    limit, cap = page_size(settings), query_cap(settings)
    pages = rows = queries = 0
    after = window.after
    while True:
        query = build_query(table, since, Window(after, window.upto))
        queries += 1
        offset = got = 0
        total: int | None = None
        last: Key | None = None
        while True:
            raw, body = client.suiteql(query, limit=limit, offset=offset)
            items = body["items"]
            if total is None and isinstance(body.get("totalResults"), int):
                total = body["totalResults"]
            if body["hasMore"] and len(items) != limit:
                raise client.http.error(
                    "POST",
                    client.query_url,
                    200,
                    f"malformed body: {table.name} page at offset {offset} has {len(items)} "
                    f"items of {limit} but more follow (page cut short)",
                )
            if items:
                last = client.key_of(table, items[-1])
            spool.add(raw, len(items), group=f"{group}-q{queries:04d}")
            pages += 1
            got += len(items)
            offset += limit
            if not body["hasMore"] or offset >= cap:
                break
        rows += got
        # At the cap, more rows may follow whether or not the page says `hasMore`.
        capped = offset >= cap and (body["hasMore"] or (total is not None and got < total))
        if not capped:
            if total is not None and got != total:
                raise client.http.error(
                    "POST",
                    client.query_url,
                    200,
                    f"malformed body: {table.name} query returned {got} rows "
                    f"but totalResults is {total}",
                )
            return WindowResult(window, pages, rows, queries)
        # The window outgrew one query's cap: continue after the last key seen.
        after = last


@dataclass(frozen=True)
class FetchResult:
    """What a table fetch spooled, and the SuiteQL requests sent at a time at its end
    (`window_workers`) after `concurrency_lowered` lowerings during it."""

    pages: int
    records: int
    windows: int
    queries: int
    window_workers: int = 1
    concurrency_lowered: int = 0


def fetch_table(
    client: NetSuiteClient,
    table: RawTable,
    since: datetime | None,
    spool: PageSpool,
    *,
    lookback: timedelta = timedelta(0),
) -> FetchResult:
    """Spool every row of `table` modified at or after `since - lookback` (all rows for
    tables without `lastmodifieddate`), window by window."""
    mark = since - lookback if (since is not None and table.watermark) else None
    lowered_before = client.limiter.lowered
    windows = list_windows(client, table, mark)
    # The limiter bounds the requests in flight; more threads than it admits would wait.
    workers = client.limiter.limit

    def one(ix_window: tuple[int, Window]) -> WindowResult:
        ix, window = ix_window
        return fetch_window(client, table, mark, window, spool, group=f"w{ix:05d}")

    if workers > 1 and len(windows) > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="suiteql") as pool:
            results = list(pool.map(one, enumerate(windows)))
    else:
        results = [one(x) for x in enumerate(windows)]
    pages = sum(r.pages for r in results)
    records = sum(r.rows for r in results)
    queries = sum(r.queries for r in results) + len(windows)  # + the window probes
    log.info("erp %s: %d rows, %d pages, %d windows", table.name, records, pages, len(windows))
    lowered = client.limiter.lowered - lowered_before
    return FetchResult(pages, records, len(windows), queries, client.limiter.limit, lowered)
