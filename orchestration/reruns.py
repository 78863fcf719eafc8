"""Reruns that change nothing: a complete run whose inputs are those of the last complete
build does not build, check and publish the same marts again (docs/operations.md).

A *complete* run is one of the whole graph over the whole history (`partnerpulse run`,
`make demo`, "Materialize all" over every partition's range). Its first dbt step takes the
fingerprint of what the marts would be built from (`connectors.builds`: the landed data,
the dbt vars with today's date, the dbt manifest (the checks' frames are models of it), the
checks' suites and checkpoints, the pages' code and the publication settings) and tags the
run with it. When the same fingerprint was published by an earlier complete run and every
model's table or view is still there, the step builds nothing: Dagster then skips every
step downstream of it (the other dbt step, the Great Expectations checks on the frames,
publishing, the pages), and the previous publication stays. The last step of a complete
run (`serving/reports`) records the fingerprint once everything is published. The syncs
always run.

The run tag `partnerpulse/rebuild` = `true` (`partnerpulse run --rebuild`, or a tag in the
launchpad) builds anyway.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

from connectors import builds
from connectors.spark_models import COPIED_SCHEMAS
from orchestration.partitions import WHOLE_HISTORY_TAG
from orchestration.project import dbt_project
from orchestration.resources import PipelineSettings

INPUTS_TAG = "partnerpulse/inputs"
REBUILD_TAG = "partnerpulse/rebuild"
REPO = Path(__file__).resolve().parents[1]


def is_complete(context: dg.AssetExecutionContext) -> bool:
    """Whether the run builds every asset over the whole history."""
    from orchestration.definitions import defs  # it imports this module's users

    run = context.run
    if run.tags.get(WHOLE_HISTORY_TAG) != "all":
        return False
    # No selection (None, or empty in a run of the job itself) is every asset.
    selected = run.asset_selection
    return not selected or set(defs.resolve_all_asset_keys()) <= set(selected)


def _code(settings: PipelineSettings) -> dict[str, str]:
    """What besides the landed data decides the marts, their checks and their publication,
    by the name a log line gives it when it changed."""
    from orchestration.checks.gx_context import gx_root

    config = settings.settings
    published = (
        config.engine,
        config.serving_warehouse_path,
        config.serving_parquet_path,
        config.reports_path,
        config.reports_pdf,
        config.reports_pdf_max_age_days,
        config.benchmark_min_cohort,
        config.blocking_findings,
    )
    return {
        "the dbt project": dbt_project_digest(),
        "the checks' suites": _files_digest((gx_root() / "gx").rglob("*.json")),
        "the pages' and forecasts' code": _files_digest(
            [
                *(REPO / "reports").rglob("*.py"),
                *(REPO / "forecasts").rglob("*.py"),
                *(REPO / "reports" / "templates").iterdir(),
            ]
        ),
        "the dbt vars": settings.dbt_vars_json(),
        "today": config.today.isoformat(),
        "the publication settings": repr(published),
    }


def dbt_project_digest() -> str:
    """The dbt project as parsed (`_manifest_digest`) and its `dbt_project.yml`, whose vars'
    defaults the manifest does not hold."""
    files = (Path(dbt_project.manifest_path), Path(dbt_project.project_dir) / "dbt_project.yml")
    return _project_digest(*files, *(path.stat().st_mtime_ns for path in files))


@functools.lru_cache(maxsize=2)
def _project_digest(manifest: Path, settings: Path, *_mtimes: int) -> str:
    # Kept by the files' times: a run asks twice, `dagster dev` in every run (0.2 s each).
    return hashlib.sha256(_manifest_digest(manifest).encode() + settings.read_bytes()).hexdigest()


def _manifest_digest(path: Path) -> str:
    """The dbt manifest without what each parse stamps on it (its invocation, when, and every
    node's `created_at`): a project parsed again (`make install`, `dagster dev` starting)
    is the same project."""

    def unstamped(node: dict) -> dict:
        node.pop("created_at", None)
        return node

    manifest = json.loads(path.read_text(), object_hook=unstamped)
    manifest.pop("metadata", None)
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _files_digest(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def unchanged_since(
    context: dg.AssetExecutionContext, settings: PipelineSettings, contents: Mapping[str, str]
) -> str | None:
    """For a complete run: tags it with its inputs' fingerprint (the raw tables' `contents`,
    `builds.table_contents`, and `_code`) and returns the run id of the complete build made
    from the same inputs, if any (None: build)."""
    if not is_complete(context):
        return None
    inputs = builds.inputs(contents, _code(settings))
    with settings.read_warehouse() as con:
        last = builds.last_complete_build(con)
        missing = builds.missing_relations(con, _model_relations(context, settings.settings.engine))
    fingerprint = builds.fingerprint(inputs)
    context.instance.add_run_tags(context.run.run_id, {INPUTS_TAG: fingerprint})
    builds.record_inputs(str(settings.warehouse_path), context.run.run_id, inputs)
    if context.run.tags.get(REBUILD_TAG) == "true":
        context.log.info("built again: the run asks for it (partnerpulse/rebuild)")
        return None
    if last is None:
        return None
    if last.fingerprint != fingerprint:
        names = builds.changed(last.inputs, inputs) if last.inputs else ["(not recorded)"]
        context.log.info(
            f"built: changed since the complete build of run {last.run_id}: "
            + ", ".join(names[:12])
            + (f" and {len(names) - 12} more" if len(names) > 12 else "")
        )
        return None
    if missing:  # dropped since: built again
        context.log.info(f"built again: {', '.join(missing[:5])} missing from the warehouse")
        return None
    return last.run_id


def _model_relations(context: dg.AssetExecutionContext, engine: str) -> list[tuple[str, str]]:
    """(schema, name) of every table or view the dbt project builds in the warehouse file:
    on Spark, the marts and check frames copied there (connectors/spark_models.py). From
    the manifest dagster-dbt loaded for the step's assets."""
    manifest, _, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    return [
        relation(node)
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "snapshot")
        and node["config"].get("enabled", True)
        and node["config"].get("materialized") != "ephemeral"
        and (engine == "duckdb" or node["schema"] in COPIED_SCHEMAS)
    ]


def relation(node: Mapping[str, Any]) -> tuple[str, str]:
    """(schema, name) of the table or view a manifest node builds in the warehouse."""
    return node["schema"], node.get("alias") or node["name"]


def record_if_complete(context: dg.AssetExecutionContext, settings: PipelineSettings) -> None:
    """At the end of a complete run in which no step failed: its inputs were built, checked
    and published."""
    if not is_complete(context):
        return
    run_id = context.run.run_id
    failed = context.instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1
    ).records
    run = context.instance.get_run_by_id(run_id)
    if run and run.tags.get(INPUTS_TAG) and not failed:
        builds.record_complete_build(str(settings.warehouse_path), run_id)
