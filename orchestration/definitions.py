"""Everything Dagster loads: assets, checks, resources and the global execution policy."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.assets.ingest import ingest_assets
from orchestration.assets.transform import partnerpulse_dbt_models
from orchestration.checks import all_checks
from orchestration.project import dbt_project
from orchestration.resources import PipelineSettings, SourceSystems

DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"

defs = dg.Definitions(
    assets=[*ingest_assets, partnerpulse_dbt_models],
    asset_checks=all_checks,
    resources={
        "sources": SourceSystems(),
        "settings": PipelineSettings(),
        # The dbt of this virtual environment, whether or not its bin/ is on PATH.
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=str(DBT_EXECUTABLE)),
    },
    # One process per run: DuckDB admits one writing process per file, and the steps that
    # open the warehouse also share the concurrency pool "warehouse" (dagster.yaml) so that
    # concurrent runs take turns.
    executor=dg.in_process_executor,
)
