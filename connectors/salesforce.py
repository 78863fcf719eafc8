"""Salesforce REST (v61.0) connector: an OAuth token, then `queryAll` pages.

The token comes from one of three OAuth 2.0 flows (`crm_auth`, docs/authentication.md):
client credentials, JWT bearer (a JWT signed with the connected app's certificate key, made
afresh for every token request) or a refresh token. Salesforce's token responses carry no
`expires_in`: a token is used until a 401, and then a new one is fetched the same way.

`queryAll` (not `query`) so that soft-deleted rows arrive with `IsDeleted = true`. Pages
are followed through `nextRecordsUrl` exactly as given, spooled to disk as they come, and
their record counts must add up to the first page's `totalSize`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.api_budget import ApiBudget
from connectors.auth import OAuthToken
from connectors.config import Settings, reveal
from connectors.http import HttpClient, SourceError, is_array, is_object
from connectors.landing import DEFAULT_PARSERS, JsonLanding
from connectors.org import LOGICAL, OrgConfig, default_org
from connectors.schema import RawTable, object_table, source_columns
from connectors.spool import PageSpool

log = logging.getLogger("partnerpulse.connectors.salesforce")

API_VERSION = "v61.0"
SYSTEM = "crm"

# Salesforce values: dates YYYY-MM-DD, datetimes 2024-05-01T13:45:00.000+0000 (converted
# to UTC), booleans and numbers as JSON.
PARSERS: dict[str, str] = dict(DEFAULT_PARSERS)


@dataclass(frozen=True)
class SalesforceObject:
    """A Salesforce object, its API field names and the raw table it lands in."""

    api_name: str
    fields: tuple[str, ...]
    table: RawTable

    @property
    def wire_names(self) -> dict[str, str]:
        """Raw column -> API field name."""
        return {f.lower(): f for f in self.fields}

    def landing(self) -> JsonLanding:
        return JsonLanding(
            table=self.table, records_key="records", parsers=PARSERS, wire_names=self.wire_names
        )


def object_for(logical: str, config: OrgConfig) -> SalesforceObject:
    """The Salesforce object holding `logical` in the org of `config`, with the API names
    of its fields in the raw table's column order."""
    names = tuple(c.source_field for c in source_columns(logical, config).values())
    return SalesforceObject(config.mapping(logical).object, names, object_table(logical, config))


# The default org's objects, by raw table name.
OBJECTS: dict[str, SalesforceObject] = {
    LOGICAL[name].table: object_for(name, default_org())
    for name, spec in LOGICAL.items()
    if spec.source == "crm"
}


def soql_datetime(mark: datetime) -> str:
    """A SOQL datetime literal, floored to the second: `2024-05-01T00:00:00Z`."""
    return mark.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_where(obj: SalesforceObject, since: datetime | None) -> str:
    """` WHERE (org filter) AND SystemModstamp >= mark`, or "" when neither applies."""
    conds = [f"({obj.table.source_filter})"] if obj.table.source_filter else []
    if since:
        conds.append(f"SystemModstamp >= {soql_datetime(since)}")
    return f" WHERE {' AND '.join(conds)}" if conds else ""


def build_soql(obj: SalesforceObject, since: datetime | None) -> str:
    """`SELECT … FROM <Object> [WHERE (org filter) AND SystemModstamp >= mark] ORDER BY
    SystemModstamp, Id`."""
    return (
        f"SELECT {', '.join(obj.fields)} FROM {obj.api_name}{soql_where(obj, since)} "
        "ORDER BY SystemModstamp ASC, Id ASC"
    )


def resolve_next(instance_url: str, next_records_url: str) -> str:
    """`nextRecordsUrl` as given (absolute as is, a path under `instance_url`), provided it
    stays on the org's own host: the next request carries the org's bearer token, so a URL
    on any other host (or port, or scheme, or with user info) raises ValueError."""
    if next_records_url.startswith("/") and not next_records_url.startswith("//"):
        url = instance_url.rstrip("/") + next_records_url
    else:
        url = next_records_url
    base, parts = urlsplit(instance_url), urlsplit(url)
    try:
        same_host = (parts.scheme, parts.hostname, parts.port) == (
            base.scheme,
            base.hostname,
            base.port,
        )
    except ValueError:  # an unparsable port
        same_host = False
    if not same_host or parts.username is not None or parts.password is not None:
        raise ValueError(
            f"nextRecordsUrl {next_records_url[:200]!r} leaves the org's host "
            f"{base.hostname}: not followed"
        )
    return url


# -- logging in ----------------------------------------------------------------------------

TOKEN_PATH = "/services/oauth2/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce refuses a JWT bearer assertion whose `exp` is more than 3 minutes ahead.
ASSERTION_LIFETIME_S = 180

# The settings each login method needs, checked before any request.
LOGIN_NEEDS: dict[str, tuple[str, ...]] = {
    "client_credentials": ("crm_client_id", "crm_client_secret"),
    "jwt_bearer": ("crm_client_id", "crm_username", "crm_private_key_path"),
    "refresh_token": ("crm_client_id", "crm_refresh_token"),
}

# What Salesforce's token errors (error_description) mean for whoever set the pipeline up:
# its own words name the symptom, not the setting to look at.
LOGIN_HINTS: dict[str, str] = {
    "invalid assertion": (
        "the JWT's signature does not verify against the certificate uploaded to the "
        "connected app (or the app has none): PARTNERPULSE_CRM_PRIVATE_KEY_PATH must hold "
        "that certificate's private key"
    ),
    "audience is invalid": (
        "set PARTNERPULSE_CRM_JWT_AUDIENCE to https://login.salesforce.com (production) or "
        "https://test.salesforce.com (sandbox)"
    ),
    "expired authorization code": "the JWT had expired on arrival: check this machine's clock",
    "user hasn't approved this consumer": (
        "PARTNERPULSE_CRM_USERNAME is not pre-authorised for the connected app (admin "
        "approved users, with the user's profile or permission set), or is not a user"
    ),
    "client identifier invalid": (
        "PARTNERPULSE_CRM_CLIENT_ID is not the consumer key of a connected app of this org"
    ),
    "expired access/refresh token": (
        "the refresh token was revoked or has expired: authorise the connected app again and "
        "set the new PARTNERPULSE_CRM_REFRESH_TOKEN"
    ),
}


def login_description(settings: Settings) -> str:
    """The login method in words, from settings alone and without any secret."""
    if settings.crm_auth == "jwt_bearer":
        return f"JWT bearer as {settings.crm_username or '(no user name set)'}"
    if settings.crm_auth == "refresh_token":
        return "a refresh token"
    return "OAuth client credentials"


def check_login_settings(settings: Settings) -> None:
    """ValueError naming the variables the login method needs and are not set."""
    missing = settings.unset(LOGIN_NEEDS[settings.crm_auth])
    if missing:
        raise ValueError(
            f"PARTNERPULSE_CRM_AUTH={settings.crm_auth} needs {', '.join(missing)}: not set"
        )


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA private key (PEM, unencrypted) in `path`; ValueError naming the file and
    what is wrong with it, never its content."""
    where = f"PARTNERPULSE_CRM_PRIVATE_KEY_PATH {path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(
            f"{where}: cannot read it ({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError(f"{where}: the key is encrypted; give it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"{where}: not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{where}: not an RSA key (the JWT bearer flow signs with RS256)")
    return key


def jwt_assertion(settings: Settings, key: rsa.RSAPrivateKey, now: float | None = None) -> str:
    """The JWT bearer flow's assertion: issued by the connected app (its consumer key) for
    the integration user, to the login host, valid for 3 minutes."""
    issued = int(time.time() if now is None else now)
    payload = {
        "iss": settings.crm_client_id,
        "sub": settings.crm_username,
        "aud": settings.crm_jwt_audience or settings.crm_url,
        "exp": issued + ASSERTION_LIFETIME_S,
    }
    return jwt.encode(payload, key, algorithm="RS256")


def token_form(settings: Settings, key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
    """The token request's form for `crm_auth` (`key` signs the JWT bearer assertion)."""
    secret = settings.crm_client_secret
    if settings.crm_auth == "jwt_bearer":
        if key is None:
            raise ValueError("the JWT bearer flow needs the private key")
        return {"grant_type": JWT_BEARER, "assertion": jwt_assertion(settings, key)}
    if settings.crm_auth == "refresh_token":
        refresh = settings.crm_refresh_token
        form = {
            "grant_type": "refresh_token",
            "refresh_token": reveal(refresh),
            "client_id": settings.crm_client_id or "",
        }
        # A connected app may require its secret with the refresh token; sent when set.
        return form | ({"client_secret": secret.reveal()} if secret else {})
    return {
        "grant_type": "client_credentials",
        "client_id": settings.crm_client_id or "",
        "client_secret": reveal(secret),
    }


class SalesforceToken(OAuthToken):
    """Salesforce's OAuth token, whose refusals carry a hint at the setting to look at."""

    def _fetch(self, client: HttpClient) -> None:
        try:
            super()._fetch(client)
        except SourceError as exc:
            hint = LOGIN_HINTS.get(exc.message.partition(": ")[2].strip())
            if hint is None:
                raise
            raise SourceError(
                exc.system, exc.endpoint, exc.status, f"{exc.message} ({hint})", code=exc.code
            ) from None


class SalesforceClient:
    """Authenticated access to one Salesforce org (token fetched lazily, refreshed on 401)."""

    def __init__(self, settings: Settings, http: HttpClient | None = None) -> None:
        if not settings.crm_url:
            raise ValueError("PARTNERPULSE_CRM_URL is not set")
        check_login_settings(settings)
        self.settings = settings
        # Read once, here: a missing or bad key file fails before any request.
        key = (
            load_private_key(settings.crm_private_key_path)
            if settings.crm_auth == "jwt_bearer" and settings.crm_private_key_path
            else None
        )
        secrets = [
            s.reveal() for s in (settings.crm_client_secret, settings.crm_refresh_token) if s
        ]
        self.auth = SalesforceToken(
            f"{settings.crm_url}{TOKEN_PATH}", lambda: token_form(settings, key), secrets
        )
        self.budget = ApiBudget(SYSTEM, settings.crm_api_reserve)
        self.http = http or HttpClient(
            SYSTEM, settings.http, self.auth, usage_header="Sforce-Limit-Info"
        )
        if http is not None:
            self.http.auth = self.auth
        self.http.budget = self.budget

    @property
    def instance_url(self) -> str:
        """The org's instance URL from the token response (fetching a token if needed)."""
        if not self.auth.token_info:
            self.auth.apply(self.http, {})
            # Before any data request, so that a run starting with the day's share spent
            # stops before its first page.
            self.read_limits()
        url = self.auth.token_info.get("instance_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise self.http.error(
                "POST", self.auth.token_url, 200, "token response has no valid instance_url"
            )
        return url.rstrip("/")

    def read_limits(self) -> None:
        """Read the org's daily API allowance and usage (`/limits`, one call) into the
        budget. An integration user may lack the permission to read it (403), or a proxy
        may not pass it (404): the budget then learns the usage from the first response's
        `Sforce-Limit-Info`."""
        url = f"{self.instance_url}/services/data/{API_VERSION}/limits"
        try:
            resp = self.http.request("GET", url)
        except SourceError as exc:
            if exc.status not in (403, 404):
                raise
            log.info("crm: the org's /limits cannot be read (%s): usage from headers", exc)
            return
        body = self.http.parse_json(resp, "GET", url)
        daily = body.get("DailyApiRequests") if is_object(body) else None
        limit = daily.get("Max") if is_object(daily) else None
        remaining = daily.get("Remaining") if is_object(daily) else None
        if isinstance(limit, int) and isinstance(remaining, int):
            self.budget.observe(limit - remaining, limit)

    def resolve(self, next_records_url: str) -> str:
        """`nextRecordsUrl` as an absolute URL (relative ones are under `instance_url`)."""
        return resolve_next(self.instance_url, next_records_url)

    def query_all_pages(self, soql: str) -> Iterator[tuple[bytes, dict[str, Any], int]]:
        """Every page of a `queryAll` as (raw body, parsed body, record count).

        Hard errors: invalid JSON, a page without a records list or a record without a
        queried field, `done` false without `nextRecordsUrl`, and records that do not add
        up to `totalSize`.
        """
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.crm_batch_size}"}
        url = f"{self.instance_url}/services/data/{API_VERSION}/queryAll"
        params: dict[str, str] | None = {"q": soql}
        total: int | None = None
        seen = 0
        while True:
            resp = self.http.request("GET", url, params=params, headers=headers)
            body = self.http.parse_json(resp, "GET", url)
            if not is_object(body) or not is_array(body.get("records")):
                raise self.http.error(
                    "GET", url, resp.status_code, "malformed body: no records list"
                )
            records = body["records"]
            if total is None:
                total = body.get("totalSize")
                if not isinstance(total, int):
                    raise self.http.error(
                        "GET", url, resp.status_code, "malformed body: no totalSize"
                    )
            seen += len(records)
            yield resp.content, body, len(records)
            if body.get("done") is True:
                break
            nxt = body.get("nextRecordsUrl")
            if body.get("done") is not False or not isinstance(nxt, str) or not nxt:
                raise self.http.error(
                    "GET", url, resp.status_code, "malformed body: not done but no nextRecordsUrl"
                )
            try:
                url, params = self.resolve(nxt), None
            except ValueError as exc:
                raise self.http.error("GET", url, resp.status_code, str(exc)) from None
        if seen != total:
            raise self.http.error(
                "GET",
                url,
                200,
                f"malformed body: pages held {seen} records but totalSize is {total} "
                "(a page was cut short)",
            )

    def close(self) -> None:
        self.http.close()


@dataclass(frozen=True)
class FetchResult:
    """What a fetch spooled: pages, records and the query that was sent."""

    pages: int
    records: int
    query: str


def fetch_object(
    client: SalesforceClient,
    obj: SalesforceObject,
    since: datetime | None,
    spool: PageSpool,
    *,
    lookback: timedelta = timedelta(0),
) -> FetchResult:
    """Spool every record of `obj` modified at or after `since - lookback`."""
    soql = build_soql(obj, since - lookback if since else None)
    pages = records = 0
    expected = set(obj.fields)
    for raw, body, count in client.query_all_pages(soql):
        for rec in body["records"]:
            missing = expected.difference(rec.keys()) if is_object(rec) else expected
            if missing:
                raise client.http.error(
                    "GET",
                    f"{client.instance_url}/services/data/{API_VERSION}/queryAll",
                    200,
                    f"malformed body: a {obj.api_name} record lacks {sorted(missing)} "
                    f"(record {rec.get('Id') if is_object(rec) else rec!r})",
                )
        spool.add(raw, count)
        pages += 1
        records += count
    log.info("crm %s: %d records in %d pages", obj.api_name, records, pages)
    return FetchResult(pages, records, soql)
