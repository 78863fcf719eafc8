"""Settings from PARTNERPULSE_* variables; secrets never shown."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import date
from pathlib import Path

import pytest

from connectors.config import DEFAULT_WAREHOUSE, Secret, Settings

ENV = {
    "PARTNERPULSE_CRM_URL": "https://login.example.com/",
    "PARTNERPULSE_CRM_CLIENT_ID": "crm-id",
    "PARTNERPULSE_CRM_CLIENT_SECRET": "crm-secret-1",
    "PARTNERPULSE_ERP_URL": "https://123.suitetalk.api.netsuite.com",
    "PARTNERPULSE_ERP_CLIENT_ID": "erp-id",
    "PARTNERPULSE_ERP_CLIENT_SECRET": "erp-secret-2",
    "PARTNERPULSE_PORTAL_URL": "http://127.0.0.1:9000",
    "PARTNERPULSE_PORTAL_API_KEY": "portal-key-3",
    "PARTNERPULSE_LANDING_DIR": "/data/landing",
    "PARTNERPULSE_WAREHOUSE": "/data/w.duckdb",
    "PARTNERPULSE_AS_OF": "2025-06-30",
    "PARTNERPULSE_HTTP_MAX_RETRIES": "2",
    "PARTNERPULSE_HTTP_READ_TIMEOUT": "7.5",
}
SECRETS = ("crm-secret-1", "erp-secret-2", "portal-key-3")


def test_from_env_reads_every_variable():
    s = Settings.from_env(ENV)
    assert s.crm_url == "https://login.example.com"  # trailing slash dropped
    assert s.crm_client_id == "crm-id"
    assert s.crm_client_secret.reveal() == "crm-secret-1"
    assert s.erp_client_secret.reveal() == "erp-secret-2"
    assert s.portal_api_key.reveal() == "portal-key-3"
    assert s.landing_dir == Path("/data/landing")
    assert s.warehouse == Path("/data/w.duckdb")
    assert s.as_of == date(2025, 6, 30)
    assert s.http.max_retries == 2 and s.http.read_timeout_s == 7.5
    assert s.http.timeout == (s.http.connect_timeout_s, 7.5)
    assert not s.uses_embedded_sources and not s.erp_uses_jwt


def test_defaults_and_embedded_sources():
    s = Settings.from_env({})
    assert s.uses_embedded_sources
    assert s.warehouse == DEFAULT_WAREHOUSE.absolute()
    assert s.as_of is None and s.crm_client_secret is None


def test_secrets_never_show():
    s = Settings.from_env(ENV)
    shown = [
        repr(s),
        str(s),
        f"{s}",
        repr(s.crm_client_secret),
        f"{s.erp_client_secret}",
        str(s.portal_api_key),
        f"{s.portal_api_key!s:>10}",
    ]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text
    with pytest.raises(TypeError):
        pickle.dumps(s.crm_client_secret)


def test_settings_are_frozen_and_replaceable():
    s = Settings.from_env(ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.crm_url = "x"  # type: ignore[misc]
    t = s.replace(erp_page_size=10, http={"max_retries": 0})
    assert t.erp_page_size == 10 and t.http.max_retries == 0 and s.http.max_retries == 2


def test_jwt_mode_when_key_and_certificate_are_set():
    s = Settings.from_env(
        {
            **ENV,
            "PARTNERPULSE_ERP_CERTIFICATE_ID": "cert-1",
            "PARTNERPULSE_ERP_PRIVATE_KEY_PATH": "/keys/ns.pem",
        }
    )
    assert s.erp_uses_jwt and s.erp_private_key_path == Path("/keys/ns.pem")


@pytest.mark.parametrize(("name", "value"), [("AS_OF", "30/06/2025"), ("HTTP_MAX_RETRIES", "many")])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ValueError, match=f"PARTNERPULSE_{name}"):
        Settings.from_env({f"PARTNERPULSE_{name}": value})


def test_secret_equality_and_truth():
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert not Secret("") and Secret("x")


def test_today_and_standin_settings():
    s = Settings.from_env(
        {
            "PARTNERPULSE_AS_OF": "2025-01-31",
            "PARTNERPULSE_STANDIN_PARTNERS": "16",
            "PARTNERPULSE_STANDIN_MONTHS": "14",
            "PARTNERPULSE_STANDIN_CACHE_DIR": "/tmp/worlds",
        }
    )
    assert s.today == date(2025, 1, 31)
    assert (s.standin.partners, s.standin.months, s.standin.seed) == (16, 14, 7)
    assert s.standin.cache_dir == Path("/tmp/worlds")
    assert Settings.from_env({}).today is not None
    assert s.replace(standin={"scale": 0.5}).standin.scale == 0.5


def test_retry_wait_caps_keep_one_request_under_a_few_minutes():
    http = Settings.from_env({}).http
    assert http.retry_after_max_s == 60.0 and http.retry_total_max_s == 180.0
    assert http.backoff_max_s <= http.retry_total_max_s


def test_retry_wait_caps_are_read_and_an_empty_value_is_unset():
    http = Settings.from_env(
        {"PARTNERPULSE_HTTP_RETRY_AFTER_MAX": "0.2", "PARTNERPULSE_HTTP_RETRY_TOTAL_MAX": "1.5"}
    ).http
    assert (http.retry_after_max_s, http.retry_total_max_s) == (0.2, 1.5)
    unset = Settings.from_env(
        {"PARTNERPULSE_HTTP_RETRY_AFTER_MAX": "", "PARTNERPULSE_HTTP_RETRY_TOTAL_MAX": "  "}
    ).http
    assert (unset.retry_after_max_s, unset.retry_total_max_s) == (60.0, 180.0)
    with pytest.raises(ValueError, match="PARTNERPULSE_HTTP_RETRY_TOTAL_MAX"):
        Settings.from_env({"PARTNERPULSE_HTTP_RETRY_TOTAL_MAX": "3 min"})
