"""Salesforce's JWT bearer and refresh-token logins, over real HTTP to the stand-in org
(source_servers/crm_auth.py), which checks them as Salesforce documents them."""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote_plus

import pytest
from conn_keys import KeyPair, key_pair
from conn_world import add_opportunities, differences, settings_for
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors import salesforce
from connectors.config import Secret, Settings
from connectors.http import SourceError
from connectors.salesforce import SalesforceClient
from connectors.sync import sync_object
from source_servers.runtime import RunningSources, SourceCredentials, start_sources

CREDENTIALS = SourceCredentials()


@pytest.fixture(scope="module")
def app_key() -> KeyPair:
    """The key of the certificate uploaded to the connected app."""
    return key_pair()


@pytest.fixture(scope="module")
def other_key() -> KeyPair:
    return key_pair()


def key_file(tmp_path: Path, pair: KeyPair) -> Path:
    return pair.write(tmp_path / "salesforce.pem")


@pytest.fixture
def org(world_dir: Path, tmp_path: Path, app_key: KeyPair) -> Iterator[RunningSources]:
    """The stand-ins, with the app key's certificate uploaded to the connected app."""
    credentials = dataclasses.replace(CREDENTIALS, crm_jwt_public_key=app_key.public_pem)
    with start_sources(world_dir, landing_dir=tmp_path / "landing", credentials=credentials) as s:
        yield s


def jwt_settings(running: RunningSources, tmp_path: Path, key: Path, **changes) -> Settings:
    """JWT bearer as the pre-authorised user; the client secret stays set (unused by the
    flow) so that the tests can see it never shows."""
    values = {"crm_auth": "jwt_bearer", "crm_username": CREDENTIALS.crm_username}
    return settings_for(running, tmp_path, crm_private_key_path=key, **(values | changes))


def secrets_of(settings: Settings, client: SalesforceClient, pair: KeyPair) -> list[str]:
    """Every secret an error could show: those the client sent (the assertion among them),
    the client secret in the encodings a server may echo, and the private key's PEM body."""
    secret = CREDENTIALS.crm_client_secret
    basic = base64.b64encode(f"{settings.crm_client_id}:{secret}".encode()).decode()
    sent = client.auth.secret_values()
    return [*sent, secret, quote_plus(secret), basic, CREDENTIALS.crm_refresh_token, *pair.body]


def login_fails(settings: Settings, pair: KeyPair) -> SourceError:
    client = SalesforceClient(settings)
    try:
        with pytest.raises(SourceError) as info:
            client.instance_url  # noqa: B018 (fetches the token)
        text = f"{info.value}\n{info.value!r}"
        assert client.auth.secret_values(), "nothing was sent: the test would prove nothing"
        for secret in secrets_of(settings, client, pair):
            assert secret not in text
    finally:
        client.close()
    assert info.value.system == "crm" and str(info.value).startswith("crm: ")
    return info.value


def test_jwt_bearer_syncs_the_same_rows_as_client_credentials(
    org: RunningSources, world_dir: Path, tmp_path: Path, app_key: KeyPair
) -> None:
    plain = settings_for(org, tmp_path / "cc")
    by_jwt = jwt_settings(org, tmp_path / "jwt", key_file(tmp_path, app_key))
    first = sync_object(plain, plain.warehouse, "crm", "accounts")
    second = sync_object(by_jwt, by_jwt.warehouse, "crm", "accounts")
    assert first.rows_read == second.rows_read > 0
    assert differences(plain.warehouse, world_dir, "raw_crm.account") == (0, 0)
    assert differences(by_jwt.warehouse, world_dir, "raw_crm.account") == (0, 0)
    logins = org.states["crm"].logins.attempts()
    assert [(a.grant, a.status) for a in logins] == [
        ("client_credentials", "Success"),
        ("jwt_bearer", "Success"),
    ]
    assert logins[1].username == CREDENTIALS.crm_username


def _expired_clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    # The client's clock alone, 10 minutes behind: its assertion has expired on arrival.
    behind = SimpleNamespace(time=lambda: time.time() - 600)
    monkeypatch.setattr(salesforce, "time", behind)
    return {}


JWT_FAILURES = {
    # case: (changes to the settings, wire text, reason in the login history, hint)
    "wrong key": (
        {"key": "other"},
        "invalid_grant: invalid assertion",
        "signature does not match the certificate",
        "PARTNERPULSE_CRM_PRIVATE_KEY_PATH",
    ),
    "expired": (
        _expired_clock,
        "invalid_grant: expired authorization code",
        "expired",
        "clock",
    ),
    "wrong audience": (
        {"crm_jwt_audience": "https://login.example.com"},
        "invalid_grant: audience is invalid",
        "audience 'https://login.example.com' is not a login host",
        "PARTNERPULSE_CRM_JWT_AUDIENCE",
    ),
    "unknown user": (
        {"crm_username": "someone.else@partnerpulse.example"},
        "invalid_grant: user hasn't approved this consumer",
        "user not pre-authorised for the connected app",
        "PARTNERPULSE_CRM_USERNAME",
    ),
    "unknown consumer key": (
        {"crm_client_id": "3MVG9-not-this-orgs-app"},
        "invalid_client_id: client identifier invalid",
        "unknown consumer key (iss)",
        "PARTNERPULSE_CRM_CLIENT_ID",
    ),
}


@pytest.mark.parametrize("case", list(JWT_FAILURES))
def test_each_refused_jwt_is_a_source_error_without_secrets_and_logged_with_its_reason(
    case: str,
    org: RunningSources,
    tmp_path: Path,
    app_key: KeyPair,
    other_key: KeyPair,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    changes, wire, reason, hint = JWT_FAILURES[case]
    changes = changes(monkeypatch) if callable(changes) else dict(changes)
    pair = other_key if changes.pop("key", None) == "other" else app_key
    settings = jwt_settings(org, tmp_path, key_file(tmp_path, pair), **changes)
    error = login_fails(settings, pair)
    assert error.status == 400 and wire in error.message and hint in error.message
    last = org.states["crm"].logins.last
    assert (last.grant, last.status) == ("jwt_bearer", reason)


def test_an_app_without_a_certificate_refuses_the_jwt(
    sources: RunningSources, tmp_path: Path, app_key: KeyPair
) -> None:
    assert sources.credentials.crm_jwt_public_key is None
    settings = jwt_settings(sources, tmp_path, key_file(tmp_path, app_key))
    error = login_fails(settings, app_key)
    assert "invalid_grant: invalid assertion" in error.message
    assert sources.states["crm"].logins.last.status == "the connected app has no certificate"


def test_a_401_mid_sync_mints_a_new_jwt_and_the_sync_completes(
    org: RunningSources, tmp_path: Path, app_key: KeyPair
) -> None:
    total = add_opportunities(org)
    org.set_faults("crm", token_ttl_requests=1)  # every token serves one page
    settings = jwt_settings(org, tmp_path, key_file(tmp_path, app_key))
    result = sync_object(settings, settings.warehouse, "crm", "opportunities")
    assert result.pages == -(-total // 200) >= 3
    assert result.rows_read == result.rows_merged == total
    # The first token also reads the org's /limits: each page needs a token of its own.
    assert result.details["token_refreshes"] == result.pages
    logins = org.states["crm"].logins.attempts()
    assert len(logins) == result.pages + 1
    assert all((a.grant, a.status) == ("jwt_bearer", "Success") for a in logins)


def test_a_refresh_token_logs_in_and_syncs(
    sources: RunningSources, world_dir: Path, tmp_path: Path
) -> None:
    settings = settings_for(
        sources,
        tmp_path,
        crm_auth="refresh_token",
        crm_refresh_token=Secret(CREDENTIALS.crm_refresh_token),
    )
    result = sync_object(settings, settings.warehouse, "crm", "campaigns")
    assert result.rows_read > 0
    assert differences(settings.warehouse, world_dir, "raw_crm.campaign") == (0, 0)
    last = sources.states["crm"].logins.last
    assert (last.grant, last.status) == ("refresh_token", "Success")


def test_a_revoked_refresh_token_is_refused_without_showing_it(
    sources: RunningSources, tmp_path: Path, app_key: KeyPair
) -> None:
    revoked = "5Aep861revoked+refresh/token=="
    settings = settings_for(
        sources, tmp_path, crm_auth="refresh_token", crm_refresh_token=Secret(revoked)
    )
    error = login_fails(settings, app_key)
    assert "invalid_grant: expired access/refresh token" in error.message
    assert "PARTNERPULSE_CRM_REFRESH_TOKEN" in error.message
    assert revoked not in str(error) and quote_plus(revoked) not in str(error)
    last = sources.states["crm"].logins.last
    assert (last.grant, last.status) == (
        "refresh_token",
        "refresh token unknown, revoked or expired",
    )


# -- settings, checked before any request -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "missing"),
    [
        ("jwt_bearer", ["PARTNERPULSE_CRM_USERNAME", "PARTNERPULSE_CRM_PRIVATE_KEY_PATH"]),
        ("refresh_token", ["PARTNERPULSE_CRM_REFRESH_TOKEN"]),
        ("client_credentials", ["PARTNERPULSE_CRM_CLIENT_SECRET"]),
    ],
)
def test_missing_settings_are_named_not_shown(method: str, missing: list[str]) -> None:
    settings = Settings(
        crm_url="https://example.my.salesforce.com",
        crm_auth=method,
        crm_client_id="3MVG9-consumer-key",
        crm_client_secret=None,
    )
    with pytest.raises(ValueError, match=f"PARTNERPULSE_CRM_AUTH={method} needs") as info:
        SalesforceClient(settings)
    assert all(name in str(info.value) for name in missing)
    assert "PARTNERPULSE_CRM_CLIENT_ID" not in str(info.value)  # it is set


def _encrypted(pair: KeyPair) -> bytes:
    key = serialization.load_pem_private_key(pair.private_pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )


def _ec_key(_: KeyPair) -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read it (No such file or directory)"),
        (lambda pair: pair.private_pem[:300], "not a PEM private key"),
        (lambda pair: pair.public_pem.encode(), "not a PEM private key"),
        (_encrypted, "the key is encrypted; give it unencrypted"),
        (_ec_key, "not an RSA key (the JWT bearer flow signs with RS256)"),
    ],
    ids=["missing", "cut", "a public key", "encrypted", "not RSA"],
)
def test_a_bad_key_file_names_the_file_and_what_is_wrong(
    tmp_path: Path, app_key: KeyPair, content, says: str
) -> None:
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content(app_key))
    settings = Settings(
        crm_url="https://example.my.salesforce.com",
        crm_auth="jwt_bearer",
        crm_client_id="3MVG9-consumer-key",
        crm_username="integration@example.com",
        crm_private_key_path=path,
    )
    with pytest.raises(ValueError) as info:
        SalesforceClient(settings)
    assert str(info.value) == f"PARTNERPULSE_CRM_PRIVATE_KEY_PATH {path}: {says}"
