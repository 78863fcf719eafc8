"""The one place for HTTP behaviour: retries, Retry-After, timeouts, auth refresh, errors.

Every connector talks to its source through an `HttpClient`:

- a `requests.Session` with urllib3 `Retry` mounted on an `HTTPAdapter`: 429/500/502/503/504
  and connection errors are retried with exponential backoff and jitter, `Retry-After`
  (whole seconds or HTTP-date) is honoured, POST is retried too (SuiteQL queries and token
  requests are idempotent); no single wait exceeds `retry_after_max_s` / `backoff_max_s`,
  and no retry starts whose wait would end past `retry_total_max_s` for the request;
- a `(connect, read)` timeout on every request;
- an `Auth` (`connectors.auth`) that obtains a credential lazily (or signs each request:
  OAuth 1.0a); on 401 the client fetches a new token once and retries, and a second 401
  is a hard error; a credential that cannot be refreshed fails at the first 401, with the
  scheme's `hint` of what to check;
- every failure is a `SourceError` naming the system, the endpoint (without query string)
  and the last HTTP status, with every known secret (client secret, token, API key) in
  every encoding redacted from its text (`connectors.redaction`), cut at
  `MAX_MESSAGE_CHARS` after redaction;
- success bodies are parsed lazily (`parse_json`): the connectors read a page's envelope
  (counts, cursors, a key) in Python, and DuckDB lands the records from the raw bytes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests
import simdjson
from requests.adapters import HTTPAdapter

from connectors.config import HttpSettings
from connectors.redaction import redact
from connectors.retries import BoundedRetry, RetryBudgetExceeded, observing

if TYPE_CHECKING:
    from connectors.api_budget import ApiBudget
    from connectors.auth import Auth

log = logging.getLogger("partnerpulse.connectors.http")

RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST"})
USER_AGENT = "partnerpulse-connectors/0.1"
# A SourceError's message is cut here (after redaction): it goes into Dagster's event log,
# `ops.sync_runs.error` and alerts, where a whole error page is noise.
MAX_MESSAGE_CHARS = 500


class SourceError(Exception):
    """A source request failed: names the system, the endpoint and the last status."""

    def __init__(
        self,
        system: str,
        endpoint: str,
        status: int | None,
        message: str,
        *,
        code: str | None = None,
    ) -> None:
        self.system = system
        self.endpoint = endpoint
        self.status = status
        self.message = message
        self.code = code
        super().__init__(str(self))

    def __str__(self) -> str:
        status = self.status if self.status is not None else "none (no response)"
        return f"{self.system}: {self.message} [endpoint {self.endpoint}, last status {status}]"

    def __reduce__(self):
        return (
            _rebuild_source_error,
            (self.system, self.endpoint, self.status, self.message, self.code),
        )


def _rebuild_source_error(system, endpoint, status, message, code):
    return SourceError(system, endpoint, status, message, code=code)


def safe_endpoint(url: str) -> str:
    """`scheme://host/path` of a URL: no user info, query string or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def describe_error_body(response: requests.Response) -> tuple[str, str | None]:
    """A human text and an error code from a source's error body.

    Not cut here: a cut before redaction could leave the start of an echoed secret, which
    `redact` would no longer recognise; `HttpClient.error` redacts, then cuts.
    """
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip().replace("\n", " ")
        return (text or response.reason or "error"), None
    # Salesforce: [{"message", "errorCode", "fields"}]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        code = first.get("errorCode") or first.get("error")
        return f"{code}: {first.get('message', '')}".strip(": "), code
    if isinstance(body, dict):
        # NetSuite: {"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}
        details = body.get("o:errorDetails")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            code = details[0].get("o:errorCode")
            return f"{code}: {details[0].get('detail', body.get('title', ''))}", code
        # Portal: {"error": {"code", "message"}}; OAuth: {"error", "error_description"}
        err = body.get("error")
        if isinstance(err, dict):
            return f"{err.get('code')}: {err.get('message', '')}", err.get("code")
        if isinstance(err, str):
            return f"{err}: {body.get('error_description', '')}".strip(": "), err
        if "title" in body:
            return str(body["title"]), None
    return str(body), None


def is_object(value: Any) -> bool:
    """Whether a value from `HttpClient.parse_json` is a JSON object."""
    return isinstance(value, simdjson.Object)


def is_array(value: Any) -> bool:
    """Whether a value from `HttpClient.parse_json` is a JSON array."""
    return isinstance(value, simdjson.Array)


@dataclass
class ClientStats:
    """What a client did: requests, retries, token fetches and API usage."""

    requests: int = 0
    retries: int = 0
    token_fetches: int = 0
    token_refreshes: int = 0
    throttled_requests: int = 0
    api_usage_used: int | None = None
    api_usage_limit: int | None = None
    retried_statuses: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "retries": self.retries,
            "token_fetches": self.token_fetches,
            "token_refreshes": self.token_refreshes,
            "throttled_requests": self.throttled_requests,
            "retried_statuses": {str(k): v for k, v in sorted(self.retried_statuses.items())},
        }
        if self.api_usage_limit:
            out["api_usage"] = f"{self.api_usage_used}/{self.api_usage_limit}"
        return out


class _Session(requests.Session):
    """A Session that carries no credential across hosts: on a redirect to another host (or
    port, or to plain HTTP) it drops every header holding one of `secrets()`. requests
    itself drops only `Authorization`: an API key in `X-API-Key` followed the redirect."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def rebuild_auth(self, prepared_request, response) -> None:  # type: ignore[no-untyped-def]
        super().rebuild_auth(prepared_request, response)
        if self.should_strip_auth(response.request.url, prepared_request.url):
            secrets = [secret for secret in self._secrets() if secret]
            for name, value in list(prepared_request.headers.items()):
                if any(secret in str(value) for secret in secrets):
                    del prepared_request.headers[name]


def build_session(http: HttpSettings, secrets: Callable[[], list[str]] = list) -> requests.Session:
    """A requests Session whose adapter retries 429/5xx/connection errors with backoff, and
    that sends none of `secrets()` to another host on a redirect."""
    retry = BoundedRetry(
        total=http.max_retries,
        connect=http.max_retries,
        read=http.max_retries,
        status=http.max_retries,
        backoff_factor=http.backoff_factor,
        backoff_max=http.backoff_max_s,
        backoff_jitter=http.backoff_jitter_s,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=RETRY_METHODS,
        respect_retry_after_header=True,
        retry_after_max=http.retry_after_max_s,  # type: ignore[arg-type]
        total_wait_max=http.retry_total_max_s,
        raise_on_status=False,  # give back the last response: its status goes in the error
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=8)
    session = _Session(secrets)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class HttpClient:
    """HTTP access to one source system (`system` is 'crm', 'erp' or 'portal')."""

    def __init__(
        self,
        system: str,
        http: HttpSettings,
        auth: Auth | None = None,
        *,
        usage_header: str | None = None,
        session: requests.Session | None = None,
        budget: ApiBudget | None = None,
    ) -> None:
        self.system = system
        self.http = http
        self.auth = auth
        self.usage_header = usage_header
        # The share of the daily API allowance this client may spend: checked before each
        # request, fed by `usage_header` (connectors.api_budget).
        self.budget = budget
        self.session = session or build_session(http, self.secret_values)
        self.stats = ClientStats()
        self._stats_lock = threading.Lock()
        self._pause_next = False

    # -- errors ---------------------------------------------------------------------------

    def secret_values(self) -> list[str]:
        return self.auth.secret_values() if self.auth else []

    def error(
        self, method: str, url: str, status: int | None, message: str, code: str | None = None
    ) -> SourceError:
        """A SourceError for this system with secrets redacted from every part."""
        secrets = self.secret_values()
        endpoint = redact(f"{method} {safe_endpoint(url)}", secrets)
        message = redact(message, secrets, limit=MAX_MESSAGE_CHARS)
        return SourceError(self.system, endpoint, status, message, code=code)

    def parse_json(self, response: requests.Response, method: str, url: str) -> Any:
        """The response body as a lazily parsed JSON value; invalid JSON is a hard error.

        Objects and arrays are simdjson proxies (test them with `is_object` and `is_array`),
        decoded only as far as they are read: decoding every record of a page into Python
        objects took about 30% of a sync's CPU time, and DuckDB parses the records anyway
        when it lands the spooled page.
        """
        try:
            # One parser per body: a parser's values are only valid until its next parse,
            # and pages are parsed concurrently.
            return simdjson.Parser().parse(response.content)
        except ValueError as exc:
            raise self.error(
                method,
                url,
                response.status_code,
                f"malformed body: invalid JSON ({len(response.content)} bytes, "
                f"{str(exc).split(':', 1)[0]})",
            ) from None

    # -- requests -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authed: bool = True,
        stream: bool = False,
        on_retry: Callable[[int | None], None] | None = None,
    ) -> requests.Response:
        """Send a request with retries; refresh the credential once on 401; raise on >= 400.

        `stream`: a success's body is left unread for `iter_content` (then `close` it), so
        that a large one goes to disk without being held whole in memory.
        `on_retry(status)` is called before each retry (status None: no response), while
        the request is still being retried: a caller can ease off at once.
        """
        sent_auth = None
        hdrs = dict(headers or {})
        signer = self.auth.signer() if authed and self.auth else None
        if authed and self.auth:
            self.auth.apply(self, hdrs)
            sent_auth = hdrs.get("Authorization")
        sent = {"params": params, "json": json, "data": data, "auth": signer, "stream": stream}
        with observing(on_retry):
            resp = self._send(method, url, headers=hdrs, **sent)
        if resp.status_code == 401 and authed and self.auth:
            message, code = describe_error_body(resp)
            if not self.auth.refresh(self, sent_auth):
                hint = f"{self.auth.hint}; " if self.auth.hint else ""
                raise self.error(method, url, 401, f"credentials rejected: {hint}{message}", code)
            hdrs = dict(headers or {})
            self.auth.apply(self, hdrs)
            log.info(
                "%s: 401 on %s, retrying once with a new token", self.system, safe_endpoint(url)
            )
            with observing(on_retry):
                resp = self._send(method, url, headers=hdrs, **sent)
            if resp.status_code == 401:
                message, code = describe_error_body(resp)
                raise self.error(
                    method,
                    url,
                    401,
                    f"a freshly issued token was rejected (second 401): {message}",
                    code,
                )
        if resp.status_code >= 400:
            message, code = describe_error_body(resp)
            retried = resp.status_code in RETRY_STATUSES
            if retried:
                message = f"gave up after {self.http.max_retries} retries: {message}"
            raise self.error(method, url, resp.status_code, message, code)
        return resp

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if self.budget is not None:
            self.budget.check(f"{method} {safe_endpoint(url)}")
        if self._pause_next and self.http.api_usage_pause_s > 0:
            with self._stats_lock:
                self.stats.throttled_requests += 1
            time.sleep(self.http.api_usage_pause_s)
        try:
            resp = self.session.request(method, url, timeout=self.http.timeout, **kwargs)
        except RetryBudgetExceeded as exc:
            self._count_requests(len(exc.history), retried=exc.history[:-1])
            raise self.error(method, url, exc.status, str(exc)) from None
        except requests.exceptions.RetryError as exc:
            status = _status_from_retry_error(exc)
            raise self.error(
                method, url, status, f"gave up after retries ({_reason(exc)})"
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise self.error(
                method, url, None, f"connection failed after retries ({_reason(exc)})"
            ) from None
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise self.error(
                method, url, None, f"malformed body: response cut short ({_reason(exc)})"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise self.error(method, url, None, f"request failed ({_reason(exc)})") from None
        self._record(resp)
        return resp

    def _count_requests(self, sent: int, retried: tuple) -> None:
        """Count `sent` requests, the failures in `retried` (urllib3 `RequestHistory`
        entries) having been retried."""
        with self._stats_lock:
            self.stats.requests += sent
            self.stats.retries += len(retried)
            for h in retried:
                if h.status:
                    self.stats.retried_statuses[h.status] = (
                        self.stats.retried_statuses.get(h.status, 0) + 1
                    )

    def _record(self, resp: requests.Response) -> None:
        history = tuple(getattr(getattr(resp.raw, "retries", None), "history", ()) or ())
        self._count_requests(1 + len(history), retried=history)
        with self._stats_lock:
            if self.usage_header:
                match = _LIMIT_INFO.search(resp.headers.get(self.usage_header, ""))
                if match:
                    used, limit = int(match.group(1)), int(match.group(2))
                    self.stats.api_usage_used, self.stats.api_usage_limit = used, limit
                    if self.budget is not None:
                        self.budget.observe(used, limit)
                    near = limit > 0 and used / limit >= self.http.api_usage_slowdown_at
                    if near and not self._pause_next:
                        log.warning(
                            "%s: API usage %d/%d is above %.0f%% of the limit: slowing down",
                            self.system,
                            used,
                            limit,
                            100 * self.http.api_usage_slowdown_at,
                        )
                    self._pause_next = near

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpClient(system={self.system!r})"


def _reason(exc: BaseException) -> str:
    """The innermost cause's class and text (secrets and query strings are stripped, and
    the text cut, by `HttpClient.error`)."""
    inner: BaseException = exc
    while True:
        nxt = getattr(inner, "reason", None)
        if isinstance(nxt, BaseException) and nxt is not inner:
            inner = nxt
            continue
        if inner.args and isinstance(inner.args[0], BaseException) and inner.args[0] is not inner:
            inner = inner.args[0]
            continue
        break
    text = str(inner)
    text = re.sub(r"url: \S+", "url: …", text)
    return f"{inner.__class__.__name__}: {text}"


def _status_from_retry_error(exc: BaseException) -> int | None:
    match = re.search(r"too many (\d{3}) error responses", str(exc))
    return int(match.group(1)) if match else None
