"""Trying each configured login (connectors/logins.py) and `partnerpulse config check`
printing them, over real HTTP to the stand-ins."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conn_keys import key_pair

from connectors.config import Secret, Settings
from connectors.logins import LoginOutcome, check_logins
from orchestration.cli import main
from source_servers.runtime import RunningSources, SourceCredentials, start_sources


def secrets_of(running: RunningSources) -> list[str]:
    c = running.credentials
    return [
        c.crm_client_secret,
        c.crm_refresh_token,
        c.erp_client_secret,
        c.erp_consumer_secret,
        c.erp_token_id,
        c.erp_token_secret,
        c.portal_api_key,
    ]


def test_every_login_is_tried_with_one_request_each(sources, settings: Settings) -> None:
    sources.reset_stats()
    outcomes = check_logins(settings)
    assert [str(o) for o in outcomes] == [
        "crm: login with OAuth client credentials: ok (the org has used 1 of its 5,000,000 "
        "daily API calls; the pipeline may spend up to 4,000,000 of them)",
        "erp: login with OAuth 2.0 client credentials: ok",
        "portal: login with an API key: ok",
    ]
    # Salesforce: the token and the org's /limits.
    assert [sources.stats(s)["requests"] for s in ("crm", "erp", "portal")] == [2, 1, 1]


def test_a_failed_login_says_why_without_a_secret_and_the_others_are_still_tried(
    sources, settings: Settings
) -> None:
    wrong_secret, wrong_key = "not-the-erp-secret+/=", "not-the-portal-key"
    outcomes = check_logins(
        settings.replace(
            crm_auth="jwt_bearer",
            crm_username=None,
            erp_client_secret=Secret(wrong_secret),
            portal_api_key=Secret(wrong_key),
            http={"max_retries": 0},
        )
    )
    crm, erp, portal = outcomes
    assert crm == LoginOutcome(
        "crm",
        "JWT bearer as (no user name set)",
        "PARTNERPULSE_CRM_AUTH=jwt_bearer needs PARTNERPULSE_CRM_USERNAME, "
        "PARTNERPULSE_CRM_PRIVATE_KEY_PATH: not set",
    )
    assert str(erp).startswith(
        "erp: login with OAuth 2.0 client credentials: failed: erp: invalid_client"
    )
    assert str(portal).startswith("portal: login with an API key: failed: portal: ")
    assert portal.error and "401" in portal.error
    text = "\n".join(str(o) for o in outcomes)
    for secret in [*secrets_of(sources), wrong_secret, wrong_key]:
        assert secret not in text
    assert sources.stats("crm")["requests"] == 0  # refused before any request


def test_netsuite_token_based_authentication_logs_in_with_a_signed_query(
    sources, settings: Settings
) -> None:
    c = sources.credentials
    tba = settings.replace(
        erp_auth="tba",
        erp_account_id=c.erp_account_id,
        erp_consumer_key=c.erp_consumer_key,
        erp_consumer_secret=Secret(c.erp_consumer_secret),
        erp_token_id=Secret(c.erp_token_id),
        erp_token_secret=Secret(c.erp_token_secret),
    )
    sources.reset_stats()
    (erp,) = (o for o in check_logins(tba) if o.source == "erp")
    assert str(erp) == "erp: login with token-based authentication (account 1234567_SB1): ok"
    assert sources.stats("erp")["data_requests"] == 1


def _config_check(running: RunningSources, tmp_path: Path, **env: str):
    variables = {
        **running.env(),
        "PARTNERPULSE_CONFIG": "",
        "PARTNERPULSE_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "PARTNERPULSE_HTTP_MAX_RETRIES": "0",
        **env,
    }
    return CliRunner().invoke(main, ["config", "check"], env=variables)


def test_config_check_prints_each_login_and_passes_when_all_work(
    world_dir: Path, tmp_path: Path
) -> None:
    keys = key_pair()
    credentials = SourceCredentials(crm_jwt_public_key=keys.public_pem)
    with start_sources(world_dir, landing_dir=tmp_path / "l", credentials=credentials) as org:
        result = _config_check(
            org,
            tmp_path,
            PARTNERPULSE_CRM_AUTH="jwt_bearer",
            PARTNERPULSE_CRM_USERNAME=credentials.crm_username,
            PARTNERPULSE_CRM_PRIVATE_KEY_PATH=str(keys.write(tmp_path / "sf.pem")),
        )
        assert org.states["crm"].logins.last.grant == "jwt_bearer"
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == [
        "crm: login with JWT bearer as integration@partnerpulse.example: ok (the org has used "
        "1 of its 5,000,000 daily API calls; the pipeline may spend up to 4,000,000 of them)",
        "erp: login with OAuth 2.0 client credentials: ok",
        "portal: login with an API key: ok",
    ]
    assert "no problems (against the sources' metadata)" in result.stdout
    for secret in [*secrets_of(org), *keys.body]:
        assert secret not in result.output


def test_config_check_fails_on_a_refused_login_without_printing_a_secret(
    sources, tmp_path: Path
) -> None:
    wrong = "wrong-erp-secret+/="
    result = _config_check(sources, tmp_path, PARTNERPULSE_ERP_CLIENT_SECRET=wrong)
    assert result.exit_code == 1
    assert "crm: login with OAuth client credentials: ok" in result.stdout
    assert (
        "erp: login with OAuth 2.0 client credentials: failed: erp: invalid_client" in result.stderr
    )
    assert "1 failed login(s)" in result.stderr
    for secret in [*secrets_of(sources), wrong]:
        assert secret not in result.output
