"""How the dbt project's nodes appear in Dagster: models grouped by layer with their owner,
and each dbt test, as an asset check, described in words."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings


class PartnerPulseDbtTranslator(DagsterDbtTranslator):
    """Groups dbt models by layer (staging, intermediate, marts), names their owner, and
    describes each dbt test that has no description of its own."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        schema = dbt_resource_props.get("config", {}).get("schema")
        return schema or super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return ["team:analytics-engineering"]

    def get_asset_check_spec(
        self,
        asset_spec: dg.AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: Any,
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=describe_test(manifest, unique_id))


def describe_test(manifest: Mapping[str, Any], unique_id: str) -> str:
    """What a generic dbt test asserts, in words, for the tests written without a
    description (the UI would say "No description provided")."""
    test = manifest["nodes"][unique_id]
    meta = test.get("test_metadata") or {}
    kwargs = meta.get("kwargs") or {}
    attached = test.get("attached_node") or ""
    parent = manifest["nodes"].get(attached) or manifest.get("sources", {}).get(attached) or {}
    if not parent:
        for source in manifest.get("sources", {}).values():
            if source["unique_id"] in test.get("depends_on", {}).get("nodes", []):
                parent = source
    model = parent.get("name", "the model")
    column = test.get("column_name") or kwargs.get("column_name")
    where = f"`{model}.{column}`" if column else f"`{model}`"
    name = meta.get("name", test.get("name", "test"))
    if name == "not_null":
        said = f"{where} is never NULL"
    elif name == "unique":
        said = f"{where} is unique: one row per value"
    elif name == "accepted_values":
        values = ", ".join(str(v) for v in kwargs.get("values", []))
        said = f"{where} is one of: {values}"
    elif name == "relationships":
        target = str(kwargs.get("to", "")).replace("ref('", "").replace("')", "")
        said = f"every {where} is a `{target}.{kwargs.get('field')}`"
    elif name == "unique_combination_of_columns":
        columns = ", ".join(kwargs.get("combination_of_columns", []))
        said = f"`{model}` has one row per {columns} (its grain)"
    elif name == "not_null_columns":
        columns = ", ".join(f"`{c}`" for c in kwargs.get("columns", []))
        said = f"no NULL in `{model}`'s columns {columns} (a failure names each one holding NULLs)"
    elif name == "expression_is_true":
        said = f"`{kwargs.get('expression')}` holds on every row of `{model}`"
    else:
        said = f"dbt test `{name}` on {where}"
    column_doc = (parent.get("columns", {}).get(column or "", {}) or {}).get("description")
    severity = (test.get("config") or {}).get("severity", "ERROR").upper()
    what = f" ({' '.join(column_doc.split()).rstrip('.')})" if column_doc else ""
    return f"dbt test: {said}{what}. Severity {severity}."


TRANSLATOR = PartnerPulseDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_duplicate_source_asset_keys=True,
        # The tests on sources are checks of the landed tables (crm/accounts, ...), rather
        # than one "logging an AssetObservation instead" warning each per run.
        enable_source_tests_as_checks=True,
    )
)
