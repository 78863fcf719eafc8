"""The HTTP layer against a scripted loopback server: retries, auth refresh, errors."""

from __future__ import annotations

import dataclasses
import pickle
import socket
import time

import pytest
from conn_http_stub import Reply

from connectors.config import Secret
from connectors.http import (
    ApiKeyAuth,
    HttpClient,
    OAuthClientCredentials,
    SourceError,
    describe_error_body,
    redact,
    safe_endpoint,
)

SECRET = "client-secret-XYZ"
API_KEY = "portal-key-ABC"


def oauth(stub) -> OAuthClientCredentials:
    return OAuthClientCredentials(
        f"{stub.url}/token",
        lambda: {"grant_type": "client_credentials", "client_id": "id", "client_secret": SECRET},
        [SECRET],
    )


def tokens(*names: str) -> list[Reply]:
    return [Reply(200, {"access_token": n, "instance_url": "http://x"}) for n in names]


def bearer_only(token: str):
    """A data endpoint that accepts only `token`."""

    def reply(seen):
        if seen.headers.get("authorization") == f"Bearer {token}":
            return Reply(200, {"ok": True})
        return Reply(
            401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        )

    return reply


def test_retries_503_then_succeeds(stub, fast_http):
    stub.add("/data", Reply(503), Reply(503), Reply(200, {"ok": 1}))
    client = HttpClient("crm", fast_http)
    resp = client.request("GET", f"{stub.url}/data", authed=False)
    assert resp.json() == {"ok": 1}
    assert len(stub.requests_to("/data")) == 3
    assert client.stats.retries == 2
    assert client.stats.retried_statuses == {503: 2}


def test_post_is_retried(stub, fast_http):
    stub.add("/q", Reply(500), Reply(502), Reply(504), Reply(200, {"items": []}))
    client = HttpClient("erp", fast_http)
    resp = client.request("POST", f"{stub.url}/q", json={"q": "SELECT 1"}, authed=False)
    assert resp.json() == {"items": []}
    assert [s.method for s in stub.requests_to("/q")] == ["POST"] * 4


def test_retry_after_is_honoured(stub, fast_http):
    stub.add("/data", Reply(429, {"error": {"code": "rate_limited"}}, {"Retry-After": "1"}))
    stub.add("/data", Reply(200, {"ok": 1}))
    client = HttpClient("portal", fast_http)
    started = time.monotonic()
    client.request("GET", f"{stub.url}/data", authed=False)
    assert time.monotonic() - started >= 0.95  # backoff alone is ~1 ms
    assert client.stats.retried_statuses == {429: 1}


@pytest.mark.parametrize("retry_after", ["abc", "-5", "1.5", ""])
def test_an_unreadable_retry_after_falls_back_to_the_backoff(stub, fast_http, retry_after):
    stub.add("/data", Reply(429, {"error": {"code": "rate_limited"}}, {"Retry-After": retry_after}))
    stub.add("/data", Reply(200, {"ok": 1}))
    client = HttpClient("portal", fast_http)
    assert client.request("GET", f"{stub.url}/data", authed=False).status_code == 200
    assert client.stats.retried_statuses == {429: 1}


def test_no_credential_follows_a_redirect_to_another_host(stub, other_host, fast_http):
    stub.add("/api/v2/trainings", Reply(302, {}, {"Location": f"{other_host.url}/collect"}))
    other_host.default("/collect", Reply(200, {"data": []}))
    client = HttpClient("portal", fast_http, ApiKeyAuth("X-API-Key", Secret(API_KEY)))
    client.request("GET", f"{stub.url}/api/v2/trainings")
    (sent,) = other_host.requests_to("/collect")
    assert API_KEY not in str(sent.headers) and "x-api-key" not in sent.headers
    assert stub.requests_to("/api/v2/trainings")[0].headers["x-api-key"] == API_KEY


def test_bounded_retries_then_source_error(stub, fast_http):
    stub.default(
        "/api/v2/trainings", Reply(503, {"error": {"code": "unavailable", "message": "down"}})
    )
    client = HttpClient("portal", fast_http, ApiKeyAuth("X-API-Key", Secret(API_KEY)))
    with pytest.raises(SourceError) as info:
        client.request(
            "GET", f"{stub.url}/api/v2/trainings", params={"updated_since": "t", "k": API_KEY}
        )
    err = info.value
    assert err.system == "portal" and err.status == 503
    assert len(stub.requests_to("/api/v2/trainings")) == fast_http.max_retries + 1
    text = str(err)
    assert text.startswith("portal:")
    assert f"GET {stub.url}/api/v2/trainings" in text
    assert "last status 503" in text
    assert "updated_since" not in text and API_KEY not in text


def test_connection_refused_is_a_source_error(fast_http):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = HttpClient("erp", fast_http)
    with pytest.raises(SourceError) as info:
        client.request("POST", f"http://127.0.0.1:{port}/q?token=abc", authed=False)
    assert info.value.status is None
    assert "connection failed" in str(info.value)
    assert "token=abc" not in str(info.value)


def test_read_timeout_is_retried_then_fails(stub, fast_http):
    stub.default("/slow", Reply(200, {}, delay_s=1.0))
    http = dataclasses.replace(fast_http, read_timeout_s=0.2, max_retries=1)
    client = HttpClient("crm", http)
    with pytest.raises(SourceError) as info:
        client.request("GET", f"{stub.url}/slow", authed=False)
    assert "Timeout" in str(info.value) or "timed out" in str(info.value)
    assert len(stub.requests_to("/slow")) == 2


def test_every_request_has_connect_and_read_timeout(stub, fast_http, monkeypatch):
    stub.default("/data", Reply(200, {}))
    client = HttpClient("crm", fast_http)
    seen = []
    original = client.session.request

    def spy(method, url, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(method, url, **kwargs)

    monkeypatch.setattr(client.session, "request", spy)
    client.request("GET", f"{stub.url}/data", authed=False)
    client.request("POST", f"{stub.url}/data", json={}, authed=False)
    assert seen == [(fast_http.connect_timeout_s, fast_http.read_timeout_s)] * 2


def test_401_refreshes_the_token_once(stub, fast_http):
    stub.add("/token", *tokens("tok-1", "tok-2"))
    stub.default("/data", bearer_only("tok-2"))
    client = HttpClient("crm", fast_http, oauth(stub))
    assert client.request("GET", f"{stub.url}/data").json() == {"ok": True}
    assert client.stats.token_fetches == 2 and client.stats.token_refreshes == 1
    assert [s.form["client_secret"] for s in stub.requests_to("/token")] == [SECRET, SECRET]


def test_second_401_is_a_hard_error_without_secrets(stub, fast_http):
    stub.add("/token", *tokens("tok-1", "tok-2", "tok-3"))
    stub.default("/data", bearer_only("never"))
    client = HttpClient("crm", fast_http, oauth(stub))
    with pytest.raises(SourceError) as info:
        client.request("GET", f"{stub.url}/data")
    err = info.value
    assert err.status == 401 and err.code == "INVALID_SESSION_ID"
    assert "second 401" in str(err)
    assert len(stub.requests_to("/data")) == 2 and len(stub.requests_to("/token")) == 2
    for secret in (SECRET, "tok-1", "tok-2"):
        assert secret not in str(err) and secret not in repr(err)


def test_api_key_401_is_final_and_redacted(stub, fast_http):
    # A server that echoes the key back must not make the error leak it.
    stub.default(
        "/r", Reply(401, {"error": {"code": "unauthorized", "message": f"bad key {API_KEY}"}})
    )
    client = HttpClient("portal", fast_http, ApiKeyAuth("X-API-Key", Secret(API_KEY)))
    with pytest.raises(SourceError) as info:
        client.request("GET", f"{stub.url}/r")
    assert info.value.status == 401
    assert API_KEY not in str(info.value)
    assert "[REDACTED]" in str(info.value)
    assert len(stub.requests_to("/r")) == 1
    assert stub.requests_to("/r")[0].headers["x-api-key"] == API_KEY


def test_token_endpoint_failure_names_the_token_endpoint(stub, fast_http):
    stub.default("/token", Reply(400, {"error": "invalid_client", "error_description": SECRET}))
    client = HttpClient("erp", fast_http, oauth(stub))
    with pytest.raises(SourceError) as info:
        client.request("GET", f"{stub.url}/data")
    assert "POST " + stub.url + "/token" in str(info.value)
    assert "invalid_client" in str(info.value)
    assert SECRET not in str(info.value)


def test_403_request_limit_is_not_retried(stub, fast_http):
    stub.default(
        "/q",
        Reply(
            403,
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
        ),
    )
    client = HttpClient("crm", fast_http)
    with pytest.raises(SourceError) as info:
        client.request("GET", f"{stub.url}/q", authed=False)
    assert info.value.code == "REQUEST_LIMIT_EXCEEDED" and info.value.status == 403
    assert len(stub.requests_to("/q")) == 1


def test_invalid_json_is_malformed(stub, fast_http):
    stub.default("/d", Reply(200, b'{"records": [1, 2'))
    client = HttpClient("crm", fast_http)
    resp = client.request("GET", f"{stub.url}/d", authed=False)
    with pytest.raises(SourceError, match="malformed body: invalid JSON"):
        client.parse_json(resp, "GET", f"{stub.url}/d")


def test_body_cut_short_is_malformed(stub, fast_http):
    stub.default("/d", Reply(200, b'{"records": []}', content_length=500))
    client = HttpClient("crm", fast_http)
    with pytest.raises(SourceError, match="malformed body"):
        client.request("GET", f"{stub.url}/d", authed=False)
    assert len(stub.requests_to("/d")) == 1  # a cut body is not retried


def test_api_usage_near_the_limit_slows_down(stub, fast_http):
    stub.add("/q", Reply(200, {}, {"Sforce-Limit-Info": "api-usage=50/100"}))
    stub.add("/q", Reply(200, {}, {"Sforce-Limit-Info": "api-usage=91/100"}))
    stub.add("/q", Reply(200, {}, {"Sforce-Limit-Info": "api-usage=92/100"}))
    client = HttpClient("crm", fast_http, usage_header="Sforce-Limit-Info")
    for _ in range(3):
        client.request("GET", f"{stub.url}/q", authed=False)
    assert client.stats.throttled_requests == 1  # only the request after 91/100
    assert client.stats.as_dict()["api_usage"] == "92/100"


def test_source_error_survives_pickling():
    err = SourceError("erp", "POST http://h/q", 503, "gave up", code="X")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.code == "X"


def test_safe_endpoint_and_redact():
    assert safe_endpoint("https://u:p@host:8443/a/b?q=SELECT&token=t#f") == "https://host:8443/a/b"
    text = redact("token tok-123 at http://h/p?key=abc failed", ["tok-123"])
    assert "tok-123" not in text and "key=abc" not in text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            [{"message": "bad field", "errorCode": "INVALID_FIELD"}],
            ("INVALID_FIELD: bad field", "INVALID_FIELD"),
        ),
        (
            {
                "title": "Bad Request",
                "o:errorDetails": [{"detail": "no", "o:errorCode": "INVALID_PARAMETER"}],
            },
            ("INVALID_PARAMETER: no", "INVALID_PARAMETER"),
        ),
        (
            {"error": {"code": "unauthorized", "message": "bad key"}},
            ("unauthorized: bad key", "unauthorized"),
        ),
        ({"error": "invalid_client"}, ("invalid_client", "invalid_client")),
    ],
)
def test_describe_error_body(stub, fast_http, body, expected):
    stub.default("/e", Reply(400, body))
    client = HttpClient("x", fast_http)
    resp = client.session.get(f"{stub.url}/e")
    assert describe_error_body(resp) == expected
