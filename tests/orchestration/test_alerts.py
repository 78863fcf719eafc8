"""Alerts against a real webhook receiver on loopback: redaction, Slack escaping, and a
webhook that cannot take the alert never breaking the sensor nor showing its token."""

from __future__ import annotations

import base64
import json
import logging
import socket
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from connectors.auth import OAuthToken
from connectors.config import HttpSettings, Secret, Settings
from connectors.http import HttpClient, SourceError
from orchestration.alerts import MAX_ERROR_CHARS, Alert, send_alert
from tests.connectors.conn_http_stub import Reply, StubServer

TOKEN = "T0KEN-b1a2c3"
HOOK_PATH = f"/services/{TOKEN}"
CLIENT_ID = "partner-client"
SECRET = "s3cr+t/=&x y"  # +, /, =, & and space all encode differently
UI_URL = "http://127.0.0.1:3000"
NO_RETRIES = HttpSettings(connect_timeout_s=2.0, read_timeout_s=10.0, max_retries=0)


@pytest.fixture
def receiver() -> Iterator[StubServer]:
    """A Slack-style webhook on 127.0.0.1 that records what it is sent."""
    server = StubServer()
    server.default(HOOK_PATH, Reply(200, b"ok"))
    yield server
    server.close()


def settings_for(webhook_url: str) -> Settings:
    return Settings(
        alert_webhook_url=Secret(webhook_url),
        dagster_ui_url=UI_URL,
        crm_client_id=CLIENT_ID,
        crm_client_secret=Secret(SECRET),
    )


def alert(error: str = "boom", **fields: object) -> Alert:
    values: dict = {"title": "PartnerPulse run failed", "run_id": "r-1", "job_name": "daily"}
    return Alert(**{**values, "error": error, **fields})


def received_text(server: StubServer) -> tuple[str, str]:
    """(the raw body, the `text` of the JSON) of the one alert the receiver got."""
    (seen,) = server.requests_to(HOOK_PATH)
    body = seen.body.decode()
    payload = json.loads(body)
    assert payload["blocks"][0]["text"]["text"] == payload["text"]
    return body, payload["text"]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    return f"http://127.0.0.1:{port}{HOOK_PATH}"


@pytest.mark.parametrize("refusal", ["answers 500", "answers 404", "closed port", "no scheme"])
def test_a_webhook_that_cannot_take_the_alert_fails_quietly_without_its_token(
    receiver, caplog, refusal
):
    if refusal.startswith("answers"):
        receiver.default(HOOK_PATH, Reply(int(refusal.split()[1]), {"error": "nope"}))
        url = receiver.url + HOOK_PATH
    elif refusal == "closed port":
        url = closed_port_url()
    else:
        url = f"hooks.slack.com{HOOK_PATH}"
    caplog.set_level(logging.WARNING)

    sent = send_alert(alert(), settings_for(url))  # raises nothing

    assert sent is False
    (record,) = [r for r in caplog.records if r.name == "partnerpulse.alerts"]
    assert record.levelno == logging.WARNING and "alert not sent" in record.getMessage()
    assert TOKEN not in caplog.text and "/services/" not in caplog.text
    if refusal != "no scheme":
        assert "127.0.0.1" in record.getMessage()  # the host alone
    if refusal.startswith("answers"):
        assert refusal.split()[1] in record.getMessage()
        assert len(receiver.requests_to(HOOK_PATH)) == 1


def test_an_accepted_alert_returns_true(receiver):
    assert send_alert(alert(), settings_for(receiver.url + HOOK_PATH)) is True
    assert len(receiver.requests_to(HOOK_PATH)) == 1


def test_partner_text_can_neither_ping_nor_link_while_the_run_link_works(receiver):
    ping, fake_link = "<!channel>", "<https://evil.example|Dagster>"
    sent = send_alert(
        alert(
            error=f"SKU {ping} in invoice INV-1 & file {fake_link}.csv",
            partition=f"2026-05-01 {ping}",
            assets=(f"portal/{fake_link}",),
            job_name=f"daily {ping}",
        ),
        settings_for(receiver.url + HOOK_PATH),
    )
    assert sent is True
    _, text = received_text(receiver)
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "&lt;https://evil.example|Dagster&gt;" in text and "<https://evil" not in text
    assert "INV-1 &amp; file" in text
    assert f"<{UI_URL}/runs/r-1|Open the run in Dagster>" in text
    assert text.count("<") == 1  # the run link is the only control sequence


def test_alert_text_holds_no_encoding_of_a_configured_secret(receiver):
    # A real token endpoint that echoes the form it was sent: the connector's error.
    token_endpoint = StubServer()
    try:
        token_endpoint.default(
            "/token",
            lambda seen: Reply(401, b"invalid_client for body " + seen.body),
        )
        client = HttpClient(
            "crm",
            NO_RETRIES,
            OAuthToken(
                f"{token_endpoint.url}/token",
                lambda: {
                    "grant_type": "client_credentials",
                    "client_id": CLIENT_ID,
                    "client_secret": SECRET,
                },
                [SECRET],
            ),
        )
        with pytest.raises(SourceError) as info:
            client.request("GET", f"{token_endpoint.url}/data")
    finally:
        token_endpoint.close()
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    encodings = [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1].replace("/", "\\/"),
        basic,
    ]
    # And an error no connector redacted (e.g. from a library), holding every encoding.
    unredacted = "another step failed: " + " ; ".join(encodings)

    send_alert(
        alert(error=f"step `ingest_crm`: {info.value} | {unredacted}"),
        settings_for(receiver.url + HOOK_PATH),
    )

    body, text = received_text(receiver)
    assert "invalid_client" in text and "[REDACTED]" in text
    for encoded in encodings:
        assert encoded.lower() not in text.lower(), encoded
        assert encoded.lower() not in body.lower(), encoded
    assert TOKEN not in body


def test_an_error_cut_at_the_alert_limit_shows_no_part_of_a_secret(receiver):
    # The secret straddles the cut: it is redacted before the text is cut.
    error = "e" * (MAX_ERROR_CHARS - 8) + f" {quote_plus(SECRET)} and more"
    send_alert(alert(error=error), settings_for(receiver.url + HOOK_PATH))
    _, text = received_text(receiver)
    shown = text.split("Error: ", 1)[1].split("\n", 1)[0]
    encoded = quote_plus(SECRET)
    assert all(encoded[:n].lower() not in shown.lower() for n in range(4, len(encoded) + 1))
    assert len(shown) <= MAX_ERROR_CHARS and shown.endswith("…")
