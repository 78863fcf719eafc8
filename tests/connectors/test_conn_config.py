"""Settings from PARTNERPULSE_* variables and the configuration file's `settings:`; secrets
never shown."""

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


def test_a_spark_connect_url_is_a_secret_and_a_bad_one_is_refused_without_showing_it():
    url = "sc://spark.example:15002/;token=pp-connect-token;use_ssl=true"
    s = Settings.from_env({"PARTNERPULSE_SPARK_REMOTE": url})
    assert s.spark_remote.reveal() == url
    assert "pp-connect-token" not in repr(s) + str(s.spark_remote)
    with pytest.raises(ValueError, match="PARTNERPULSE_SPARK_REMOTE") as refused:
        Settings.from_env({"PARTNERPULSE_SPARK_REMOTE": "https://spark.example/?token=pp-x"})
    assert "pp-x" not in str(refused.value)


def test_a_thrift_server_is_host_and_port_and_its_password_a_secret_for_ldap_or_custom():
    s = Settings.from_env({"PARTNERPULSE_SPARK_THRIFT": "thrift://spark.example:10001/"})
    assert (s.spark_thrift, s.spark_thrift_user, s.spark_thrift_auth) == (
        "spark.example:10001",
        "partnerpulse",
        "none",
    )
    s = Settings.from_env(
        {
            "PARTNERPULSE_SPARK_THRIFT": "spark.example:10000",
            "PARTNERPULSE_SPARK_THRIFT_AUTH": "LDAP",
            "PARTNERPULSE_SPARK_THRIFT_PASSWORD": "pp-thrift-password",
        }
    )
    assert s.spark_thrift_auth == "ldap"
    assert s.spark_thrift_password.reveal() == "pp-thrift-password"
    assert "pp-thrift-password" not in repr(s) + str(s.spark_thrift_password)
    for address in ("spark.example", "spark.example:port", "sc://spark.example:15002"):
        with pytest.raises(ValueError, match="^PARTNERPULSE_SPARK_THRIFT must be a Thrift"):
            Settings.from_env({"PARTNERPULSE_SPARK_THRIFT": address})
    with pytest.raises(ValueError, match="^PARTNERPULSE_SPARK_THRIFT_AUTH must be one of"):
        Settings.from_env({"PARTNERPULSE_SPARK_THRIFT_AUTH": "kerberos"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"PARTNERPULSE_SPARK_THRIFT_PASSWORD": "pp-thrift-password"},
            "PARTNERPULSE_SPARK_THRIFT_PASSWORD is set but PARTNERPULSE_SPARK_THRIFT_AUTH is "
            "none: only ldap and custom send a password",
        ),
        (
            {"PARTNERPULSE_SPARK_THRIFT_AUTH": "custom"},
            "PARTNERPULSE_SPARK_THRIFT_AUTH=custom needs PARTNERPULSE_SPARK_THRIFT_PASSWORD",
        ),
        (
            {"PARTNERPULSE_SPARK_REMOTE": "sc://spark.example:15002/;token=pp-thrift-password"},
            "PARTNERPULSE_SPARK_REMOTE and PARTNERPULSE_SPARK_THRIFT name two Spark servers: "
            "set one",
        ),
    ],
)
def test_thrift_settings_that_contradict_each_other_are_refused_by_name(changes, message):
    env = {"PARTNERPULSE_SPARK_THRIFT": "spark.example:10000", **changes}
    with pytest.raises(ValueError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == message
    assert "pp-thrift-password" not in str(refused.value)


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


# The configuration file's `settings:` section (docs/configuration.md): variable > file >
# default.


def _with_file(tmp_path: Path, text: str, **variables: str) -> Settings:
    config = tmp_path / "partnerpulse.yml"
    config.write_text(text)
    env = {f"PARTNERPULSE_{name}": value for name, value in variables.items()}
    return Settings.from_env({"PARTNERPULSE_CONFIG": str(config), **env})


SETTINGS_FILE = """\
crm:
  accounts:
    fields: {partner_tier: Program_Level__c}
settings:
  warehouse: /data/wh.duckdb
  report_due_day: 12
  http_max_retries: 4
  http_read_timeout: 7.5
  crm_url: https://login.example.com/
  crm_client_secret: file-secret-4
  as_of: 2025-06-30
  first_month: "2024-03"
  standin_partners: 16
  object_workers: 0
"""


def test_the_files_settings_are_used(tmp_path):
    s = _with_file(tmp_path, SETTINGS_FILE)
    assert s.warehouse == Path("/data/wh.duckdb") and s.report_due_day == 12
    assert s.http.max_retries == 4 and s.http.read_timeout_s == 7.5
    assert s.crm_url == "https://login.example.com" and s.as_of == date(2025, 6, 30)
    assert s.first_month == date(2024, 3, 1) and s.standin.partners == 16
    assert s.object_workers == 1  # at least one, from the file too
    assert s.crm_client_secret.reveal() == "file-secret-4"
    # What neither sets keeps its default; the mapping in the same file is the org's.
    assert s.http.connect_timeout_s == 10.0 and s.erp_window_workers == 4
    assert s.org.mapping("accounts").fields["partner_tier"] == "Program_Level__c"


def test_a_variable_overrides_the_file_and_a_blank_one_does_not(tmp_path):
    s = _with_file(tmp_path, SETTINGS_FILE, WAREHOUSE="/other.duckdb", HTTP_MAX_RETRIES=" ")
    assert s.warehouse == Path("/other.duckdb")
    assert s.http.max_retries == 4  # blank is unset: the file's value stays
    assert s.report_due_day == 12


def test_without_a_file_or_a_settings_section_the_defaults_are_unchanged(tmp_path):
    no_section = _with_file(tmp_path, "crm: {}\n")
    assert no_section == Settings.from_env({}).replace(config_path=no_section.config_path)
    s = Settings.from_env({})
    assert s.warehouse == DEFAULT_WAREHOUSE.absolute()
    assert s.standin.cache_dir == Path(".partnerpulse/worlds").absolute()
    assert (s.report_due_day, s.object_workers, s.http.max_retries) == (10, 3, 6)
    assert s.erp_jwt_algorithm == "PS256" and s.warehouse_memory_limit == "1GB"


def test_an_unknown_setting_is_named_with_its_line(tmp_path):
    with pytest.raises(ValueError, match=r"line 3: settings.wharehouse: unknown setting") as err:
        _with_file(tmp_path, "settings:\n  report_due_day: 12\n  wharehouse: /x\n")
    assert "did you mean 'warehouse'" in str(err.value)
    with pytest.raises(ValueError, match="settings.config"):
        _with_file(tmp_path, "settings:\n  config: other.yml\n")


def test_a_bad_value_in_the_file_names_its_key_and_line(tmp_path):
    with pytest.raises(ValueError, match=r"line 3: settings.http_max_retries must be a number"):
        _with_file(tmp_path, "settings:\n  warehouse: /x\n  http_max_retries: many\n")
    with pytest.raises(ValueError, match=r"line 2: settings.report_due_day must be 1..28"):
        _with_file(tmp_path, "settings:\n  report_due_day: 30\n")
    # A bad variable is named as a variable, even when the file sets the same key well.
    with pytest.raises(ValueError, match="^PARTNERPULSE_HTTP_MAX_RETRIES must be a number"):
        _with_file(tmp_path, SETTINGS_FILE, HTTP_MAX_RETRIES="many")


def test_a_secret_in_the_file_never_shows(tmp_path):
    s = _with_file(tmp_path, SETTINGS_FILE)
    for text in (repr(s), str(s), f"{s.crm_client_secret}"):
        assert "file-secret-4" not in text
    # Not even when it is the bad value: a secret that is not text is named by its type.
    for bad in ("[file-secret-4]", "{file-secret-4: 1}", "12345"):
        with pytest.raises(ValueError) as err:
            _with_file(tmp_path, f"settings:\n  crm_client_secret: {bad}\n")
        assert "settings.crm_client_secret must be text" in str(err.value)
        assert "file-secret-4" not in str(err.value) and "12345" not in str(err.value)
        # pydantic's own error is not shown (`from None`), and hides its input anyway.
        assert err.value.__suppress_context__
        assert "file-secret-4" not in str(err.value.__context__)


def test_a_broken_file_is_left_to_the_orgs_loader(tmp_path):
    # The org's loader reports it with its line when the org is read (a run does so first).
    s = _with_file(tmp_path, "settings: [\n")
    assert s.warehouse == DEFAULT_WAREHOUSE.absolute()
    assert Settings.from_env({"PARTNERPULSE_CONFIG": str(tmp_path / "absent.yml")}).config_path


def test_the_org_ignores_the_settings_section(tmp_path):
    s = _with_file(tmp_path, SETTINGS_FILE)
    assert s.org.mapping("accounts").object == Settings.from_env({}).org.mapping("accounts").object
