"""Fault injection, request statistics and tokens shared by the stand-in servers.

Each server (CRM, ERP, portal) owns one `SourceState`. A pure ASGI middleware
(`FaultMiddleware`) sits in front of the server's Starlette app and applies the faults
set at runtime through `POST /_admin/faults` (`source_servers.admin`).

Request classes:

- *admin* requests (`/_admin/...`) are never faulted or counted;
- *API* requests are every other request (token endpoints included): they are counted
  in `requests` and delayed by `latency_ms`;
- *data* requests are the API requests that read data (the system decides which paths
  these are): only they are rate limited, failed, truncated, and expire tokens; with
  `concurrency_limit`, a data request arriving while that many are in flight is refused
  with 429 (NetSuite's concurrency governance), before the server sees it.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from starlette.requests import Request

ErrorBody = Callable[[int, str], bytes]
"""Builds a system-shaped error body from (HTTP status, message)."""


@dataclass(frozen=True)
class Faults:
    """The fault set of one server; every field off by default."""

    latency_ms: float = 0.0
    rate_limit_every: int = 0
    retry_after: str = "1"
    concurrency_limit: int = 0
    fail_next: int = 0
    fail_status: int = 503
    token_ttl_requests: int = 0
    reject_tokens: bool = False
    truncate_next: int = 0
    daily_limit: int | None = None
    # Bulk API 2.0 query jobs (CRM only, source_servers.crm_bulk): how many of the next
    # jobs end `Failed` / `Aborted`, how many of the next results pages carry fewer rows
    # than their `Sforce-NumberOfRecords`, and how many polls show a job `InProgress`
    # before it ends (0: the server's default).
    bulk_fail_job: int = 0
    bulk_abort_job: int = 0
    bulk_cut_page: int = 0
    bulk_polls: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Faults:
        """Validate a JSON fault set; raises ValueError naming the bad key."""
        if not isinstance(raw, dict):
            raise ValueError("the fault set must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known))}")
            values[key] = _coerce(key, value)
        faults = cls(**values)
        if faults.fail_status < 400 or faults.fail_status > 599:
            raise ValueError("fail_status must be an HTTP error status (400..599)")
        return faults

    def to_dict(self) -> dict[str, Any]:
        """The fault set as JSON, without the fields left at their defaults."""
        default = Faults()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}


# Faults only a server with Bulk API jobs (the CRM) acts on.
BULK_FAULTS = ("bulk_fail_job", "bulk_abort_job", "bulk_cut_page", "bulk_polls")


def _coerce(key: str, value: Any) -> Any:
    if key == "retry_after":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("retry_after must be seconds or an HTTP-date string")
        return str(int(value)) if isinstance(value, int | float) else value
    if key == "reject_tokens":
        if not isinstance(value, bool):
            raise ValueError("reject_tokens must be true or false")
        return value
    if key == "daily_limit" and value is None:
        return None
    if key == "latency_ms":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError("latency_ms must be a number >= 0")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be an integer >= 0")
    return value


class TokenStore:
    """Bearer tokens of one server, with the `token_ttl_requests` / `reject_tokens` faults."""

    def __init__(self, lifetime_seconds: float | None = None) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, list[float]] = {}  # token -> [uses, expires_at]
        self.lifetime_seconds = lifetime_seconds

    def issue(self) -> str:
        token = "00D" + secrets.token_urlsafe(30)
        expires = time.time() + self.lifetime_seconds if self.lifetime_seconds else float("inf")
        with self._lock:
            self._tokens[token] = [0, expires]
        return token

    def reset_uses(self) -> None:
        with self._lock:
            for entry in self._tokens.values():
                entry[0] = 0

    def check(self, token: str | None, faults: Faults) -> bool:
        """True when `token` may make one more data request (and count that use)."""
        if not token or faults.reject_tokens:
            return False
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None or entry[1] < time.time():
                return False
            if faults.token_ttl_requests and entry[0] >= faults.token_ttl_requests:
                return False
            entry[0] += 1
            return True


@dataclass(frozen=True)
class LoginAttempt:
    """One token request, as a Login History row: who (when known), how, and the outcome
    ("Success", or why it was refused in the server's own words, finer than the wire's)."""

    username: str | None
    grant: str
    status: str
    at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.status == "Success"


class LoginHistory:
    """The token requests a server answered, in order (tests read why one was refused)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: list[LoginAttempt] = []

    def record(self, username: str | None, grant: str, status: str) -> None:
        with self._lock:
            self._attempts.append(LoginAttempt(username, grant, status))

    def attempts(self) -> list[LoginAttempt]:
        with self._lock:
            return list(self._attempts)

    @property
    def last(self) -> LoginAttempt | None:
        with self._lock:
            return self._attempts[-1] if self._attempts else None


def client_credentials(
    form: Mapping[str, str], headers: Mapping[str, str]
) -> tuple[str | None, str | None] | None:
    """A token request's client id and secret: from the form, else from an HTTP Basic
    `Authorization` header (both OAuth 2.0 ways); None when that header is malformed."""
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    auth = headers.get("authorization", "")
    if auth.lower().startswith("basic ") and client_id is None:
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode()
        except ValueError:
            return None
        client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret


def same_secret(given: object, expected: str | None) -> bool:
    """`given` is `expected`, compared in constant time (None never matches)."""
    return (
        isinstance(given, str)
        and expected is not None
        and hmac.compare_digest(given.encode(), expected.encode())
    )


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class SourceState:
    """Faults, counters and tokens of one stand-in server."""

    def __init__(
        self,
        system: str,
        *,
        is_data_path: Callable[[str], bool],
        error_body: ErrorBody,
        token_lifetime_seconds: float | None = None,
        unsupported: tuple[str, ...] = ("daily_limit", *BULK_FAULTS),
    ) -> None:
        self.system = system
        self.unsupported = unsupported
        self.is_data_path = is_data_path
        self.error_body = error_body
        self.tokens = TokenStore(token_lifetime_seconds)
        self.logins = LoginHistory()
        self._lock = threading.Lock()
        self.faults = Faults()
        self._fault_data_requests = 0
        self._fail_left = 0
        self._truncate_left = 0
        self._in_flight = 0
        self.api_usage = 0
        # Refused logins, newest last, as (method, reason): the source tells the client
        # only "invalid login"; like NetSuite's Login Audit Trail, this says why.
        self.login_audit: deque[tuple[str, str]] = deque(maxlen=100)
        self.reset_stats()

    def audit_login(self, method: str, reason: str) -> None:
        """Record why a login by `method` was refused."""
        with self._lock:
            self.login_audit.append((method, reason))

    # ---- faults ---------------------------------------------------------------------
    def set_faults(self, faults: Faults | dict[str, Any]) -> Faults:
        """Replace the fault set (and restart its counters)."""
        if isinstance(faults, dict):
            faults = Faults.from_dict(faults)
        for name in self.unsupported:
            if getattr(faults, name) != getattr(Faults(), name):
                raise ValueError(f"fault {name!r} is not supported by the {self.system} server")
        with self._lock:
            self.faults = faults
            self._fault_data_requests = 0
            self._fail_left = faults.fail_next
            self._truncate_left = faults.truncate_next
            self.api_usage = 0
        self.tokens.reset_uses()
        return faults

    def faults_dict(self) -> dict[str, Any]:
        with self._lock:
            out = self.faults.to_dict()
            if "fail_next" in out:
                out["fail_next"] = self._fail_left
            if "truncate_next" in out:
                out["truncate_next"] = self._truncate_left
        return out

    def _admit_data_request(self) -> tuple[int, str, str] | None:
        """Count one data request; a (status, retry_after, message) when a fault answers
        it, else None and the request is in flight until `_end_data_request`."""
        with self._lock:
            self.data_requests += 1
            self._fault_data_requests += 1
            faults = self.faults
            if self._fail_left > 0:
                self._fail_left -= 1
                return faults.fail_status, "", f"Injected failure (HTTP {faults.fail_status})"
            every = faults.rate_limit_every
            if every and self._fault_data_requests % every == 0:
                return 429, faults.retry_after, "Too many requests: rate limit exceeded"
            limit = faults.concurrency_limit
            if limit and self._in_flight >= limit:
                return 429, "", f"Too many concurrent requests: the limit is {limit}"
            self._in_flight += 1
        return None

    def _end_data_request(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _take_truncation(self) -> bool:
        with self._lock:
            if self._truncate_left > 0:
                self._truncate_left -= 1
                return True
        return False

    # ---- stats ----------------------------------------------------------------------
    def reset_stats(self) -> None:
        with self._lock:
            self.requests = 0
            self.data_requests = 0
            self.handler_seconds = 0.0
            self.by_status: dict[str, int] = {}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "data_requests": self.data_requests,
                "handler_seconds": round(self.handler_seconds, 6),
                "by_status": dict(self.by_status),
            }

    def _record(self, status: int, seconds: float) -> None:
        with self._lock:
            self.handler_seconds += seconds
            key = str(status)
            self.by_status[key] = self.by_status.get(key, 0) + 1


class FaultMiddleware:
    """Pure ASGI middleware: latency, injected failures, 429s, truncation and stats."""

    def __init__(self, app: Any, state: SourceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_admin"):
            await self.app(scope, receive, send)
            return
        state = self.state
        with state._lock:
            state.requests += 1
        is_data = state.is_data_path(scope["path"])
        # A data request is admitted (or answered by a fault) on arrival and is in flight
        # from then on, its latency included, as a slow source holds a concurrency slot.
        injected = state._admit_data_request() if is_data else None
        try:
            await self._serve(scope, receive, send, is_data, injected)
        finally:
            if is_data and injected is None:
                state._end_data_request()

    async def _serve(
        self,
        scope: dict,
        receive: Any,
        send: Any,
        is_data: bool,
        injected: tuple[int, str, str] | None,
    ) -> None:
        state = self.state
        latency = state.faults.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000.0)
        started = time.perf_counter()
        if injected is not None:
            status, retry_after, message = injected
            headers = [(b"content-type", b"application/json")]
            if retry_after:
                headers.append((b"retry-after", retry_after.encode("latin-1")))
            body = state.error_body(status, message)
            await _send_whole(send, status, headers, body)
            state._record(status, time.perf_counter() - started)
            return

        status_seen = 500
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def send_wrapper(message: dict) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                if is_data and status_seen == 200 and state._take_truncation():
                    held["start"] = message
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and "start" in held:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                cut = body[: max(1, len(body) // 2)]
                start = held.pop("start")
                headers = [
                    (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
                ]
                headers.append((b"content-length", str(len(cut)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": cut, "more_body": False})
                return
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            state._record(status_seen, time.perf_counter() - started)


async def _send_whole(send: Any, status: int, headers: list, body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
