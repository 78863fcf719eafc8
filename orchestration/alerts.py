"""Alerts to a Slack-compatible webhook (`PARTNERPULSE_ALERT_WEBHOOK_URL`).

An alert names the run (id, job, partition, link to the UI when
`PARTNERPULSE_DAGSTER_UI_URL` is set), the assets concerned and the error, in Slack's
incoming-webhook JSON (`text` plus `blocks`). In every value it shows, every configured
secret (source client secrets in any encoding, the portal API key, the webhook URL itself)
and every URL query string is replaced by `[REDACTED]`, and Slack's control characters are
escaped, so that partner-written text (a SKU, a file name, an error) can neither ping a
channel (`<!channel>`) nor pose as a link. Sent by the sensors in `sensors.py`; a webhook
that cannot be reached never breaks a sensor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import dagster as dg
import requests

from connectors.config import Settings
from connectors.redaction import basic_credentials, redact
from orchestration.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG

log = logging.getLogger("partnerpulse.alerts")

MAX_ERROR_CHARS = 1500


class Message(Protocol):
    """What the webhook is sent: an alert, or the digest of what is new (digest.py)."""

    @property
    def title(self) -> str: ...

    def text(self, ui_url: str | None = None, secrets: Sequence[str] = ()) -> str: ...


@dataclass(frozen=True)
class Alert:
    """What went wrong, in which run, on which assets."""

    title: str
    run_id: str
    job_name: str
    error: str
    assets: Sequence[str] = field(default_factory=tuple)
    partition: str | None = None

    def text(self, ui_url: str | None = None, secrets: Sequence[str] = ()) -> str:
        """The alert as Slack mrkdwn text: every value redacted of `secrets`, then escaped."""

        def show(value: str, limit: int | None = None) -> str:
            # Redact before escaping: an escaped `&` would no longer match the secret.
            return slack_escape(redact(value, secrets, limit=limit))

        lines = [f":rotating_light: *{show(self.title)}*"]
        run = f"Run `{show(self.run_id)}` of job `{show(self.job_name)}`"
        if self.partition:
            run += f", partition `{show(self.partition)}`"
        lines.append(run)
        if self.assets:
            lines.append("Assets: " + ", ".join(f"`{show(a)}`" for a in self.assets))
        lines.append(f"Error: {show(self.error, MAX_ERROR_CHARS)}")
        if ui_url:
            # The one link of the alert: built here, so its `<...|...>` stays unescaped.
            lines.append(f"<{show(ui_url)}/runs/{show(self.run_id)}|Open the run in Dagster>")
        return "\n".join(lines)


def slack_escape(value: str) -> str:
    """`value` shown as written in Slack: its control characters `&`, `<`, `>` escaped
    (Slack's own rule), so it can neither mention (`<!channel>`) nor link (`<url|text>`)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Message, settings: Settings) -> dict[str, object]:
    """The webhook body: Slack's `text` (also the notification) and one `section` block,
    with every secret redacted."""
    text = alert.text(settings.dagster_ui_url, configured_secrets(settings))
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def configured_secrets(settings: Settings) -> list[str]:
    """Every configured secret, and the HTTP Basic form of each client id and secret
    (`redact` adds their URL- and JSON-encoded forms)."""
    secrets = [
        s.reveal()
        for s in (
            settings.crm_client_secret,
            settings.erp_client_secret,
            settings.portal_api_key,
            settings.alert_webhook_url,
        )
        if s
    ]
    for client_id, secret in (
        (settings.crm_client_id, settings.crm_client_secret),
        (settings.erp_client_id, settings.erp_client_secret),
    ):
        if client_id and secret:
            secrets += basic_credentials(client_id, secret.reveal())
    return secrets


def send_alert(alert: Message, settings: Settings) -> bool:
    """POSTs the alert to the webhook; True when the webhook took it.

    Never raises: an alert that cannot be sent (no URL, an invalid one, a webhook refused
    or answering an error) logs one warning and gives False, so the sensor carries on. The
    URL's path holds the webhook's token, so the warning names the host alone.
    """
    if not settings.alert_webhook_url:
        log.warning("no PARTNERPULSE_ALERT_WEBHOOK_URL: alert not sent: %s", alert.title)
        return False
    url = settings.alert_webhook_url.reveal()
    host = _webhook_host(url)
    if host is None:
        log.warning(
            "alert not sent: PARTNERPULSE_ALERT_WEBHOOK_URL is not an http(s) URL: %s",
            alert.title,
        )
        return False
    try:
        # No redirects: the alert (runs, errors) goes to the configured host only.
        response = requests.post(
            url, json=slack_payload(alert, settings), timeout=(5, 15), allow_redirects=False
        )
    except requests.RequestException as exc:
        # The exception's text names the URL: give its class only.
        log.warning(
            "alert not sent: the webhook at %s could not be reached (%s): %s",
            host,
            type(exc).__name__,
            alert.title,
        )
        return False
    if not 200 <= response.status_code < 300:
        log.warning(
            "alert not sent: the webhook at %s answered HTTP %d: %s",
            host,
            response.status_code,
            alert.title,
        )
        return False
    return True


def _webhook_host(url: str) -> str | None:
    """The host of an http(s) URL; None for anything else (no scheme, no host)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced `[` in the host
        return None
    return host if parts.scheme in ("http", "https") and host else None


def _short(text: str) -> str:
    """`text` on one line (cut to `MAX_ERROR_CHARS` when the alert is shown, after
    redaction: cut before, it could end in the start of a secret)."""
    return " ".join(text.split())


def _error_text(event: dg.DagsterEvent) -> str:
    """The user-facing error of a STEP_FAILURE event: a `Failure`'s description, else the
    innermost exception's message."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    error = data.error
    if error is None:
        return event.message or "step failed"
    while error.cause is not None:  # Dagster wraps the op's exception
        error = error.cause
    return error.message.strip()


def planned_assets_by_step(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[str]]:
    """The assets each step of the run was to materialize."""
    planned: dict[str, set[str]] = {}
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.asset_key is not None:
            planned.setdefault(event.step_key or "", set()).add(event.asset_key.to_user_string())
    return {step: sorted(keys) for step, keys in planned.items()}


def failed_checks(
    instance: dg.DagsterInstance,
    run_id: str,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> list[str]:
    """`asset:check` of every check of `severity` that failed in the run."""
    failed = []
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event is not None else None
        if (
            isinstance(evaluation, dg.AssetCheckEvaluation)
            and not evaluation.passed
            and evaluation.severity == severity
        ):
            failed.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    return sorted(set(failed))


def alert_for_failed_run(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    step_failures: Iterable[dg.DagsterEvent],
    run_failure: dg.DagsterEvent | None = None,
) -> Alert:
    """An alert naming the failed steps' assets and errors (or the run's own error)."""
    planned = planned_assets_by_step(instance, run.run_id)
    assets: list[str] = []
    errors: list[str] = []
    for event in step_failures:
        step_assets = planned.get(event.step_key or "", [])
        assets.extend(step_assets)
        errors.append(f"step `{event.step_key}`: {_error_text(event)}")
    checks = failed_checks(instance, run.run_id)
    if checks:
        errors.append("failed ERROR checks: " + ", ".join(checks))
    if not errors:
        errors.append((run_failure.message if run_failure else None) or "the run failed")
    return Alert(
        title="PartnerPulse run failed",
        run_id=run.run_id,
        job_name=run.job_name,
        partition=_partition(run),
        assets=tuple(dict.fromkeys(assets)),
        error=_short(" | ".join(errors)),
    )


def alert_for_failed_checks(run: dg.DagsterRun, checks: Sequence[str]) -> Alert:
    """An alert for ERROR checks that failed in a run that itself succeeded."""
    return Alert(
        title="PartnerPulse ERROR check failed",
        run_id=run.run_id,
        job_name=run.job_name,
        partition=_partition(run),
        assets=tuple(dict.fromkeys(c.split(":", 1)[0] for c in checks)),
        error=_short("failed ERROR checks: " + ", ".join(checks)),
    )


def _partition(run: dg.DagsterRun) -> str | None:
    tags = run.tags
    if tags.get(PARTITION_TAG):
        return tags[PARTITION_TAG]
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    return f"{start}...{end}" if start and end else None
