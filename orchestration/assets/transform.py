"""The dbt project as Dagster assets: staging -> intermediate -> marts.

Two selections of one dbt project (docs/operations.md):

- `partnerpulse_monthly_dbt_models`: the marts whose rows are partner-months and whose
  month an operator acts on (the partner-month facts, the reconciliations, and what is
  built on them), partitioned by month. Their partitions are what the UI shows month by
  month and what a backfill, a restated month or the month close rebuilds.
- `partnerpulse_dbt_models`: everything else, unpartitioned: staging views, snapshots,
  dimensions, the intermediate models (the month-grained ones included: their months are
  plumbing, not something an operator looks at), the marts that are not partner-months and
  the validation frames of the reports as landed.

The validation frames (`validation/val_*`, views the Great Expectations checks read) fall
where their parents put them: those built on partner-month marts are partitioned with them.

A run for one month, or a single-run backfill of a range of months, passes its months to
both dbt steps as `PARTNERPULSE_DBT_MIN_MONTH` / `PARTNERPULSE_DBT_MAX_MONTH`
(`YYYY-MM-01`, read from the run's tags; environment variables rather than dbt vars, which
would make dbt parse the whole project again at every change): incremental models rebuild
exactly those months, tables are rebuilt whole from what is stored. A run of the whole
history (`partnerpulse run`: the range of every partition, tagged by
`partitions.whole_history_tags()`) passes neither: incremental models rebuild the months
whose data changed. Dagster cannot run the partitioned models without a partition.

Each partitioned asset costs Dagster one planned and one done event per month in a
whole-history run, written one by one to its event log: with every month-grained model
partitioned (30) that was about 2,600 of a run's events and 25 s of its time; with the 8
partitioned marts, about 700.

The partitioned selection is closed downwards (nothing unpartitioned depends on it), so a
run of the whole graph runs the unpartitioned selection first, then the partitioned one,
both in the first step's dbt invocation (dbt_handover.py).
"""

import graphlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliInvocation, DbtCliResource, build_dbt_asset_selection, dbt_assets
from dagster_dbt.asset_utils import (
    DAGSTER_DBT_UNIQUE_ID_METADATA_KEY,
    get_asset_check_key_for_test,
    get_manifest_and_translator_from_dbt_assets,
)

from connectors import builds, spark
from connectors.spark_models import copy_models
from orchestration import same_inputs
from orchestration.assets import dbt_handover
from orchestration.assets.dbt_translator import TRANSLATOR
from orchestration.checks.gx_context import importing_in_background
from orchestration.dbt_selection import CI_ONLY_TESTS, MONTH_GRAINED_SELECT, PARTITIONED_SELECT
from orchestration.partitions import dbt_month_vars, monthly_partitions
from orchestration.project import dbt_project, dbt_target_dir
from orchestration.reruns import REBUILD_TAG, dbt_project_digest, relation, unchanged_since
from orchestration.resources import PipelineSettings

PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    settings: PipelineSettings,
    month_vars: Mapping[str, str],
    plan: same_inputs.Plan | None = None,
    monthly_nodes: frozenset[str] = frozenset(),
) -> Iterator[Any]:
    """`dbt build` of the step's selection, but for the tests and models the `plan` leaves
    out (what it runs is recorded); with `monthly_nodes`, the monthly step's models and tests
    too, whose results it hands over to that step (dbt_handover.py).

    dbt writes no artifacts but its parse state (`--no-write-json`): it would write its
    manifest twice, its graph and its run results, 0.7-1 s of each invocation. What the
    step records of each node is what dbt logs as it finishes it (`dbt_handover.stream`).
    """
    # dbt unit tests check SQL on fixed inputs: CI runs them (tests/dbt), and in a pipeline
    # run they would spend time on nothing new (and take in a partition's month vars).
    args = [
        "build",
        "--no-write-json",
        "--exclude-resource-type",
        "unit_test",
        "--vars",
        settings.dbt_vars_json(),
    ]
    if month_vars:
        context.log.info(f"dbt builds this run's months: {dict(month_vars)}")
    if plan and plan.exclude:
        args += ["--exclude", " ".join(plan.exclude)]
    events: list[Any] = []
    statuses: dict[str, str] = {}
    handover: list[Mapping[str, Any]] = []
    failure: Exception | None = None
    # The checks after this step need Great Expectations; dbt leaves a core idle.
    with importing_in_background(), settings.dbt_environment(**month_vars):
        invocation = _invoke(context, dbt, args, monthly_nodes)
        try:
            stream = dbt_handover.stream(context, invocation, statuses, monthly_nodes, handover)
            events.extend(stream)
            failure = invocation.get_error()
        except Exception as exc:  # emit what was built, then fail the step
            failure = exc
    if monthly_nodes:
        dbt_handover.save(invocation.target_path, context.run.run_id, handover)
        if failure is not None and dbt_handover.failed_only_on(statuses, monthly_nodes):
            context.log.info("dbt failed on the monthly step's nodes alone: that step fails")
            failure = None
    if failure is None:
        _keep_parse_state(invocation.target_path)
    if plan is not None:
        own = {uid: status for uid, status in statuses.items() if uid not in monthly_nodes}
        _record_outcomes(context, settings, own, plan)
    _prune_invocations(settings.settings.dbt_keep_invocations, invocation.target_path)
    yield from _emit(context, settings, events, plan, failure)


def _invoke(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    args: list[str],
    monthly_nodes: frozenset[str],
) -> DbtCliInvocation:
    """dbt started on the step's selection, which dagster-dbt makes from the step's assets;
    with `monthly_nodes` (the whole of both steps), on every node but the CI-only tests."""
    if not monthly_nodes:
        return dbt.cli(args, context=context, raise_on_error=False)
    manifest, _, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    return dbt.cli(
        [*args, "--select", "fqn:*", "--exclude", CI_ONLY_TESTS],
        manifest=manifest,
        dagster_dbt_translator=TRANSLATOR,
        # The folder dagster-dbt gives a step's invocation (without the context it passes
        # the selection of that context, which would leave the monthly nodes out).
        target_path=dbt._get_unique_target_path(context=context),
        raise_on_error=False,
    )


def _emit(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    events: list[Any],
    plan: same_inputs.Plan | None,
    failure: Exception | None,
) -> Iterator[Any]:
    """The step's events from dbt, each materialization with `dagster/row_count`, then the
    `plan`'s, then its `failure` if any. Row counts are read once dbt has exited
    (dagster-dbt's `fetch_row_counts` would open the DuckDB file while dbt holds it), so
    the step's events are emitted at the end. On Spark, the marts and check frames built
    are first copied into the warehouse file, where the checks and publication read them
    (connectors/spark_models.py); only they are counted.
    """
    if plan is not None and plan.kept:
        events = _in_dependency_order(context, [*events, *_models_kept(context, plan)])
    outputs = [e for e in events if isinstance(e, dg.Output)]
    built = [context.asset_key_for_output(e.output_name) for e in outputs]
    config = settings.settings
    if config.engine == "spark":
        relations = {(key.path[0], key.path[-1]): key for key in built}
        copied = copy_models(settings.warehouse_path, spark.tables_dir(config), relations)
        context.log.info(f"{len(copied)} marts and check frames copied from Spark")
        counts = {relations[relation]: rows for relation, rows in copied.items()}
    else:
        counts = _row_counts(settings, built)
    for event in events:
        if isinstance(event, dg.Output):
            count = counts.get(context.asset_key_for_output(event.output_name))
            if count is not None:
                event = event.with_metadata({**event.metadata, "dagster/row_count": count})
        yield event
    if plan is not None:
        yield from _results_of_tests_left_out(context, plan)
    if failure is not None:
        raise failure


def _warehouse_state(
    settings: PipelineSettings, manifest: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """`builds.table_contents`, `builds.passed_tests` and `builds.built_models` of the
    warehouse, in one connection (all {} before there is one: dbt makes it). Only the
    models whose relation is still there count as built; on Spark none does: their tables
    are Spark's, which this step does not see, so every model is built."""
    if not settings.warehouse_path.exists():
        return {}, {}, {}
    with settings.read_warehouse() as con:
        built = builds.built_models(con) if settings.settings.engine == "duckdb" else {}
        nodes = manifest["nodes"]
        relations = {uid: relation(nodes[uid]) for uid in built if uid in nodes}
        missing = set(builds.missing_relations(con, relations.values()))
        built = {
            uid: made
            for uid, made in built.items()
            if uid in relations and ".".join(relations[uid]) not in missing
        }
        return builds.table_contents(con), builds.passed_tests(con), built


def _nodes_to_leave_out(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    manifest: Mapping[str, Any],
    contents: Mapping[str, str],
    passed: Mapping[str, tuple[str, str]],
    built: Mapping[str, tuple[str, str]],
) -> same_inputs.Plan:
    """The plan of which dbt tests `passed`, and which models were `built`, on the inputs
    they have now (the raw tables' `contents`; orchestration/same_inputs.py), logged;
    nothing left out with the run tag partnerpulse/rebuild."""
    if context.run.tags.get(REBUILD_TAG) == "true":
        passed, built = {}, {}
    project = json.dumps([dbt_project_digest(), settings.dbt_vars_json(), settings.settings.engine])
    step = set(_node_keys(context.assets_def)) | _test_ids(context.assets_def, manifest)
    plan = same_inputs.plan(manifest, contents, project, passed, built, step)
    nodes = manifest["nodes"]
    if plan.left_out:
        context.log.info(
            f"{len(plan.left_out)} dbt tests left out: they passed on the very inputs they "
            "have now (the same raw tables, dbt project and vars; orchestration/same_inputs.py): "
            + _some(sorted(nodes[test]["name"] for test in plan.left_out))
        )
    if plan.kept:
        context.log.info(
            f"{len(plan.kept)} dbt models not built again: they were built from the very inputs "
            "they have now (the same raw tables, dbt project and vars; "
            "orchestration/same_inputs.py): "
            + _some(sorted(nodes[model]["name"] for model in plan.kept))
        )
    return plan


def _some(names: list[str]) -> str:
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _node_keys(assets: dg.AssetsDefinition) -> dict[str, dg.AssetKey]:
    """dbt unique id -> asset key, of every node the dbt assets materialize (models,
    snapshots, seeds)."""
    return {spec.metadata[DAGSTER_DBT_UNIQUE_ID_METADATA_KEY]: spec.key for spec in assets.specs}


def _test_ids(assets: dg.AssetsDefinition, manifest: Mapping[str, Any]) -> set[str]:
    """The dbt tests of the dbt assets: those that are their checks."""
    _, translator, project = get_manifest_and_translator_from_dbt_assets([assets])
    checks = {spec.key for spec in assets.node_check_specs_by_output_name.values()}
    return {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test"
        and get_asset_check_key_for_test(manifest, translator, uid, project) in checks
    }


def _models_kept(context: dg.AssetExecutionContext, plan: same_inputs.Plan) -> list[dg.Output]:
    """A model the plan keeps is materialized as the stored relation it is, naming the run
    that built it: without it, Dagster would skip every step after it."""
    keys = _node_keys(context.assets_def)
    selected = context.selected_asset_keys
    return [
        dg.Output(
            None,
            output_name=context.assets_def.get_output_name_for_asset_key(keys[model]),
            metadata={
                same_inputs.BUILT_IN_RUN: dg.MetadataValue.dagster_run(run_id),
                "unique_id": model,
                "not_built_again": "it was built from the very inputs it has now (the same raw "
                "tables, dbt project and vars): orchestration/same_inputs.py",
            },
        )
        for model, run_id in plan.kept.items()
        if keys[model] in selected
    ]


def _in_dependency_order(context: dg.AssetExecutionContext, events: list[Any]) -> list[Any]:
    """The step's outputs, each model's after its parents', as Dagster requires of a
    multi-asset (the models kept come among those dbt built), then its other events in
    dbt's order."""
    manifest, _, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    unique_ids = {key: uid for uid, key in _node_keys(context.assets_def).items()}
    graph = {uid: manifest["nodes"][uid]["depends_on"]["nodes"] for uid in unique_ids.values()}
    rank = {uid: i for i, uid in enumerate(graphlib.TopologicalSorter(graph).static_order())}
    outputs = [event for event in events if isinstance(event, dg.Output)]
    outputs.sort(key=lambda out: rank[unique_ids[context.asset_key_for_output(out.output_name)]])
    return outputs + [event for event in events if not isinstance(event, dg.Output)]


def _results_of_tests_left_out(
    context: dg.AssetExecutionContext, plan: same_inputs.Plan
) -> Iterator[dg.AssetCheckResult]:
    """A left-out test's check passes as it did on the same inputs, naming that run: rather
    than Dagster's "Skipped", which says nothing of the data."""
    manifest, translator, project = get_manifest_and_translator_from_dbt_assets(
        [context.assets_def]
    )
    selected = context.selected_asset_check_keys
    for unique_id, run_id in plan.left_out.items():
        key = get_asset_check_key_for_test(manifest, translator, unique_id, project)
        if key in selected:
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=True,
                metadata={
                    same_inputs.PASSED_IN_RUN: dg.MetadataValue.dagster_run(run_id),
                    "unique_id": unique_id,
                    "not_run_again": "it passed on the very inputs it has now (the same raw "
                    "tables, dbt project and vars): orchestration/same_inputs.py",
                },
            )


def _record_outcomes(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    statuses: Mapping[str, str],
    plan: same_inputs.Plan,
) -> None:
    """Records which of the invocation's tests passed and models were built, and on what
    inputs."""
    if not statuses:  # dbt stopped before running anything
        return
    passed, built, others = same_inputs.outcomes(statuses, plan.digests)
    builds.record_dbt_outcomes(
        str(settings.warehouse_path), context.run.run_id, passed=passed, built=built, others=others
    )


def _keep_parse_state(invocation_target: Path) -> None:
    """Makes this invocation's parse state the one the next invocation starts from.

    dagster-dbt gives each invocation a target folder of its own, seeded with
    `partial_parse.msgpack` of `dbt_target_dir()`. That file comes from `make install`, whose
    environment differs from a run's, so without this every `dbt build` parsed the whole
    project again (5-10 s). dbt checks the state's vars and profile itself and parses
    in full when they differ, so a stale file costs nothing but that parse.
    """
    state = invocation_target / PARTIAL_PARSE_FILE
    if not state.exists():
        return
    project_state = dbt_target_dir() / PARTIAL_PARSE_FILE
    partial = project_state.with_name(f"{PARTIAL_PARSE_FILE}.{os.getpid()}.tmp")
    shutil.copyfile(state, partial)
    os.replace(partial, project_state)  # atomic: concurrent runs read a whole file


def _prune_invocations(keep: int, current: Path) -> None:
    """Removes all but the `keep` newest invocation folders of the dbt target folder, never
    `current`.

    dagster-dbt gives each invocation a folder of its own there (`<step>-<run>-<id>`, about
    6 MB: compiled SQL, parse state, dbt's debug log) and leaves it, so two a run grew the
    folder by gigabytes a year. The newest stay for whoever looks into a run's dbt.
    """
    others = [
        folder
        for folder in dbt_target_dir().iterdir()
        if INVOCATION_FOLDER.fullmatch(folder.name) and folder != current
    ]
    others.sort(key=lambda folder: folder.stat().st_mtime, reverse=True)
    for folder in others[keep - 1 :]:
        shutil.rmtree(folder, ignore_errors=True)


def _row_counts(settings: PipelineSettings, keys: list[dg.AssetKey]) -> dict[dg.AssetKey, int]:
    """Rows of each model stored as a table (`<schema>.<model>`); views are not counted."""
    if not keys:
        return {}
    try:
        with settings.read_warehouse() as con:
            tables = set(con.sql("select schema_name, table_name from duckdb_tables()").fetchall())
            counts = {}
            for key in keys:
                schema, name = key.path[0], key.path[-1]
                if (schema, name) in tables:
                    sql = f'select count(*) from "{schema}"."{name}"'
                    counts[key] = con.sql(sql).fetchall()[0][0]
            return counts
    except duckdb.Error:  # e.g. no warehouse yet: the events go out without counts
        return {}


@dbt_assets(
    manifest=dbt_project.manifest_path,
    exclude=f"{PARTITIONED_SELECT} {CI_ONLY_TESTS}",
    dagster_dbt_translator=TRANSLATOR,
    pool="warehouse",
)
def partnerpulse_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: PipelineSettings
) -> Iterator[Any]:
    """Builds and tests the unpartitioned dbt models: staging, snapshots, dimensions, the
    intermediate models and the marts that are not partner-months (for a month's run, the
    ERP sales fact rebuilds that month). In a complete run whose inputs (landed data, dbt
    vars, code) are those of the last complete build, builds nothing, and everything after
    it is skipped (orchestration/reruns.py). Otherwise leaves out the tests that passed on,
    and the models built from, the very inputs they have now, such as those fed only by the
    raw tables a day's sync left as they were: their checks pass again, naming the run they
    passed in, and their materializations name the run that built the tables and views
    left in place (orchestration/same_inputs.py)."""
    manifest, _, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    contents, passed, built = _warehouse_state(settings, manifest)
    built_by = unchanged_since(context, settings, contents)
    if built_by is not None:
        context.log.info(
            f"nothing changed since run {built_by} built, checked and published the marts from "
            f"the same inputs: not built again (the run tag {REBUILD_TAG}=true builds anyway)"
        )
        return
    plan = _nodes_to_leave_out(context, settings, manifest, contents, passed, built)
    monthly = _monthly_nodes_to_build(context, manifest)
    yield from _build(context, dbt, settings, dbt_month_vars(context), plan, monthly)


def _monthly_nodes_to_build(
    context: dg.AssetExecutionContext, manifest: Mapping[str, Any]
) -> frozenset[str]:
    """The monthly step's models and tests when this run executes both dbt steps whole, so
    that this step's `dbt build` builds them too (dbt_handover.py); else none."""
    monthly = partnerpulse_monthly_dbt_models
    if not dbt_handover.runs_whole(context, partnerpulse_dbt_models, monthly):
        return frozenset()
    return frozenset(_node_keys(monthly)) | _test_ids(monthly, manifest)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select=PARTITIONED_SELECT,
    exclude=CI_ONLY_TESTS,
    name="partnerpulse_monthly_dbt_models",
    partitions_def=monthly_partitions,
    # A backfill of adjacent months is one run (one dbt build over the range).
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=TRANSLATOR,
    pool="warehouse",
)
def partnerpulse_monthly_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: PipelineSettings
) -> Iterator[Any]:
    """Builds and tests the partner-month marts (facts, reconciliations, scorecards) for the
    run's month or range of months; each month is a partition. In a run of every dbt model
    (what `partnerpulse run` and the schedules start), the unpartitioned step's dbt
    invocation has built and tested them already, so that dbt starts once a run: this step
    then reports what dbt did, and fails if dbt failed on any of them (dbt_handover.py)."""
    if not (context.has_partition_key or context.has_partition_key_range):
        # Dagster would fail later, at the first model with a partitioned parent.
        raise dg.Failure(
            "the month-grained dbt models run within a month partition or a range of them: "
            "launch the run with a partition (or the tags of "
            "orchestration.partitions.whole_history_tags() for every month)"
        )
    handover = dbt_handover.load(context.run.run_id)
    if handover is None:
        yield from _build(context, dbt, settings, dbt_month_vars(context))
        return
    folder, raw_events = handover
    events, statuses, errors = dbt_handover.replay(context, raw_events)
    context.log.info(
        f"dbt built and tested this step's {len(statuses)} models and tests in the "
        f"unpartitioned step's invocation ({folder.name}), with the same months"
    )
    failure = dbt_handover.failure(folder, statuses, errors)
    yield from _emit(context, settings, events, None, failure)


dbt_model_assets = [partnerpulse_dbt_models, partnerpulse_monthly_dbt_models]
# What dagster-dbt names an invocation's folder: `<op>-<run id[:7]>-<uuid[:7]>`.
INVOCATION_FOLDER = re.compile(
    rf"(?:{'|'.join(re.escape(a.op.name) for a in dbt_model_assets)})-[0-9a-f]{{7}}-[0-9a-f]{{7}}"
)
PARTITIONED_ASSET_KEYS = frozenset(partnerpulse_monthly_dbt_models.keys)
MONTH_GRAINED_ASSET_KEYS = frozenset(
    key
    for assets in dbt_model_assets
    for key in build_dbt_asset_selection([assets], dbt_select=MONTH_GRAINED_SELECT).resolve(
        [assets]
    )
)


def _model_keys_in(schema: str) -> frozenset[dg.AssetKey]:
    """The asset keys of the dbt models of one schema (its group)."""
    return frozenset(
        key for assets in dbt_model_assets for key in assets.keys if key.path[0] == schema
    )


MART_ASSET_KEYS = _model_keys_in("marts")
# The frames the Great Expectations checks validate (and sit on): `serving/marts` depends on
# them so that a failed blocking check on one stops publication.
VALIDATION_ASSET_KEYS = _model_keys_in("validation")
