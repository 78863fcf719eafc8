"""The dbt project as Dagster assets: staging -> intermediate -> marts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.resources import PipelineSettings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` the manifest is rebuilt when models change; elsewhere `make install`
# builds it (`dagster-dbt project prepare-and-package`).
dbt_project.prepare_if_dev()


class PartnerPulseDbtTranslator(DagsterDbtTranslator):
    """Groups dbt models by layer (staging, intermediate, marts) and names their owner."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        schema = dbt_resource_props.get("config", {}).get("schema")
        return schema or super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return ["team:analytics-engineering"]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=PartnerPulseDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
    ),
    pool="warehouse",
)
def partnerpulse_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: PipelineSettings
) -> Iterator[Any]:
    """Builds and tests the dbt models (staging, intermediate, marts) in the warehouse."""
    vars_arg = settings.dbt_vars_json()
    with settings.dbt_environment():
        yield from dbt.cli(["build", "--vars", vars_arg], context=context).stream()
