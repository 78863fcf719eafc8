"""The HTTP layer against a scripted loopback server: retries, auth refresh, errors."""

from __future__ import annotations

import base64
import dataclasses
import json
import pickle
import socket
import time
from urllib.parse import quote, quote_plus

import pytest
from conn_http_stub import Reply

from connectors.auth import ApiKeyAuth, OAuth1Signature, OAuthToken
from connectors.config import Secret, Settings
from connectors.http import HttpClient, SourceError, describe_error_body, redact, safe_endpoint

SECRET = "client-secret-XYZ"
API_KEY = "portal-key-ABC"


def oauth(stub) -> OAuthToken:
    return OAuthToken(
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


def test_on_retry_hears_each_retry_while_the_request_is_being_retried(stub, fast_http):
    heard: list[int | None] = []
    stub.add("/q", Reply(429), Reply(503), lambda seen: Reply(200, {"heard": list(heard)}))
    client = HttpClient("erp", fast_http)
    resp = client.request("POST", f"{stub.url}/q", json={}, authed=False, on_retry=heard.append)
    assert resp.json() == {"heard": [429, 503]}
    stub.add("/q", Reply(503), Reply(200, {}))
    client.request("POST", f"{stub.url}/q", json={}, authed=False)
    assert heard == [429, 503]  # the callback was for that one request only


def test_an_oauth1_signature_rejected_is_final_and_says_what_to_check(stub, fast_http):
    stub.add(
        "/q",
        Reply(
            401,
            {
                "o:errorDetails": [
                    {"detail": "Invalid login attempt.", "o:errorCode": "INVALID_LOGIN"}
                ]
            },
        ),
    )
    auth = OAuth1Signature(
        "1234567_SB1", "ck", "consumer/secret", "token+id", "token=secret", hint="check X"
    )
    client = HttpClient("erp", fast_http, auth)
    with pytest.raises(SourceError) as caught:
        client.request("POST", f"{stub.url}/q", params={"limit": 5}, json={"q": "SELECT 1"})
    assert str(caught.value).startswith("erp: credentials rejected: check X; INVALID_LOGIN")
    header = stub.requests_to("/q")[0].headers["authorization"]
    assert len(stub.requests_to("/q")) == 1
    assert header.startswith('OAuth realm="1234567_SB1"')
    assert 'oauth_signature_method="HMAC-SHA256"' in header and 'oauth_consumer_key="ck"' in header
    assert auth.secret_values() == ["consumer/secret", "token+id", "token=secret"]


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


@pytest.mark.parametrize(
    "retry_after", ["abc", "-5", "-3600", "1.5", "4.5", "", "Wed, 21 Oct 2015 07:28:00 GMT"]
)
def test_an_unreadable_retry_after_falls_back_to_the_backoff(stub, fast_http, retry_after):
    stub.add("/data", Reply(429, {"error": {"code": "rate_limited"}}, {"Retry-After": retry_after}))
    stub.add("/data", Reply(200, {"ok": 1}))
    client = HttpClient("portal", fast_http)
    started = time.monotonic()
    assert client.request("GET", f"{stub.url}/data", authed=False).status_code == 200
    # The backoff is ~1 ms; "4.5" read as seconds would wait 4.5 s (the cap is 5 s).
    assert time.monotonic() - started < 3.0
    assert client.stats.retried_statuses == {429: 1}


def test_retry_after_of_an_hour_gives_up_at_the_total_retry_cap(stub):
    http = Settings.from_env(
        {
            "PARTNERPULSE_HTTP_MAX_RETRIES": "50",  # the count is not what stops it
            "PARTNERPULSE_HTTP_BACKOFF_FACTOR": "0.001",
            "PARTNERPULSE_HTTP_RETRY_AFTER_MAX": "0.2",
            "PARTNERPULSE_HTTP_RETRY_TOTAL_MAX": "0.5",
        }
    ).http
    stub.default("/data", Reply(429, {"error": {"code": "rate_limited"}}, {"Retry-After": "3600"}))
    client = HttpClient("portal", http)
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        client.request("GET", f"{stub.url}/data", authed=False)
    assert time.monotonic() - started < 10  # not an hour, not 50 x 0.2 s either
    err = info.value
    assert err.status == 429
    assert "total time spent retrying" in str(err) and "0.5 s cap" in str(err)
    assert "PARTNERPULSE_HTTP_RETRY_TOTAL_MAX" in str(err)
    # Each wait is cut to 0.2 s, so the 0.5 s cap allows two retries, no more.
    attempts = len(stub.requests_to("/data"))
    assert 2 <= attempts <= 3
    assert client.stats.requests == attempts
    assert client.stats.retried_statuses == {429: attempts - 1}


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


# Characters that URL-, form- and JSON-encode differently: +, /, =, &, space.
ECHOED_SECRET = "s3cr+t/=&x y"
ECHOED_CLIENT_ID = "partner-client"


def secret_encodings(client_id: str, secret: str) -> list[str]:
    """The secret as an echo may show it, written out here independently of `redact`."""
    return [
        secret,
        quote(secret, safe=""),  # s3cr%2Bt%2F%3D%26x%20y
        quote(secret),  # s3cr%2Bt/%3D%26x%20y
        quote_plus(secret),  # s3cr%2Bt%2F%3D%26x+y: the form body
        quote_plus(secret).lower(),  # %2b: percent-encoding is case-insensitive
        json.dumps(secret)[1:-1].replace("/", "\\/"),  # s3cr+t\/=&x y
        json.dumps(secret)[1:-1].replace("&", "\\u0026"),
        base64.b64encode(f"{client_id}:{secret}".encode()).decode(),  # HTTP Basic
    ]


def echo_form(status: int, as_json: bool):
    """A token endpoint that refuses the client and echoes what it received, in every
    encoding a careless server might (the raw form body, JSON, the Basic header)."""

    def reply(seen):
        form = seen.form
        basic = base64.b64encode(f"{form['client_id']}:{form['client_secret']}".encode())
        as_php_json = json.dumps(form).replace("/", "\\/")
        text = (
            f"cannot parse body {seen.body.decode()} (json {as_php_json}, "
            f"url {quote(form['client_secret'], safe='')}, basic {basic.decode()})"
        )
        if as_json:
            return Reply(status, {"error": "invalid_request", "error_description": text})
        return Reply(status, text.encode())

    return reply


@pytest.mark.parametrize(("status", "as_json"), [(400, True), (401, False), (401, True)])
def test_a_token_endpoint_echoing_the_form_leaks_no_encoding_of_the_secret(
    stub, fast_http, status, as_json
):
    stub.default("/token", echo_form(status, as_json))
    auth = OAuthToken(
        f"{stub.url}/token",
        lambda: {
            "grant_type": "client_credentials",
            "client_id": ECHOED_CLIENT_ID,
            "client_secret": ECHOED_SECRET,
        },
        [ECHOED_SECRET],
    )
    client = HttpClient("crm", fast_http, auth)
    with pytest.raises(SourceError) as info:
        client.request("GET", f"{stub.url}/data")
    # The endpoint did echo the encodings (else this test proves nothing).
    (sent,) = stub.requests_to("/token")
    assert quote_plus(ECHOED_SECRET) in sent.body.decode()
    err = info.value
    shown = [str(err), repr(err), err.message, str(pickle.loads(pickle.dumps(err)))]
    for encoded in secret_encodings(ECHOED_CLIENT_ID, ECHOED_SECRET):
        for text in shown:
            assert encoded.lower() not in text.lower(), (encoded, text)
    assert err.status == status and "client_secret=[REDACTED]" in str(err)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("assertion", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1QHguaW8ifQ.c2ln-_x"),
        ("refresh_token", "5Aep861+refresh/token=="),
    ],
)
def test_a_token_endpoint_echoing_an_assertion_or_a_refresh_token_leaks_neither(
    stub, fast_http, field, value
):
    def echo(seen):
        text = f"cannot parse {seen.body.decode()} ({seen.form[field]})"
        return Reply(400, {"error": "invalid_grant", "error_description": text})

    stub.default("/token", echo)
    auth = OAuthToken(
        f"{stub.url}/token", lambda: {"grant_type": "x", field: value, "client_id": "id"}
    )
    with pytest.raises(SourceError) as info:
        HttpClient("crm", fast_http, auth).request("GET", f"{stub.url}/data")
    (sent,) = stub.requests_to("/token")
    assert quote_plus(value) in sent.body.decode()
    for text in (str(info.value), repr(info.value)):
        for encoded in (value, quote_plus(value), quote(value, safe="")):
            assert encoded not in text, (encoded, text)
    assert f"{field}=[REDACTED]" in str(info.value)


def test_an_error_body_cut_at_the_message_limit_shows_no_part_of_the_secret(stub, fast_http):
    # The form-encoded secret takes characters 290 to 310 of the echo: a cut at 300 before
    # redaction (as error bodies were cut) would show its first half.
    body = "x" * 275 + f" client_secret={quote_plus(ECHOED_SECRET)} " + "y" * 600
    stub.default("/token", Reply(400, body.encode()))
    auth = OAuthToken(
        f"{stub.url}/token",
        lambda: {
            "grant_type": "client_credentials",
            "client_id": "id",
            "client_secret": ECHOED_SECRET,
        },
        [ECHOED_SECRET],
    )
    client = HttpClient("crm", fast_http, auth)
    with pytest.raises(SourceError) as info:
        client.request("GET", f"{stub.url}/data")
    message = info.value.message
    for encoded in secret_encodings("id", ECHOED_SECRET):
        for size in range(4, len(encoded) + 1):
            assert encoded[:size].lower() not in message.lower(), (encoded[:size], message)
    assert "client_secret=[REDACTED]" in message
    assert message.endswith("…") and len(message) <= 500


def test_redact_then_cut_leaves_no_start_of_a_secret_at_the_cut():
    secret = "tok-0123456789abcdef"
    # Whole in the text, straddling the cut at 40: redacted, then cut.
    text = "a" * 30 + secret + " tail"
    cut = redact(text, [secret], limit=40)
    assert len(cut) <= 40 and cut.endswith("…")
    assert all(secret[:n] not in cut for n in range(4, len(secret) + 1))
    # Only in part in the text (a server cut its echo), straddling the cut: the fragment
    # before the cut is dropped as well.
    text = "b" * 30 + secret[:12] + "~" * 30
    cut = redact(text, [secret], limit=40)
    assert len(cut) <= 40
    assert all(secret[:n] not in cut for n in range(4, len(secret) + 1))
    assert cut.startswith("b" * 30)
    # Short texts are left as they are.
    assert redact("no secret here", [secret], limit=40) == "no secret here"


def test_redact_covers_every_encoding_of_a_secret():
    encodings = secret_encodings("id", ECHOED_SECRET)
    text = " | ".join(encodings)
    redacted = redact(
        text, [ECHOED_SECRET, base64.b64encode(b"id:" + ECHOED_SECRET.encode()).decode()]
    )
    assert redacted == " | ".join(["[REDACTED]"] * len(encodings))


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
