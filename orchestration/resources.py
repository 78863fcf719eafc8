"""Dagster resources. Configuration comes from `connectors.config` (the one reader of the
PARTNERPULSE_* variables); nothing here reads the environment at import time."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging.version import Version
from pydantic import Field, PrivateAttr

from connectors import spark
from connectors.config import Settings
from connectors.org import dbt_vars_override
from connectors.spark_raw import export_raw_tables


class PipelineSettings(dg.ConfigurableResource):
    """The pipeline's settings (`connectors.config.Settings`): the `PARTNERPULSE_*`
    variables over the configuration file's `settings:`, and the org's mapping file, which
    the launchpad may name for one run."""

    org_config_file: str = Field(
        default="",
        description="The org's mapping file for this run (docs/configuration.md): which "
        "objects, fields, picklist values and POS layouts the sources use. Empty: the file "
        "PARTNERPULSE_CONFIG names, else the default org.",
    )

    @property
    def settings(self) -> Settings:
        """The settings of the environment, with this run's mapping file where the launchpad
        names one (its mapping only: the syncs' settings come from the environment)."""
        settings = Settings.from_env(os.environ)
        if self.org_config_file:
            return settings.replace(config_path=Path(self.org_config_file).absolute())
        return settings

    @property
    def warehouse_path(self) -> Path:
        return self.settings.warehouse

    @contextlib.contextmanager
    def read_warehouse(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived read-only connection, closed on exit so dbt can take the file lock."""
        limit = self.settings.warehouse_memory_limit
        config = {"memory_limit": limit} if limit else {}
        con = duckdb.connect(str(self.warehouse_path), read_only=True, config=config)
        try:
            yield con
        finally:
            con.close()

    def dbt_vars_json(self) -> str:
        """The dbt vars that carry the deployment's settings (the report due day, the org's
        mapping where it is not the default). What changes from run to run (today, a
        partitioned run's months) goes through `dbt_environment` instead: dbt parses the
        whole project again whenever its vars change."""
        settings = self.settings
        values: dict[str, object] = {"report_due_day": settings.report_due_day}
        values.update(dbt_vars_override(settings.org))
        return json.dumps(values)

    @contextlib.contextmanager
    def dbt_environment(
        self, min_month: str | None = None, max_month: str | None = None
    ) -> Iterator[None]:
        """Exports, while dbt runs, what dbt reads with `env_var`: the engine and its
        settings (profiles.yml: the warehouse path and DuckDB's memory limit, beyond which
        DuckDB spills to disk, or Spark's), the run's today (macros/as_of.sql) and, for a
        partitioned run, its first and last month (`YYYY-MM-01`, macros/month_vars.sql;
        empty: none). On Spark, first exports the raw tables that changed since their last
        export, and names their current versions (connectors/spark_raw.py)."""
        settings = self.settings
        values = {
            "PARTNERPULSE_ENGINE": settings.engine,
            "PARTNERPULSE_WAREHOUSE": str(self.warehouse_path),
            "PARTNERPULSE_DBT_MEMORY_LIMIT": settings.dbt_memory_limit,
            "PARTNERPULSE_AS_OF": settings.today.isoformat(),
            "PARTNERPULSE_DBT_MIN_MONTH": min_month or "",
            "PARTNERPULSE_DBT_MAX_MONTH": max_month or "",
        }
        if settings.engine == "spark":
            raw = export_raw_tables(self.warehouse_path, spark.raw_dir(settings))
            values.update(spark.environment(settings, raw))
        with patched_environ(values):
            yield


class DbtCli(DbtCliResource):
    """dagster-dbt's dbt resource, without two costs per dbt step that buy us nothing.

    - It learns dbt's version by running `dbt --version`, about 4 s: that imports dbt and
      asks PyPI for the latest releases (a 1 s timeout each where PyPI is out of reach). The
      executable is this environment's dbt, so its version is the installed dbt-core's.
    - It loads a dbt adapter into Dagster's process (about 2 s), used only by
      `fetch_row_counts` and `fetch_column_metadata`. This project counts rows after dbt
      exits instead (`assets/transform.py`), because a second DuckDB handle would collide
      with dbt's write lock.

    Both are private methods of dagster-dbt, pinned in uv.lock;
    tests/orchestration/test_definitions.py fails if an upgrade renames them.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


class SourceSystems(dg.ConfigurableResource):
    """The CRM, ERP and partner portal to read, and the POS landing folder.

    When no source URL is configured, the bundled stand-in CRM, ERP and portal are started
    on loopback for the duration of the run (the embedded default), serving a generated
    world cached under `.partnerpulse/`.
    """

    _settings: Settings | None = PrivateAttr(default=None)
    _stack: contextlib.ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._stack = contextlib.ExitStack()
        self._settings = self._stack.enter_context(resolved_settings(os.environ))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._stack is not None:
            self._stack.close()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise dg.DagsterInvariantViolationError("SourceSystems is used outside a run")
        return self._settings


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ while the block runs, then each variable as it was (only
    these keys are touched: `mock.patch.dict` would briefly empty the whole environment
    while restoring it)."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def resolved_settings(environ: Mapping[str, str]) -> Iterator[Settings]:
    """Yields settings whose sources are reachable: the stand-ins are started when needed."""
    settings = Settings.from_env(environ)
    if not settings.uses_embedded_sources:
        yield settings
        return
    from source_servers.generator import ensure_world
    from source_servers.runtime import start_sources

    standin = settings.standin
    world = ensure_world(
        standin.cache_dir,
        seed=standin.seed,
        partners=standin.partners,
        months=standin.months,
        scale=standin.scale,
        as_of=settings.today,
    )
    with start_sources(world, landing_dir=settings.pos_landing_path) as running:
        yield Settings.from_env({**environ, **running.env()})
