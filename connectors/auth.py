"""How a request proves who sends it: the credential schemes an `HttpClient` applies.

- `ApiKeyAuth`: a static key in a header (the portal);
- `OAuthToken`: an OAuth 2.0 token from a form POSTed to a token URL, sent as a bearer
  token and fetched again on a 401 (client credentials, a JWT client assertion, the JWT
  bearer grant, a refresh token);
- `OAuth1Signature`: OAuth 1.0a, each request signed (NetSuite token-based
  authentication).

Each names every value that must never be shown (`secret_values`), which the client
redacts from its errors.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256
from requests_oauthlib import OAuth1

from connectors.config import Secret
from connectors.http import SourceError, is_object
from connectors.redaction import basic_credentials

if TYPE_CHECKING:
    from connectors.http import HttpClient


class Auth(ABC):
    """A credential applied to requests; `refresh` gets a new one when a 401 says so."""

    # What to check when the source refuses the credential, for the 401's error: sources
    # answer a failed login with a bare "invalid login" and keep the reason to themselves.
    hint: str = ""

    @abstractmethod
    def apply(self, client: HttpClient, headers: dict[str, str]) -> None:
        """Add the credential to a request's headers (obtaining it first if needed)."""

    @abstractmethod
    def refresh(self, client: HttpClient, rejected: str | None = None) -> bool:
        """Get a new credential after a 401; False when there is nothing to refresh.

        `rejected` is the Authorization header the 401 answered: when another thread has
        already replaced it, the current credential is kept.
        """

    @abstractmethod
    def secret_values(self) -> list[str]:
        """Every value that must never appear in an error or log (`redact` adds their
        URL- and JSON-encoded forms)."""

    def signer(self) -> requests.auth.AuthBase | None:
        """A requests auth that signs each prepared request (method, final URL, query),
        for schemes whose credential depends on the request itself (OAuth 1.0a); None for
        a credential `apply` puts in the headers."""
        return None


class ApiKeyAuth(Auth):
    """A static API key in a header (no refresh possible: a 401 is final)."""

    def __init__(self, header: str, key: Secret | None) -> None:
        self._header = header
        self._key = key

    def apply(self, client: HttpClient, headers: dict[str, str]) -> None:
        if not self._key:
            raise SourceError(client.system, "(configuration)", None, "no API key configured")
        headers[self._header] = self._key.reveal()

    def refresh(self, client: HttpClient, rejected: str | None = None) -> bool:
        return False

    def secret_values(self) -> list[str]:
        return [self._key.reveal()] if self._key else []


# The token request's form fields whose values are secrets (OAuth 2.0 client credentials,
# a JWT client assertion, the JWT bearer grant's assertion, a refresh token).
SECRET_FORM_FIELDS = frozenset({"client_secret", "client_assertion", "assertion", "refresh_token"})


class OAuthToken(Auth):
    """OAuth 2.0 token from a form POSTed to the token URL, sent as `Bearer <token>`: the
    client-credentials grant, and any other whose form is built here (JWT bearer, refresh
    token).

    `form` builds the token request's form fields each time (a JWT assertion must be
    fresh); `static_secrets` are values to redact (the client secret).
    """

    def __init__(
        self,
        token_url: str,
        form: Callable[[], Mapping[str, str]],
        static_secrets: list[str] | None = None,
    ) -> None:
        self.token_url = token_url
        self._form = form
        self._static = [s for s in (static_secrets or []) if s]
        self._token: str | None = None
        self._expires_at: float | None = None
        self._old_tokens: list[str] = []
        self._lock = threading.Lock()
        self.token_info: dict[str, Any] = {}

    def _fetch(self, client: HttpClient) -> None:
        form = dict(self._form())
        # Values sent in the form (secret, assertion, refresh token) are secrets too, and so
        # is the HTTP Basic form of id and secret: a token endpoint may echo either in its
        # error.
        extra = [v for k, v in form.items() if k in SECRET_FORM_FIELDS]
        if form.get("client_id") and form.get("client_secret"):
            extra += basic_credentials(form["client_id"], form["client_secret"])
        self._static = list(dict.fromkeys(self._static + extra))
        resp = client.request("POST", self.token_url, data=form, authed=False)
        body = client.parse_json(resp, "POST", self.token_url)
        token = body.get("access_token") if is_object(body) else None
        if not isinstance(token, str) or not token:
            raise client.error(
                "POST", self.token_url, resp.status_code, "token response has no access_token"
            )
        if self._token:
            self._old_tokens.append(self._token)
        self._token = token
        self.token_info = {k: v for k, v in body.as_dict().items() if k != "access_token"}
        expires_in = self.token_info.get("expires_in")
        try:
            # Renew a little before the announced expiry (a 401 is still handled).
            self._expires_at = time.monotonic() + max(float(expires_in) - 30.0, 1.0)
        except (TypeError, ValueError):
            self._expires_at = None
        client.stats.token_fetches += 1

    def apply(self, client: HttpClient, headers: dict[str, str]) -> None:
        with self._lock:
            expired = self._expires_at is not None and time.monotonic() >= self._expires_at
            if self._token is None or expired:
                self._fetch(client)
            headers["Authorization"] = f"Bearer {self._token}"

    def refresh(self, client: HttpClient, rejected: str | None = None) -> bool:
        with self._lock:
            # Another thread may already have replaced the rejected token.
            if rejected is None or rejected == f"Bearer {self._token}":
                self._fetch(client)
                client.stats.token_refreshes += 1
        return True

    def secret_values(self) -> list[str]:
        tokens = [self._token] if self._token else []
        return self._static + tokens + self._old_tokens


class OAuth1Signature(Auth):
    """OAuth 1.0a: each prepared request is signed (HMAC-SHA256 by default) with the
    consumer and token secrets, a fresh nonce and timestamp, and `realm` in the header.

    There is no token to fetch: `apply` adds nothing and a 401 is final. `options` go to
    oauthlib's `Client` (a fixed `nonce` or `timestamp`, for tests).
    """

    def __init__(
        self,
        realm: str | None,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
        *,
        signature_method: str = SIGNATURE_HMAC_SHA256,
        hint: str = "",
        **options: Any,
    ) -> None:
        self._signer = OAuth1(
            consumer_key,
            client_secret=consumer_secret,
            resource_owner_key=token_id,
            resource_owner_secret=token_secret,
            signature_method=signature_method,
            realm=realm,
            **options,
        )
        # The token id is a secret too: with the consumer key it names the login.
        self._secrets = [v for v in (consumer_secret, token_id, token_secret) if v]
        self.hint = hint

    def apply(self, client: HttpClient, headers: dict[str, str]) -> None:
        return None

    def refresh(self, client: HttpClient, rejected: str | None = None) -> bool:
        return False

    def secret_values(self) -> list[str]:
        return list(self._secrets)

    def signer(self) -> requests.auth.AuthBase:
        return self._signer
