"""Everything Dagster loads: assets, checks, jobs, schedules, sensors, resources and the
global execution policy (docs/operations.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg

from orchestration.assets.forecast import forecasts
from orchestration.assets.ingest import ingest_assets
from orchestration.assets.publish import serving_marts, serving_reports
from orchestration.assets.transform import dbt_model_assets
from orchestration.checks import all_checks
from orchestration.project import dbt_project
from orchestration.resources import DbtCli, PipelineSettings, SourceSystems
from orchestration.schedules import daily_refresh_job, month_rebuild_job, schedules
from orchestration.sensors import pos_files_job, sensors, source_freshness_checks

# dbt, ended without the interpreter's teardown (orchestration.commands).
DBT_EXECUTABLE = Path(sys.executable).parent / "partnerpulse-dbt"

defs = dg.Definitions(
    assets=[*ingest_assets, *dbt_model_assets, forecasts, serving_marts, serving_reports],
    asset_checks=[*all_checks, *source_freshness_checks],
    jobs=[daily_refresh_job, month_rebuild_job, pos_files_job],
    schedules=schedules,
    sensors=sensors,
    resources={
        "sources": SourceSystems(),
        "settings": PipelineSettings(),
        # The dbt of this virtual environment, whether or not its bin/ is on PATH.
        "dbt": DbtCli(project_dir=dbt_project, dbt_executable=str(DBT_EXECUTABLE)),
    },
    # One process per run: DuckDB admits one writing process per file, and the steps that
    # open the warehouse also share the concurrency pool "warehouse" (limit 1, dagster.yaml)
    # so that concurrent runs take turns.
    executor=dg.in_process_executor,
)
