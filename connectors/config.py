"""Connector settings: one frozen dataclass built from the `PARTNERPULSE_*` variables.

Secrets are wrapped in `Secret`, whose `repr` and `str` never show the value; code that
needs the value calls `.reveal()` at the point of use (a request body or header).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from connectors.org import OrgConfig, org_config

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
class Settings:
    """Everything the connectors need: source URLs, credentials, paths and tuning."""

    crm_url: str | None = None
    crm_client_id: str | None = None
    crm_client_secret: Secret | None = field(default=None, repr=False)
    erp_url: str | None = None
    erp_client_id: str | None = None
    erp_client_secret: Secret | None = field(default=None, repr=False)
    # JWT client assertion (production NetSuite): certificate id + private key file.
    erp_certificate_id: str | None = None
    erp_private_key_path: Path | None = None
    erp_jwt_algorithm: str = "PS256"
    erp_jwt_scope: str = "rest_webservices"
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
    # Operations (docs/operations.md): alerts, publishing for BI, partitions, schedules.
    alert_webhook_url: Secret | None = field(default=None, repr=False)
    dagster_ui_url: str | None = None
    serving_warehouse: Path | None = None
    serving_parquet_dir: Path | None = None
    serving_keep_publications: int = 3
    first_month: date | None = None
    report_due_day: int = 10
    source_step_retries: int = 2
    source_retry_wait_s: float = 60.0
    # The Great Expectations project the checks run (suites, checkpoints, queries) and
    # write their validation results and Data Docs into (default: `expectations/`).
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
    def erp_uses_jwt(self) -> bool:
        """True when a certificate id and private key are configured for NetSuite."""
        return bool(self.erp_certificate_id and self.erp_private_key_path)

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
        """Settings from `PARTNERPULSE_*` variables (`environ` defaults to `os.environ`)."""
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(f"PARTNERPULSE_{name}")
            return value.strip() if value and value.strip() else None

        def secret(name: str) -> Secret | None:
            value = env.get(f"PARTNERPULSE_{name}")
            return Secret(value) if value else None

        def path(name: str) -> Path | None:
            value = text(name)
            # Absolute from the start: dbt and the servers run in other working folders.
            return Path(value).expanduser().absolute() if value else None

        def number(name: str, default: float, kind: type = float):
            value = text(name)
            if value is None:
                return default
            try:
                return kind(value)
            except ValueError:
                raise ValueError(f"PARTNERPULSE_{name} must be a number, got {value!r}") from None

        as_of_text = text("AS_OF")
        try:
            as_of = date.fromisoformat(as_of_text) if as_of_text else None
        except ValueError:
            raise ValueError(f"PARTNERPULSE_AS_OF must be YYYY-MM-DD, got {as_of_text!r}") from None

        first_month_text = text("FIRST_MONTH")
        try:
            first_month = (
                date.fromisoformat(first_month_text[:7] + "-01") if first_month_text else None
            )
        except ValueError:
            raise ValueError(
                f"PARTNERPULSE_FIRST_MONTH must be YYYY-MM, got {first_month_text!r}"
            ) from None
        report_due_day = number("REPORT_DUE_DAY", 10, int)
        if not 1 <= report_due_day <= 28:
            raise ValueError(f"PARTNERPULSE_REPORT_DUE_DAY must be 1..28, got {report_due_day}")

        http = HttpSettings(
            connect_timeout_s=number("HTTP_CONNECT_TIMEOUT", HttpSettings.connect_timeout_s),
            read_timeout_s=number("HTTP_READ_TIMEOUT", HttpSettings.read_timeout_s),
            max_retries=number("HTTP_MAX_RETRIES", HttpSettings.max_retries, int),
            backoff_factor=number("HTTP_BACKOFF_FACTOR", HttpSettings.backoff_factor),
            backoff_max_s=number("HTTP_BACKOFF_MAX", HttpSettings.backoff_max_s),
            retry_after_max_s=number("HTTP_RETRY_AFTER_MAX", HttpSettings.retry_after_max_s),
            retry_total_max_s=number("HTTP_RETRY_TOTAL_MAX", HttpSettings.retry_total_max_s),
        )
        defaults = StandinSettings()
        standin = StandinSettings(
            cache_dir=path("STANDIN_CACHE_DIR") or defaults.cache_dir.absolute(),
            seed=number("STANDIN_SEED", defaults.seed, int),
            partners=number("STANDIN_PARTNERS", defaults.partners, int),
            months=number("STANDIN_MONTHS", defaults.months, int),
            scale=number("STANDIN_SCALE", defaults.scale),
            landing_dir=path("STANDIN_LANDING_DIR") or defaults.landing_dir.absolute(),
        )
        return cls(
            crm_url=_strip_slash(text("CRM_URL")),
            crm_client_id=text("CRM_CLIENT_ID"),
            crm_client_secret=secret("CRM_CLIENT_SECRET"),
            erp_url=_strip_slash(text("ERP_URL")),
            erp_client_id=text("ERP_CLIENT_ID"),
            erp_client_secret=secret("ERP_CLIENT_SECRET"),
            erp_certificate_id=text("ERP_CERTIFICATE_ID"),
            erp_private_key_path=path("ERP_PRIVATE_KEY_PATH"),
            erp_jwt_algorithm=text("ERP_JWT_ALGORITHM") or "PS256",
            portal_url=_strip_slash(text("PORTAL_URL")),
            portal_api_key=secret("PORTAL_API_KEY"),
            landing_dir=path("LANDING_DIR"),
            warehouse=path("WAREHOUSE") or DEFAULT_WAREHOUSE.absolute(),
            as_of=as_of,
            http=http,
            standin=standin,
            erp_window_workers=max(1, number("ERP_WINDOW_WORKERS", 4, int)),
            object_workers=max(1, number("OBJECT_WORKERS", 3, int)),
            incremental_lookback_s=number("INCREMENTAL_LOOKBACK_S", 0.0),
            spool_dir=path("SPOOL_DIR"),
            warehouse_memory_limit=text("WAREHOUSE_MEMORY_LIMIT") or "1GB",
            dbt_memory_limit=text("DBT_MEMORY_LIMIT") or "1536MB",
            alert_webhook_url=secret("ALERT_WEBHOOK_URL"),
            dagster_ui_url=_strip_slash(text("DAGSTER_UI_URL")),
            serving_warehouse=path("SERVING_WAREHOUSE"),
            serving_parquet_dir=path("SERVING_PARQUET_DIR"),
            serving_keep_publications=max(1, number("SERVING_KEEP_PUBLICATIONS", 3, int)),
            first_month=first_month,
            report_due_day=report_due_day,
            source_step_retries=number("SOURCE_STEP_RETRIES", 2, int),
            source_retry_wait_s=number("SOURCE_RETRY_WAIT_S", 60.0),
            gx_project_dir=path("GX_PROJECT_DIR"),
            config_path=path("CONFIG"),
        )


def _strip_slash(url: str | None) -> str | None:
    return url.rstrip("/") if url else None
