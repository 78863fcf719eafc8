"""How the stand-in NetSuite checks a login, as NetSuite documents it.

Token-based authentication (OAuth 1.0a, RFC 5849) on the data and metadata endpoints:

    Authorization: OAuth realm="1234567_SB1", oauth_consumer_key="…", oauth_token="…",
        oauth_signature_method="HMAC-SHA256", oauth_timestamp="…", oauth_nonce="…",
        oauth_version="1.0", oauth_signature="…"

The realm is not part of the signature base string but must equal the account id; the
consumer key and token id must be the integration's and the access token's; HMAC-SHA256
is the only method (NetSuite no longer accepts HMAC-SHA1); the timestamp must be within 5
minutes of the server's clock; a nonce may be used once (nonces are recorded only for
requests that pass, so a retry of a request the server refused before checking it, such
as a 429, passes); the signature is recomputed with oauthlib's server-side functions from
the consumer and token secrets.

OAuth 2.0 M2M: the JWT client assertion of the token request, verified against the
certificate's public key when one is registered (`SourceCredentials.erp_jwt_public_key`).

OAuth 2.0 client credentials: the client id and secret in the token request's form or
its HTTP Basic header.

Each check returns None when the login passes, else the reason (for the audit trail;
the client gets NetSuite's bare "Invalid login attempt").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import jwt
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature, utils

from source_servers.faults import client_credentials, same_secret
from source_servers.runtime import SourceCredentials

TIMESTAMP_WINDOW_S = 300
# The signature methods NetSuite accepts for the M2M client assertion (RSA-PSS, RSA
# PKCS#1 v1.5, ECDSA), and the longest lifetime of an assertion.
JWT_ALGORITHMS = ["PS256", "RS256", "ES256"]
MAX_ASSERTION_LIFETIME_S = 3600
OAUTH_PARAMS = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_version",
    "oauth_signature",
)


class TbaVerifier:
    """Checks OAuth 1.0a signed requests against one integration and access token."""

    def __init__(
        self, credentials: SourceCredentials, clock: Callable[[], float] = time.time
    ) -> None:
        self.credentials = credentials
        self.clock = clock
        self._lock = threading.Lock()
        self._nonces: dict[tuple[str, str, str], int] = {}  # (consumer, token, nonce) -> ts

    def check(self, method: str, url: str, headers: Mapping[str, str]) -> str | None:
        """None when the signed request passes (its nonce is then spent), else why not."""
        c = self.credentials
        header = headers.get("authorization", "")
        try:
            given = dict(utils.parse_authorization_header(header))
        except ValueError:
            return "malformed OAuth Authorization header"
        realm = given.get("realm")
        if not realm:
            return "no realm (the account id) in the Authorization header"
        if realm != c.erp_account_id:
            return "realm is not this account's id"
        missing = [name for name in OAUTH_PARAMS if not given.get(name)]
        if missing:
            return f"missing {', '.join(missing)}"
        oauth = {k: utils.unescape(v) for k, v in given.items() if k.startswith("oauth_")}
        if oauth["oauth_version"] != "1.0":
            return "oauth_version is not 1.0"
        if oauth["oauth_signature_method"] != "HMAC-SHA256":
            return f"signature method {oauth['oauth_signature_method']} is not accepted"
        if not same_secret(oauth["oauth_consumer_key"], c.erp_consumer_key):
            return "unknown consumer key"
        if not same_secret(oauth["oauth_token"], c.erp_token_id):
            return "unknown token id"
        try:
            stamp = int(oauth["oauth_timestamp"])
        except ValueError:
            return "oauth_timestamp is not a number"
        now = self.clock()
        if abs(now - stamp) > TIMESTAMP_WINDOW_S:
            return "timestamp more than 5 minutes off the server's clock"
        try:
            request = OAuthRequest(url, method, None, dict(headers))
        except ValueError:
            return "malformed request URI"
        request.params = signature.collect_parameters(
            uri_query=request.uri_query, headers=dict(headers), exclude_oauth_signature=True
        )
        request.signature = oauth["oauth_signature"]
        if not signature.verify_hmac_sha256(request, c.erp_consumer_secret, c.erp_token_secret):
            return "invalid signature (consumer or token secret)"
        key = (oauth["oauth_consumer_key"], oauth["oauth_token"], oauth["oauth_nonce"])
        with self._lock:
            # Nonces older than the window cannot come back: their timestamp is refused.
            for old in [k for k, ts in self._nonces.items() if ts < now - TIMESTAMP_WINDOW_S]:
                del self._nonces[old]
            if key in self._nonces:
                return "nonce already used"
            self._nonces[key] = stamp
        return None


def assertion_problem(assertion: str, credentials: SourceCredentials, token_url: str) -> str | None:
    """None when the M2M client assertion passes, else why not.

    With a registered public key: the signature, the `kid` (the certificate id), `aud`
    (the token URL), `iss` (the client id), `exp` not past and at most 60 minutes after
    `iat`. Without one, only `iss` and `exp` (the stand-in's older, unverified check).
    """
    c = credentials
    if c.erp_jwt_public_key is None:
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return "malformed client assertion"
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp < time.time():
            return "client assertion expired"
        iss = claims.get("iss")
        return None if isinstance(iss, str) and same_secret(iss, c.erp_client_id) else "wrong iss"
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return "malformed client assertion"
    if header.get("alg") not in JWT_ALGORITHMS:
        return f"algorithm {header.get('alg')} is not accepted"
    if header.get("kid") != c.erp_certificate_id:
        return "kid is not the certificate id of this integration"
    try:
        claims = jwt.decode(
            assertion,
            c.erp_jwt_public_key,
            algorithms=JWT_ALGORITHMS,
            audience=token_url,
            issuer=c.erp_client_id,
            options={"require": ["iss", "aud", "iat", "exp"]},
        )
    except jwt.InvalidSignatureError:
        return "signature does not match the certificate's public key"
    except jwt.ExpiredSignatureError:
        return "client assertion expired"
    except jwt.InvalidAudienceError:
        return "aud is not the token URL"
    except jwt.InvalidIssuerError:
        return "iss is not the client id"
    except jwt.PyJWTError as exc:
        return f"invalid client assertion ({type(exc).__name__})"
    if claims["exp"] - claims["iat"] > MAX_ASSERTION_LIFETIME_S:
        return "client assertion lives longer than 60 minutes"
    return None


def client_secret_problem(
    form: Mapping[str, str], headers: Mapping[str, str], credentials: SourceCredentials
) -> str | None:
    """None when the token request's client id and secret (form, else HTTP Basic) are the
    integration's, else why not."""
    given = client_credentials(form, headers)
    if given is None:
        return "malformed Basic Authorization header"
    client_id, client_secret = given
    if client_id is None or client_secret is None:
        return "no client id or secret"
    if not same_secret(client_id, credentials.erp_client_id):
        return "unknown client id"
    if not same_secret(client_secret, credentials.erp_client_secret):
        return "wrong client secret"
    return None
