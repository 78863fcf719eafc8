"""NetSuite logins against the stand-in on loopback: token-based authentication (OAuth
1.0a, HMAC-SHA256) and OAuth 2.0 M2M, each refusal named in the stand-in's login audit
and in no error carrying a secret; and the back-off from NetSuite's concurrency limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from conn_world import differences, query, raw_rows, world_query
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1

from connectors import netsuite
from connectors.auth import OAuth1Signature
from connectors.config import Secret, Settings
from connectors.http import SourceError
from connectors.netsuite import NetSuiteClient
from connectors.sync import sync_object
from source_servers.runtime import RunningSources, SourceCredentials, start_sources

# Secrets with characters that URL- and percent-encoding change, so that an encoded echo
# of one would be caught too.
CREDENTIALS = SourceCredentials(
    erp_client_secret="client+secret/=&1",
    erp_certificate_id="cert-1",
    erp_consumer_key="consumer-key-1",
    erp_consumer_secret="consumer secret+/=&é",
    erp_token_id="token id+/=&2",
    erp_token_secret="token:secret+/=?3",
)
CURRENCIES = "SELECT id, symbol FROM currency"


def _private_pem(path: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(the certificate's private key file, another private key file, the public PEM)."""
    folder = tmp_path_factory.mktemp("netsuite_keys")
    key = _private_pem(folder / "certificate.pem")
    _private_pem(folder / "other.pem")
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return folder / "certificate.pem", folder / "other.pem", public.decode()


@pytest.fixture
def ns(world_dir, tmp_path, keys) -> Iterator[RunningSources]:
    """The stand-ins, the ERP's integration holding CREDENTIALS and the public key."""
    credentials = SourceCredentials(
        **{**CREDENTIALS.__dict__, "erp_jwt_public_key": keys[2]}  # frozen: copy whole
    )
    with start_sources(world_dir, landing_dir=tmp_path / "landing", credentials=credentials) as s:
        yield s


@pytest.fixture
def ns_settings(ns, make_settings) -> Settings:
    return make_settings(ns)


def tba(settings: Settings, **changes: object) -> Settings:
    """`settings` logging in with token-based authentication (no client id or secret)."""
    c = CREDENTIALS
    values: dict[str, object] = {
        "erp_auth": "tba",
        "erp_client_id": None,
        "erp_client_secret": None,
        "erp_account_id": c.erp_account_id,
        "erp_consumer_key": c.erp_consumer_key,
        "erp_consumer_secret": Secret(c.erp_consumer_secret),
        "erp_token_id": Secret(c.erp_token_id),
        "erp_token_secret": Secret(c.erp_token_secret),
    }
    return settings.replace(**{**values, **changes})


def signer(**changes: object) -> OAuth1Signature:
    """A TBA signer with the good credentials, some changed (a fixed nonce, say)."""
    c = CREDENTIALS
    args: dict[str, object] = {
        "realm": c.erp_account_id,
        "consumer_key": c.erp_consumer_key,
        "consumer_secret": c.erp_consumer_secret,
        "token_id": c.erp_token_id,
        "token_secret": c.erp_token_secret,
        "hint": netsuite.TBA_HINT,
    }
    return OAuth1Signature(**{**args, **changes})  # type: ignore[arg-type]


def assert_secret_free(text: str, *extra: str) -> None:
    c = CREDENTIALS
    secrets = [c.erp_client_secret, c.erp_consumer_secret, c.erp_token_id, c.erp_token_secret]
    for secret in [*secrets, *extra]:
        for form in {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}:
            assert form not in text


def last_refusal(ns: RunningSources) -> tuple[str, str]:
    return ns.states["erp"].login_audit[-1]


# -- token-based authentication -----------------------------------------------------------


def test_tba_syncs_the_same_rows_as_client_credentials(ns, ns_settings, world_dir, tmp_path):
    by_secret = tmp_path / "by_secret.duckdb"
    for name in ("currencies", "transaction_lines"):
        sync_object(ns_settings, by_secret, "erp", name)
        result = sync_object(tba(ns_settings), ns_settings.warehouse, "erp", name)
        assert result.rows_read > 0
    for raw in ("raw_erp.currency", "raw_erp.transactionline"):
        assert raw_rows(ns_settings.warehouse, raw) == raw_rows(by_secret, raw)
        assert differences(ns_settings.warehouse, world_dir, raw) == (0, 0)
    assert list(ns.states["erp"].login_audit) == []


def test_tba_retries_of_a_request_refused_before_the_login_pass(ns, ns_settings, world_dir):
    """urllib3 resends the same signed request (same nonce) after a 503 or 429."""
    ns.set_faults("erp", fail_next=2, fail_status=503)
    result = sync_object(tba(ns_settings), ns_settings.warehouse, "erp", "currencies")
    assert result.rows_read == world_query(world_dir, "SELECT count(*) FROM erp.currency")[0][0]
    assert ns.stats("erp")["by_status"]["503"] == 2
    assert list(ns.states["erp"].login_audit) == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"erp_consumer_secret": Secret("wrong consumer+secret")}, "invalid signature"),
        ({"erp_token_secret": Secret("wrong token/secret")}, "invalid signature"),
        ({"erp_account_id": "7654321_SB1"}, "realm is not this account's id"),
        ({"erp_account_id": "1234567_sb1"}, "realm is not this account's id"),
        ({"erp_token_id": Secret("unknown token+id")}, "unknown token id"),
        ({"erp_consumer_key": "someone-else"}, "unknown consumer key"),
    ],
    ids=["consumer-secret", "token-secret", "realm", "realm-case", "token-id", "consumer-key"],
)
def test_a_refused_tba_login_says_what_to_check_and_no_secret(ns, ns_settings, changes, reason):
    settings = tba(ns_settings, **changes)
    with pytest.raises(SourceError) as caught:
        sync_object(settings, settings.warehouse, "erp", "currencies")
    err = caught.value
    text = str(err)
    assert text.startswith("erp: credentials rejected: check PARTNERPULSE_ERP_ACCOUNT_ID")
    assert err.status == 401 and err.code == "INVALID_LOGIN" and "Login Audit Trail" in text
    wrong = [v.reveal() if isinstance(v, Secret) else str(v) for v in changes.values()]
    assert_secret_free(text, *wrong)
    stored = query(settings.warehouse, "SELECT error FROM ops.sync_runs WHERE status = 'failed'")
    assert stored and all(row[0] for row in stored)
    assert_secret_free(" ".join(row[0] for row in stored), *wrong)
    assert last_refusal(ns)[0] == "tba" and last_refusal(ns)[1].startswith(reason)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"realm": None}, "no realm (the account id)"),
        ({"timestamp": str(int(time.time()) - 3600)}, "timestamp more than 5 minutes off"),
        ({"timestamp": str(int(time.time()) + 3600)}, "timestamp more than 5 minutes off"),
        ({"signature_method": SIGNATURE_HMAC_SHA1}, "signature method HMAC-SHA1 is not accepted"),
    ],
    ids=["no-realm", "old-timestamp", "future-timestamp", "hmac-sha1"],
)
def test_a_badly_signed_request_is_refused(ns, ns_settings, changes, reason):
    client = NetSuiteClient(tba(ns_settings), auth=signer(**changes))
    with client, pytest.raises(SourceError) as caught:
        client.suiteql(CURRENCIES, limit=10, offset=0)
    assert caught.value.status == 401 and str(caught.value).startswith("erp: ")
    assert_secret_free(str(caught.value))
    method, why = last_refusal(ns)
    assert method == "tba" and why.startswith(reason)


def test_a_replayed_nonce_is_refused(ns, ns_settings):
    client = NetSuiteClient(tba(ns_settings), auth=signer(nonce="fixed-nonce-1234567890"))
    with client:
        _, body = client.suiteql(CURRENCIES, limit=10, offset=0)
        assert len(body["items"]) > 0
        with pytest.raises(SourceError) as caught:
            client.suiteql(CURRENCIES, limit=10, offset=0)
    assert caught.value.status == 401
    assert_secret_free(str(caught.value))
    assert last_refusal(ns) == ("tba", "nonce already used")


def test_tba_signs_the_metadata_requests_too(ns, ns_settings):
    client = NetSuiteClient(tba(ns_settings))
    with client:
        url = client.base_url + "/services/rest/record/v1/metadata-catalog/currency"
        resp = client.http.request("GET", url, headers={"Accept": "application/schema+json"})
        assert "properties" in resp.json()
    bad = NetSuiteClient(tba(ns_settings, erp_token_secret=Secret("wrong")))
    with bad, pytest.raises(SourceError) as caught:
        bad.http.request("GET", url)
    assert caught.value.status == 401
    assert last_refusal(ns) == ("tba", "invalid signature (consumer or token secret)")


def test_a_missing_tba_credential_names_its_variable_never_a_value(ns_settings):
    settings = tba(ns_settings, erp_account_id=None, erp_token_secret=None)
    with pytest.raises(ValueError) as caught:
        NetSuiteClient(settings)
    text = str(caught.value)
    assert "PARTNERPULSE_ERP_ACCOUNT_ID" in text and "PARTNERPULSE_ERP_TOKEN_SECRET" in text
    assert "PARTNERPULSE_ERP_CONSUMER_SECRET" not in text
    assert_secret_free(text)


# -- OAuth 2.0 M2M (certificate) ------------------------------------------------------------


def m2m(settings: Settings, key: Path, certificate_id: str = "cert-1") -> Settings:
    return settings.replace(
        erp_client_secret=None, erp_certificate_id=certificate_id, erp_private_key_path=key
    )


def test_m2m_with_the_registered_certificate(ns, ns_settings, world_dir, keys):
    result = sync_object(m2m(ns_settings, keys[0]), ns_settings.warehouse, "erp", "currencies")
    assert result.rows_read == world_query(world_dir, "SELECT count(*) FROM erp.currency")[0][0]
    assert list(ns.states["erp"].login_audit) == []


def test_m2m_signed_with_another_key_is_refused(ns, ns_settings, keys):
    with pytest.raises(SourceError) as caught:
        sync_object(m2m(ns_settings, keys[1]), ns_settings.warehouse, "erp", "currencies")
    assert caught.value.status == 400 and "invalid_client" in str(caught.value)
    assert_secret_free(str(caught.value))
    assert last_refusal(ns) == (
        "certificate",
        "signature does not match the certificate's public key",
    )


def test_m2m_with_another_certificate_id_is_refused(ns, ns_settings, keys):
    with pytest.raises(SourceError):
        sync_object(m2m(ns_settings, keys[0], "cert-2"), ns_settings.warehouse, "erp", "currencies")
    assert last_refusal(ns) == ("certificate", "kid is not the certificate id of this integration")


def test_an_expired_m2m_assertion_is_refused(ns, ns_settings, keys, monkeypatch):
    made = netsuite.client_assertion
    two_hours_ago = time.time() - 7200
    monkeypatch.setattr(
        netsuite, "client_assertion", lambda s, url: made(s, url, now=two_hours_ago)
    )
    with pytest.raises(SourceError):
        sync_object(m2m(ns_settings, keys[0]), ns_settings.warehouse, "erp", "currencies")
    assert last_refusal(ns) == ("certificate", "client assertion expired")


# -- concurrency ----------------------------------------------------------------------------

PATIENT = {"max_retries": 10, "backoff_factor": 0.005, "backoff_max_s": 0.05}


def test_a_concurrency_limit_lowers_the_windows_fetched_at_a_time(
    sources, settings, world_dir, tmp_path
):
    many = settings.replace(
        erp_window_workers=4, erp_query_row_cap=300, erp_page_size=100, http=PATIENT
    )
    free = sync_object(many, tmp_path / "free.duckdb", "erp", "transaction_lines")
    assert free.details["window_workers"] == 4 and free.details["concurrency_lowered"] == 0
    assert free.details["windows"] >= 6
    # Each request stays in flight 20 ms: four windows at a time cannot all pass.
    sources.set_faults("erp", concurrency_limit=2, latency_ms=20)
    throttled = sync_object(many, settings.warehouse, "erp", "transaction_lines")
    assert throttled.details["concurrency_lowered"] >= 1
    assert 2 <= throttled.details["window_workers"] < 4
    assert sources.stats("erp")["by_status"].get("429", 0) >= 1
    rows = raw_rows(settings.warehouse, "raw_erp.transactionline")
    assert rows == raw_rows(tmp_path / "free.duckdb", "raw_erp.transactionline")
    assert len(rows) == len(set(rows)) == throttled.rows_read == free.rows_read


def test_a_final_429_lowers_the_limit_once_per_request(sources, settings):
    sources.set_faults("erp", rate_limit_every=1, retry_after="0")
    client = NetSuiteClient(settings.replace(erp_window_workers=4))
    with client:
        for expected in (3, 2, 1, 1):
            with pytest.raises(SourceError) as caught:
                client.suiteql(CURRENCIES, limit=10, offset=0)
            assert caught.value.status == 429 and caught.value.code == "CONCURRENCY_LIMIT_EXCEEDED"
            assert client.limiter.limit == expected
    assert client.limiter.lowered == 3
