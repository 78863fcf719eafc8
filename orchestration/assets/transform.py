"""The dbt project as Dagster assets: staging -> intermediate -> marts."""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from orchestration.project import dbt_project
from orchestration.resources import PipelineSettings


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
