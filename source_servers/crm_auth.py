"""Stand-in Salesforce OAuth 2.0 token endpoint (`POST /services/oauth2/token`).

Three grants, checked as Salesforce documents them ("OAuth 2.0 JWT Bearer Flow for
Server-to-Server Integration", "OAuth 2.0 Refresh Token Flow"):

- `client_credentials`: the connected app's consumer key and secret, in the form or as
  HTTP Basic;
- `urn:ietf:params:oauth:grant-type:jwt-bearer`: an RS256 JWT whose signature verifies
  against the certificate uploaded to the connected app (`crm_jwt_public_key`; none: the
  flow is refused), `iss` the consumer key, `aud` a login host (this server's own URL,
  https://login.salesforce.com or https://test.salesforce.com), `sub` the pre-authorised
  user and `exp` not past and at most 3 minutes (and a little clock skew) ahead;
- `refresh_token`: the consumer key, the secret when given, and the refresh token.

A refusal is HTTP 400 with Salesforce's `{"error", "error_description"}`, whose words are
coarse ("invalid assertion" for a bad signature and a malformed JWT alike); the precise
reason goes in the server's login history (`SourceState.logins`), as Salesforce's Login
History shows it to an admin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import parse_qs

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from source_servers.faults import SourceState, client_credentials, same_secret
from source_servers.runtime import SourceCredentials

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_HOSTS = ("https://login.salesforce.com", "https://test.salesforce.com")
ASSERTION_MAX_AHEAD_S = 180
CLOCK_SKEW_S = 30
INVALID_ASSERTION = ("invalid_grant", "invalid assertion")
UNKNOWN_CLIENT_ID = ("invalid_client_id", "client identifier invalid")
INVALID_CLIENT = ("invalid_client", "invalid client credentials")
GRANTS = {
    "client_credentials": "client_credentials",
    JWT_BEARER: "jwt_bearer",
    "refresh_token": "refresh_token",
}


class Refused(Exception):
    """A token request Salesforce refuses: the wire's error, and the reason kept."""

    def __init__(self, wire: tuple[str, str], reason: str, username: str | None = None) -> None:
        super().__init__(reason)
        self.error, self.description = wire
        self.reason = reason
        self.username = username


def swap_host(host: str) -> str:
    """Another spelling of the same loopback host, to prove clients follow instance_url."""
    return {"127.0.0.1": "localhost", "localhost": "127.0.0.1", "::1": "localhost"}.get(host, host)


class TokenEndpoint:
    """The org's token endpoint: checks a grant, issues a token, records the attempt."""

    def __init__(self, state: SourceState, credentials: SourceCredentials) -> None:
        self.state = state
        self.credentials = credentials

    async def token(self, request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(body).items()}
        grant = GRANTS.get(form.get("grant_type", ""))
        if grant is None:
            self.state.logins.record(None, form.get("grant_type", ""), "unsupported grant type")
            return _refusal("unsupported_grant_type", "grant type not supported")
        check = {
            "client_credentials": self._client_credentials,
            "jwt_bearer": self._jwt_bearer,
            "refresh_token": self._refresh_token,
        }[grant]
        try:
            username = check(form, request)
        except Refused as refused:
            self.state.logins.record(refused.username, grant, refused.reason)
            return _refusal(refused.error, refused.description)
        self.state.logins.record(username, grant, "Success")
        return self._issue(request)

    # -- the grants: each returns the user logged in as, or raises Refused ----------------

    def _client_credentials(self, form: dict[str, str], request: Request) -> str:
        client_id, client_secret = client_credentials(form, request.headers) or (None, None)
        c = self.credentials
        known = same_secret(client_id, c.crm_client_id)
        if not (known and same_secret(client_secret, c.crm_client_secret)):
            raise Refused(INVALID_CLIENT, "invalid client credentials")
        return c.crm_username

    def _jwt_bearer(self, form: dict[str, str], request: Request) -> str:
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Refused(INVALID_ASSERTION, "malformed assertion") from None
        sub = claims.get("sub")
        username = sub if isinstance(sub, str) else None
        c = self.credentials
        if not same_secret(claims.get("iss"), c.crm_client_id):
            raise Refused(
                UNKNOWN_CLIENT_ID,
                "unknown consumer key (iss)",
                username,
            )
        if c.crm_jwt_public_key is None:
            raise Refused(INVALID_ASSERTION, "the connected app has no certificate", username)
        try:
            jwt.decode(
                assertion,
                c.crm_jwt_public_key,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            raise Refused(
                INVALID_ASSERTION, "signature does not match the certificate", username
            ) from None
        except jwt.InvalidAlgorithmError:
            raise Refused(INVALID_ASSERTION, "not signed with RS256", username) from None
        except jwt.PyJWTError:
            raise Refused(INVALID_ASSERTION, "malformed assertion", username) from None
        self._check_audience(claims.get("aud"), request, username)
        exp, now = claims.get("exp"), time.time()
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise Refused(INVALID_ASSERTION, "no exp claim", username)
        if exp < now - CLOCK_SKEW_S:
            raise Refused(("invalid_grant", "expired authorization code"), "expired", username)
        if exp > now + ASSERTION_MAX_AHEAD_S + CLOCK_SKEW_S:
            raise Refused(INVALID_ASSERTION, "exp more than 3 minutes ahead", username)
        if not same_secret(sub, c.crm_username):
            raise Refused(
                ("invalid_grant", "user hasn't approved this consumer"),
                "user not pre-authorised for the connected app",
                username,
            )
        return c.crm_username

    def _check_audience(self, aud: object, request: Request, username: str | None) -> None:
        own = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        allowed = {own, *LOGIN_HOSTS}
        given = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a.rstrip("/") in allowed for a in given):
            raise Refused(
                ("invalid_grant", "audience is invalid"),
                f"audience {aud!r} is not a login host",
                username,
            )

    def _refresh_token(self, form: dict[str, str], request: Request) -> str:
        c = self.credentials
        if not same_secret(form.get("client_id"), c.crm_client_id):
            raise Refused(UNKNOWN_CLIENT_ID, "unknown consumer key")
        if "client_secret" in form and not same_secret(form["client_secret"], c.crm_client_secret):
            raise Refused(INVALID_CLIENT, "invalid client secret")
        if not same_secret(form.get("refresh_token"), c.crm_refresh_token):
            raise Refused(
                ("invalid_grant", "expired access/refresh token"),
                "refresh token unknown, revoked or expired",
            )
        return c.crm_username

    # -- the token ------------------------------------------------------------------------

    def _issue(self, request: Request) -> Response:
        token = self.state.tokens.issue()
        url = request.url
        login = f"{url.scheme}://{request.headers.get('host', url.netloc)}"
        other = swap_host(url.hostname or "127.0.0.1")
        other = f"[{other}]" if ":" in other else other
        instance = f"{url.scheme}://{other}" + (f":{url.port}" if url.port else "")
        issued_at = str(int(time.time() * 1000))
        identity = f"{login}/id/00D5g000000PPLsEAO/0055g000003PPLsAAO"
        signature = base64.b64encode(
            hmac.new(
                self.credentials.crm_client_secret.encode(),
                (identity + issued_at).encode(),
                hashlib.sha256,
            ).digest()
        ).decode()
        return JSONResponse(
            {
                "access_token": token,
                "signature": signature,
                "scope": "api",
                "instance_url": instance,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
            }
        )


def _refusal(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)
