"""Connector settings: one frozen dataclass built from the `PARTNERPULSE_*` variables and
the `settings:` section of the configuration file.

`Settings.from_env` reads each setting from its variable (`PARTNERPULSE_WAREHOUSE`), else
from the `settings:` section of the YAML file `PARTNERPULSE_CONFIG` names (the org's
mapping file, connectors.org; key = the variable's name without the prefix, lower-case:
`warehouse`), else it takes the default written on the dataclass field. A blank variable is
unset, so the file's value stays. The reading is a pydantic-settings model (`_Variables`)
whose fields are all None when unset, so that each default is written once, below.

Secrets are wrapped in `Secret`, whose `repr` and `str` never show the value; code that
needs the value calls `.reveal()` at the point of use (a request body or header).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BeforeValidator, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from connectors.org import OrgConfig, locator, org_config

DEFAULT_WAREHOUSE = Path(".partnerpulse/warehouse.duckdb")


class Secret:
    """A secret string that never shows itself in `repr`, `str`, f-strings or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret's value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):  # pickling would write the value out: refuse
        raise TypeError("a Secret cannot be pickled")


def reveal(secret: Secret | None) -> str:
    """A secret's value where it is sent, or "" when it is not set."""
    return secret.reveal() if secret else ""


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, retries and throttling shared by every HTTP connector."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    max_retries: int = 6
    backoff_factor: float = 1.0
    backoff_max_s: float = 60.0
    backoff_jitter_s: float = 1.0
    # The longest single wait a `Retry-After` may ask for (a longer one is cut to this), and
    # the most time retrying one request may take: no retry starts whose wait would end
    # later (connectors.retries). Together they keep one request under a few minutes.
    retry_after_max_s: float = 60.0
    retry_total_max_s: float = 180.0
    # Salesforce `Sforce-Limit-Info`: above this share of the daily quota, pause before
    # every further request.
    api_usage_slowdown_at: float = 0.9
    api_usage_pause_s: float = 2.0

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout_s, self.read_timeout_s)


@dataclass(frozen=True)
class StandinSettings:
    """The bundled stand-in sources, used when no source URL is set (the embedded default)."""

    cache_dir: Path = Path(".partnerpulse/worlds")
    seed: int = 7
    partners: int = 150
    months: int = 36
    scale: float = 1.0
    landing_dir: Path = Path(".partnerpulse/landing")


@dataclass(frozen=True)
class BlockingFinding:
    """`PARTNERPULSE_BLOCKING_FINDINGS` entry: a kind of data-quality finding that blocks
    publishing above a threshold, in USD (`erp_partner_unmapped>$10000`) or in findings
    (`pos_file_rejected>5`)."""

    kind: str
    threshold: float
    in_usd: bool

    def exceeded(self, findings: int, amount_usd: float) -> bool:
        return (amount_usd if self.in_usd else findings) > self.threshold

    def __str__(self) -> str:
        return f"{self.kind}>{'$' if self.in_usd else ''}{self.threshold:g}"

    @classmethod
    def parse_all(cls, text: str) -> tuple[BlockingFinding, ...]:
        """`kind>N` or `kind>$N`, comma-separated."""
        entries = []
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            kind, sep, limit = entry.partition(">")
            limit = limit.strip()
            in_usd = limit.startswith("$")
            try:
                threshold = float(limit.removeprefix("$"))
            except ValueError:
                threshold = -1.0
            if not sep or not kind.strip() or threshold < 0:
                raise ValueError(
                    f"{entry!r} is not <finding_type>>N (findings) or <finding_type>>$N (USD)"
                )
            entries.append(cls(kind.strip(), threshold, in_usd))
        return tuple(entries)


@dataclass(frozen=True)
class Settings:
    """Everything the connectors need: source URLs, credentials, paths and tuning."""

    crm_url: str | None = None
    # How the pipeline logs in to Salesforce (docs/authentication.md): "client_credentials"
    # (client id + secret), "jwt_bearer" (consumer key = client id, user name, private key
    # of the connected app's certificate) or "refresh_token" (client id [+ secret] + token).
    crm_auth: str = "client_credentials"
    crm_client_id: str | None = None
    crm_client_secret: Secret | None = field(default=None, repr=False)
    crm_username: str | None = None
    crm_private_key_path: Path | None = None
    # The JWT's audience: the login host (https://login.salesforce.com, test.salesforce.com
    # for a sandbox, or an Experience Cloud site). Default: `crm_url`.
    crm_jwt_audience: str | None = None
    crm_refresh_token: Secret | None = field(default=None, repr=False)
    # Bulk API 2.0 (connectors.salesforce_bulk): these logical objects always, any other
    # whose record count is at least `crm_bulk_min_records` (0: never by count).
    crm_bulk_objects: tuple[str, ...] = ()
    crm_bulk_min_records: int = 100_000
    # A Bulk job's results pages (`maxRecords`), its first poll's wait (doubling up to the
    # cap) and how long it may take before it is aborted and the sync fails.
    crm_bulk_page_records: int = 50_000
    crm_bulk_poll_s: float = 0.5
    crm_bulk_poll_max_s: float = 15.0
    crm_bulk_wait_max_s: float = 1800.0
    # The share of the org's daily API allowance left to other integrations: a sync that
    # would reach into it stops cleanly (connectors.api_budget).
    crm_api_reserve: float = 0.2
    erp_url: str | None = None
    # How the pipeline logs in to NetSuite: "client_credentials" (OAuth 2.0 client id +
    # secret), "certificate" (OAuth 2.0 M2M: a JWT signed with the certificate's key) or
    # "tba" (token-based authentication: OAuth 1.0a, HMAC-SHA256). Default: "certificate"
    # when a certificate id and key are set, else "client_credentials".
    erp_auth: str | None = None
    erp_client_id: str | None = None
    erp_client_secret: Secret | None = field(default=None, repr=False)
    # JWT client assertion (production NetSuite): certificate id + private key file.
    erp_certificate_id: str | None = None
    erp_private_key_path: Path | None = None
    erp_jwt_algorithm: str = "PS256"
    erp_jwt_scope: str = "rest_webservices"
    # Token-based authentication: the account id is the signature's realm (`1234567`,
    # `1234567_SB1` for a sandbox).
    erp_account_id: str | None = None
    erp_consumer_key: str | None = None
    erp_consumer_secret: Secret | None = field(default=None, repr=False)
    erp_token_id: Secret | None = field(default=None, repr=False)
    erp_token_secret: Secret | None = field(default=None, repr=False)
    portal_url: str | None = None
    portal_api_key: Secret | None = field(default=None, repr=False)
    landing_dir: Path | None = None
    warehouse: Path = DEFAULT_WAREHOUSE
    as_of: date | None = None
    http: HttpSettings = field(default_factory=HttpSettings)
    standin: StandinSettings = field(default_factory=StandinSettings)
    crm_batch_size: int = 2000
    erp_page_size: int = 1000
    erp_query_row_cap: int = 100_000
    # Concurrency within each source's limit (connectors.sync.object_workers): SuiteQL
    # windows fetched at a time (NetSuite's default account limit is 5 concurrent requests;
    # one is left for other integrations), and CRM / portal objects synced at a time.
    erp_window_workers: int = 4
    object_workers: int = 3
    portal_page_size: int = 500
    # Incremental reads ask for rows modified at or after (watermark - lookback).
    incremental_lookback_s: float = 0.0
    # Where pages are spooled before landing (default: the system temp folder).
    spool_dir: Path | None = None
    # How long landing waits for another process to release the warehouse file lock.
    warehouse_lock_timeout_s: float = 60.0
    # DuckDB's memory limit while a sync lands (it spills to disk beyond it), so that
    # landing millions of rows in one transaction keeps the process's memory bounded.
    warehouse_memory_limit: str | None = "1GB"
    # DuckDB's memory limit while dbt builds (profiles.yml). Two models build at a time and
    # some operators cannot spill: at 2,000 partners x 60 months, 1GB failed two nodes.
    dbt_memory_limit: str = "1536MB"
    # How many dbt invocations' folders (compiled SQL, parse state, dbt's debug log; about
    # 6 MB each, two a run) stay in the dbt target folder for debugging; older ones go.
    dbt_keep_invocations: int = 20
    # What dbt builds the models on (docs/scaling.md): "duckdb", in the warehouse file, or
    # "spark": a Spark session of `spark_master` (local[N] or a cluster's master URL) with
    # `spark_driver_memory`, its tables, local metastore and the raw layer's Parquet
    # versions in `spark_dir` (default: `spark/` beside the warehouse).
    engine: str = "duckdb"
    spark_master: str = "local[2]"
    spark_driver_memory: str = "2g"
    spark_dir: Path | None = None
    # A Spark Connect server (`sc://host:port/;token=...`) to build on instead of a session
    # in dbt's process: a cluster's driver. Secret: its parameters may hold a token.
    spark_remote: Secret | None = field(default=None, repr=False)
    # Or a Thrift server (HiveServer2 protocol: Spark Thrift Server, Kyuubi), `host:port`,
    # logged in to as `spark_thrift_user` by `spark_thrift_auth` (dbt-spark's `thrift`
    # method); the password only for LDAP and CUSTOM, the two that send one.
    spark_thrift: str | None = None
    spark_thrift_user: str = "partnerpulse"
    spark_thrift_auth: str = "none"
    spark_thrift_password: Secret | None = field(default=None, repr=False)
    # Operations (docs/operations.md): alerts, publishing for BI, partitions, schedules.
    alert_webhook_url: Secret | None = field(default=None, repr=False)
    dagster_ui_url: str | None = None
    serving_warehouse: Path | None = None
    serving_parquet_dir: Path | None = None
    serving_keep_publications: int = 3
    # Scorecard pages (reports/): where they are published, the smallest peer group a
    # benchmark is shown for (partners other than the page's own), and the Chromium that
    # prints them to PDF (default: found on PATH; none found, no PDFs). A changed page's PDF
    # is printed again once the one it has is `reports_pdf_max_age_days` old, or when a
    # month closes (docs/reports.md): 0 prints every changed page's PDF in every build.
    reports_dir: Path | None = None
    benchmark_min_cohort: int = 5
    chromium: Path | None = None
    reports_pdf: bool = True
    reports_pdf_max_age_days: int = 7
    # Kinds of data-quality finding that block publishing above a threshold (default none).
    blocking_findings: tuple[BlockingFinding, ...] = ()
    first_month: date | None = None
    report_due_day: int = 10
    source_step_retries: int = 2
    source_retry_wait_s: float = 60.0
    # The Great Expectations project the checks run (suites, checkpoints; default
    # `expectations/`). Validation results and Data Docs go beside the warehouse.
    gx_project_dir: Path | None = None
    # Your org's mapping file (connectors.org; docs/configuration.md). None: the default org.
    config_path: Path | None = None

    @property
    def org(self) -> OrgConfig:
        """The org's mapping: the default org, with `config_path`'s file laid over it
        (raises `OrgConfigError` naming every problem and its line)."""
        return org_config(self.config_path)

    @property
    def uses_embedded_sources(self) -> bool:
        """True when no source URL is configured: the bundled stand-ins are to be used."""
        return not (self.crm_url or self.erp_url or self.portal_url)

    @property
    def today(self) -> date:
        """The date the pipeline takes as today: `PARTNERPULSE_AS_OF`, else the UTC date."""
        return self.as_of or datetime.now(UTC).date()

    @property
    def pos_landing_path(self) -> Path:
        """The folder partners drop POS files into: `PARTNERPULSE_LANDING_DIR`, else the
        stand-in world's (where the embedded sources write them)."""
        return self.landing_dir or self.standin.landing_dir

    @property
    def serving_warehouse_path(self) -> Path:
        """The read-only DuckDB file BI tools read (default: `serving.duckdb` beside the
        warehouse)."""
        return self.serving_warehouse or self.warehouse.parent / "serving.duckdb"

    @property
    def serving_parquet_path(self) -> Path:
        """The folder of published Parquet marts, `current/` being the latest (default:
        `parquet/` beside the warehouse)."""
        return self.serving_parquet_dir or self.warehouse.parent / "parquet"

    @property
    def spark_path(self) -> Path:
        """The Spark engine's folder: its tables (`warehouse/`), local metastore
        (`metastore/`) and the raw layer's Parquet versions (`raw/`)."""
        return self.spark_dir or self.warehouse.parent / "spark"

    @property
    def reports_path(self) -> Path:
        """The folder of published scorecard pages, a link switched atomically to each new
        publication (default: `reports/` beside the warehouse)."""
        return self.reports_dir or self.warehouse.parent / "reports"

    @property
    def erp_uses_jwt(self) -> bool:
        """True when NetSuite is logged in to with a certificate (OAuth 2.0 M2M)."""
        return self.erp_auth_method == "certificate"

    @property
    def erp_auth_method(self) -> str:
        """`erp_auth`, else "certificate" when a certificate id and key are configured,
        else "client_credentials"."""
        if self.erp_auth:
            return self.erp_auth
        certificate = self.erp_certificate_id and self.erp_private_key_path
        return "certificate" if certificate else "client_credentials"

    def unset(self, names: tuple[str, ...]) -> list[str]:
        """The variables (`PARTNERPULSE_…`) of those settings of `names` that are not set:
        what a login lacks, named without a value."""
        return [f"PARTNERPULSE_{name.upper()}" for name in names if not getattr(self, name)]

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed (`http` may be given as a dict of changes)."""
        http = changes.get("http")
        if isinstance(http, Mapping):
            changes["http"] = dataclasses.replace(self.http, **http)
        standin = changes.get("standin")
        if isinstance(standin, Mapping):
            changes["standin"] = dataclasses.replace(self.standin, **standin)
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `PARTNERPULSE_*` variables (`environ` defaults to `os.environ`; the
        mapping given is the only environment read), over the `settings:` section of the file
        `PARTNERPULSE_CONFIG` names, over the defaults. Raises ValueError naming every bad
        value's variable, or its key and line in the file."""
        env = os.environ if environ is None else environ
        # Blank means unset: a blank variable leaves the file's value (or the default).
        given = {k: v for k, v in _EnvironSource(_Variables, env)().items() if not _blank(v)}
        config = _path(given.get("config"))
        in_file = _file_settings(config)
        values = _validate({**in_file, **given}, given, config)
        _check_spark_servers(values)

        # Unset values are left out, so that the dataclasses' defaults apply.
        http = {field: values.pop(name) for name, field in _HTTP_FIELDS.items() if name in values}
        standin = {
            name.removeprefix("standin_"): values.pop(name)
            for name in list(values)
            if name.startswith("standin_")
        }
        if "config" in values:
            values["config_path"] = values.pop("config")
        # Default paths are made absolute too: dbt and the servers run in other folders.
        standins = StandinSettings(**standin)
        standins = dataclasses.replace(
            standins,
            cache_dir=standins.cache_dir.absolute(),
            landing_dir=standins.landing_dir.absolute(),
        )
        values.setdefault("warehouse", DEFAULT_WAREHOUSE.absolute())
        return cls(**values, http=HttpSettings(**http), standin=standins)


# Reading the variables (and the file's `settings:`): one pydantic-settings model whose
# fields are the variables' names without the prefix, lower-case. Every field is None when
# unset; the defaults are the dataclasses' above, written once.


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: object) -> str | None:
    if _blank(value):
        return None
    if not isinstance(value, str):
        # The type only, never the value: this may be a secret. A YAML file writes
        # `0123` as a number: quoting keeps it as written.
        raise ValueError(f"must be text, got a {type(value).__name__} (quote it)")
    return value.strip()


def _url(value: object) -> str | None:
    text = _text(value)
    return (text.rstrip("/") or None) if text else None


def _secret(value: object) -> Secret | None:
    # Not stripped: a secret is sent exactly as given.
    return Secret(value) if _text(value) else None  # type: ignore[arg-type]


def _path(value: object) -> Path | None:
    text = _text(value)
    # Absolute from the start: dbt and the servers run in other working folders.
    return Path(text).expanduser().absolute() if text else None


def _number(kind: type) -> Callable[[object], int | float | None]:
    def parse(value: object) -> int | float | None:
        if _blank(value):
            return None
        text = value.strip() if isinstance(value, str) else value
        # bool is an int to Python, but `true` is no number of retries.
        if isinstance(text, str | int | float) and not isinstance(text, bool):
            try:
                # Through text, as a variable is: YAML's 4.5 is no int either (no rounding).
                return kind(str(text))
            except ValueError:
                pass
        raise ValueError(f"must be a number, got {text!r}")

    return parse


def _at_least_one(value: int | None) -> int | None:
    return None if value is None else max(1, value)


def _not_negative(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise ValueError(f"must be 0 or more, got {value}")
    return value


def _flag(value: object) -> bool | None:
    if _blank(value) or isinstance(value, bool):
        return value if isinstance(value, bool) else None
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {text!r}")


def _blocking_findings(value: object) -> tuple[BlockingFinding, ...] | None:
    text = _text(value)
    return BlockingFinding.parse_all(text) if text else None


ENGINES = ("duckdb", "spark")
THRIFT_AUTH = ("none", "nosasl", "ldap", "custom")
THRIFT_PASSWORD_AUTH = ("ldap", "custom")
CRM_AUTH = ("client_credentials", "jwt_bearer", "refresh_token")
ERP_AUTH = ("client_credentials", "certificate", "tba")


def _choice(choices: tuple[str, ...]) -> Callable[[object], str | None]:
    def parse(value: object) -> str | None:
        text = _text(value)
        if text is not None and text.lower() not in choices:
            raise ValueError(f"must be one of: {', '.join(choices)}, got {text!r}")
        return text and text.lower()

    return parse


def _names(value: object) -> tuple[str, ...] | None:
    """A list of names: a YAML list, or text separated by commas."""
    if isinstance(value, list | tuple):
        items = [_text(v) for v in value]
    else:
        text = _text(value)
        items = text.split(",") if text else []
    return tuple(dict.fromkeys(i.strip() for i in items if i and i.strip())) or None


def _share(value: float | None) -> float | None:
    if value is not None and not 0 <= value < 1:
        raise ValueError(f"must be a share from 0 up to (not including) 1, got {value}")
    return value


def _engine(value: object) -> str | None:
    engine = _text(value)
    if engine is not None and engine.lower() not in ENGINES:
        raise ValueError(f"must be one of: {', '.join(ENGINES)}")
    return engine and engine.lower()


def _spark_remote(value: object) -> Secret | None:
    secret = _secret(value)
    # The value is not repeated: its parameters may hold a token.
    if secret is not None and not secret.reveal().startswith("sc://"):
        raise ValueError("must be a Spark Connect URL, sc://host:port (value not shown)")
    return secret


def _thrift_address(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    host, _, port = text.removeprefix("thrift://").rstrip("/").rpartition(":")
    if not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"must be a Thrift server's host:port, got {text!r}")
    return f"{host}:{int(port)}"


def _check_spark_servers(values: Mapping[str, Any]) -> None:
    """The servers' settings that contradict each other (each one alone is valid): named by
    their variables, never with a secret's value."""
    problems = []
    if values.get("spark_remote") is not None and values.get("spark_thrift") is not None:
        problems.append(
            "PARTNERPULSE_SPARK_REMOTE and PARTNERPULSE_SPARK_THRIFT name two Spark servers: "
            "set one"
        )
    auth = values.get("spark_thrift_auth") or Settings.spark_thrift_auth
    password = values.get("spark_thrift_password") is not None
    if values.get("spark_thrift") is not None and password != (auth in THRIFT_PASSWORD_AUTH):
        # pyhive refuses either mismatch too, but at the first dbt step, not here.
        problems.append(
            f"PARTNERPULSE_SPARK_THRIFT_PASSWORD is set but PARTNERPULSE_SPARK_THRIFT_AUTH is "
            f"{auth}: only {' and '.join(THRIFT_PASSWORD_AUTH)} send a password"
            if password
            else f"PARTNERPULSE_SPARK_THRIFT_AUTH={auth} needs PARTNERPULSE_SPARK_THRIFT_PASSWORD"
        )
    if problems:
        raise ValueError("\n".join(problems))


def _due_day(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 28:
        raise ValueError(f"must be 1..28, got {value}")
    return value


def _day(value: object) -> date | None:
    if type(value) is date:  # a YAML file's 2025-06-30 (a datetime is not a day)
        return value
    text = _text(value)
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise ValueError(f"must be YYYY-MM-DD, got {text!r}") from None


def _month(value: object) -> date | None:
    if type(value) is date:
        return value.replace(day=1)
    text = _text(value)
    try:
        return date.fromisoformat(text[:7] + "-01") if text else None
    except ValueError:
        raise ValueError(f"must be YYYY-MM, got {text!r}") from None


_Text = Annotated[str | None, BeforeValidator(_text)]
_Url = Annotated[str | None, BeforeValidator(_url)]
_Secret = Annotated[Secret | None, BeforeValidator(_secret)]
_Path = Annotated[Path | None, BeforeValidator(_path)]
_Int = Annotated[int | None, BeforeValidator(_number(int))]
_Float = Annotated[float | None, BeforeValidator(_number(float))]
_Workers = Annotated[int | None, BeforeValidator(_number(int)), AfterValidator(_at_least_one)]


class _Variables(BaseSettings):
    """The `PARTNERPULSE_*` variables, each None when unset."""

    model_config = SettingsConfigDict(
        env_prefix="PARTNERPULSE_",
        extra="forbid",
        frozen=True,
        arbitrary_types_allowed=True,  # Secret
        # Belt and braces: errors are reworded below from their messages alone, but a
        # ValidationError shown as it is must not carry a secret either.
        hide_input_in_errors=True,
    )

    crm_url: _Url = None
    crm_auth: Annotated[str | None, BeforeValidator(_choice(CRM_AUTH))] = None
    crm_client_id: _Text = None
    crm_client_secret: _Secret = None
    crm_username: _Text = None
    crm_private_key_path: _Path = None
    crm_jwt_audience: _Url = None
    crm_refresh_token: _Secret = None
    crm_bulk_objects: Annotated[tuple[str, ...] | None, BeforeValidator(_names)] = None
    crm_bulk_min_records: _Int = None
    crm_api_reserve: Annotated[
        float | None, BeforeValidator(_number(float)), AfterValidator(_share)
    ] = None
    erp_url: _Url = None
    erp_auth: Annotated[str | None, BeforeValidator(_choice(ERP_AUTH))] = None
    erp_client_id: _Text = None
    erp_client_secret: _Secret = None
    erp_certificate_id: _Text = None
    erp_private_key_path: _Path = None
    erp_jwt_algorithm: _Text = None
    erp_account_id: _Text = None
    erp_consumer_key: _Text = None
    erp_consumer_secret: _Secret = None
    erp_token_id: _Secret = None
    erp_token_secret: _Secret = None
    portal_url: _Url = None
    portal_api_key: _Secret = None
    landing_dir: _Path = None
    warehouse: _Path = None
    as_of: Annotated[date | None, BeforeValidator(_day)] = None
    http_connect_timeout: _Float = None
    http_read_timeout: _Float = None
    http_max_retries: _Int = None
    http_backoff_factor: _Float = None
    http_backoff_max: _Float = None
    http_retry_after_max: _Float = None
    http_retry_total_max: _Float = None
    standin_cache_dir: _Path = None
    standin_seed: _Int = None
    standin_partners: _Int = None
    standin_months: _Int = None
    standin_scale: _Float = None
    standin_landing_dir: _Path = None
    erp_window_workers: _Workers = None
    object_workers: _Workers = None
    incremental_lookback_s: _Float = None
    spool_dir: _Path = None
    warehouse_memory_limit: _Text = None
    dbt_memory_limit: _Text = None
    dbt_keep_invocations: _Workers = None
    engine: Annotated[str | None, BeforeValidator(_engine)] = None
    spark_master: _Text = None
    spark_driver_memory: _Text = None
    spark_dir: _Path = None
    spark_remote: Annotated[Secret | None, BeforeValidator(_spark_remote)] = None
    spark_thrift: Annotated[str | None, BeforeValidator(_thrift_address)] = None
    spark_thrift_user: _Text = None
    spark_thrift_auth: Annotated[str | None, BeforeValidator(_choice(THRIFT_AUTH))] = None
    spark_thrift_password: _Secret = None
    alert_webhook_url: _Secret = None
    dagster_ui_url: _Url = None
    serving_warehouse: _Path = None
    serving_parquet_dir: _Path = None
    serving_keep_publications: _Workers = None
    reports_dir: _Path = None
    benchmark_min_cohort: _Workers = None
    chromium: _Path = None
    reports_pdf: Annotated[bool | None, BeforeValidator(_flag)] = None
    reports_pdf_max_age_days: Annotated[
        int | None, BeforeValidator(_number(int)), AfterValidator(_not_negative)
    ] = None
    blocking_findings: Annotated[
        tuple[BlockingFinding, ...] | None, BeforeValidator(_blocking_findings)
    ] = None
    first_month: Annotated[date | None, BeforeValidator(_month)] = None
    report_due_day: Annotated[
        int | None, BeforeValidator(_number(int)), AfterValidator(_due_day)
    ] = None
    source_step_retries: _Int = None
    source_retry_wait_s: _Float = None
    gx_project_dir: _Path = None
    config: _Path = None

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **other_sources):
        # Only the values `from_env` passes: it reads the mapping it is given and the file
        # itself, never os.environ, a .env file or a secrets folder behind its back.
        return (init_settings,)


# The variables whose field has another name in `Settings.http` (`standin_*` and the rest
# are named alike, `config` is `config_path`).
_HTTP_FIELDS = {
    "http_connect_timeout": "connect_timeout_s",
    "http_read_timeout": "read_timeout_s",
    "http_max_retries": "max_retries",
    "http_backoff_factor": "backoff_factor",
    "http_backoff_max": "backoff_max_s",
    "http_retry_after_max": "retry_after_max_s",
    "http_retry_total_max": "retry_total_max_s",
}


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' reading of the variables, from the mapping given rather than
    os.environ (tests pass dicts; a Dagster run passes its own environment)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Not case-sensitive (the model's default), as os.environ is on Windows.
        return {name.lower(): value for name, value in self._environ.items()}


def _file_settings(path: Path | None) -> dict[str, Any]:
    """The `settings:` section of the configuration file at `path` ({} without one), read
    again only when the file changes: every warehouse connection reads the settings."""
    if path is None:
        return {}
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}  # reported by the org's loader, as below
    return dict(_file_settings_at(path, stamp))


@functools.lru_cache(maxsize=8)
def _file_settings_at(path: Path, stamp: int) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        # Left to the org's loader, which reports it with its line whenever the org is read
        # (a run does so before anything else): one place reports a broken file.
        return {}
    section = document.get("settings") if isinstance(document, Mapping) else None
    if section is None:
        return {}
    at = locator(path)
    if not isinstance(section, Mapping):
        raise ValueError(f"{path}: {at(('settings',))}settings must be a mapping (name: value)")
    problems = []
    for key in section:
        if key == "config":
            problems.append(
                f"{at(('settings', 'config'))}settings.config: PARTNERPULSE_CONFIG names this file"
            )
        elif key not in _Variables.model_fields:
            near = difflib.get_close_matches(str(key).lower(), _Variables.model_fields, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            problems.append(
                f"{at(('settings', str(key)))}settings.{key}: unknown setting {key!r}{hint}"
            )
    if problems:
        raise ValueError("\n".join(f"{path}: {problem}" for problem in problems))
    return dict(section)


def _validate(
    values: dict[str, Any], given: Mapping[str, Any], config: Path | None
) -> dict[str, Any]:
    """The set values, validated; a ValueError names each bad one: by its variable when
    `given` (the variables) has it, else by its key and line in the file."""
    try:
        variables = _Variables(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            key = str(err["loc"][0]) if err["loc"] else ""
            # Our validators' own words (which never quote a secret), else pydantic's.
            cause = err.get("ctx", {}).get("error")
            message = str(cause) if isinstance(cause, ValueError) else err["msg"]
            if key in given:
                problems.append(f"PARTNERPULSE_{key.upper()} {message}")
            else:
                at = locator(config)  # read only now: the file is known readable
                problems.append(f"{config}: {at(('settings', key))}settings.{key} {message}")
        raise ValueError("\n".join(problems)) from None
    return {
        name: getattr(variables, name)
        for name in _Variables.model_fields
        if getattr(variables, name) is not None
    }
