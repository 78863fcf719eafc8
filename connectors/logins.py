"""Trying each configured login, as `partnerpulse config check` does before anything else.

One or two cheap requests per source: for Salesforce the token request and the org's
`/limits` (whose daily API allowance the outcome reports), for NetSuite with OAuth 2.0 the
token request, a 1-row page for the portal's API key, and for NetSuite's token-based
authentication (no token to ask for) a signed 1-row SuiteQL query. Each outcome says the
method in words taken from the settings alone (a user name or an account id, never a secret
or a secret's id) and, when it failed, the `SourceError` or the settings' `ValueError`,
whose texts carry no secret either.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

from connectors import partner_portal, salesforce
from connectors.config import Settings
from connectors.http import SourceError
from connectors.netsuite import NetSuiteClient

ERP_METHODS = {
    "client_credentials": "OAuth 2.0 client credentials",
    "certificate": "OAuth 2.0 client credentials with a certificate",
    "tba": "token-based authentication",
}
# A currency exists in every NetSuite account, and the query reads one id of it.
ERP_PROBE = "SELECT id FROM currency"


@dataclass(frozen=True)
class LoginOutcome:
    """How one source was logged in to, and what came of it (`error` None: it worked)."""

    source: str
    method: str
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        if not self.ok:
            return f"{self.source}: login with {self.method}: failed: {self.error}"
        note = f" ({self.note})" if self.note else ""
        return f"{self.source}: login with {self.method}: ok{note}"


def check_logins(settings: Settings) -> list[LoginOutcome]:
    """Log in to the CRM, the ERP and the portal, each on its own: one failing does not
    keep the others from being tried."""
    return [
        _attempt("crm", salesforce.login_description(settings), _crm, settings),
        _attempt("erp", erp_description(settings), _erp, settings),
        _attempt("portal", "an API key", _portal, settings),
    ]


def erp_description(settings: Settings) -> str:
    method = ERP_METHODS[settings.erp_auth_method]
    return f"{method} (account {settings.erp_account_id})" if settings.erp_account_id else method


def _attempt(
    source: str, method: str, login: Callable[[Settings], str | None], settings: Settings
) -> LoginOutcome:
    try:
        note = login(settings)
    except (SourceError, ValueError) as exc:
        return LoginOutcome(source, method, str(exc))
    return LoginOutcome(source, method, note=note)


def _crm(settings: Settings) -> str | None:
    with closing(salesforce.SalesforceClient(settings)) as client:
        client.instance_url  # noqa: B018 (the token request and /limits)
        usage, budget = client.budget.usage, client.budget
    if usage is None:
        return None
    return (
        f"the org has used {usage.used:,} of its {usage.limit:,} daily API calls; the "
        f"pipeline may spend up to {budget.allowed(usage.limit):,} of them"
    )


def _erp(settings: Settings) -> None:
    with closing(NetSuiteClient(settings)) as client:
        if settings.erp_auth_method == "tba":
            client.suiteql(ERP_PROBE, limit=1, offset=0)
        else:
            client.auth.apply(client.http, {})


def _portal(settings: Settings) -> None:
    one_record = settings.replace(portal_page_size=1)
    with closing(partner_portal.PortalClient(one_record)) as client:
        next(client.pages(partner_portal.RESOURCES["trainings"].path, None))
