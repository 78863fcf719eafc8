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
run of the whole graph runs the unpartitioned selection first, then the partitioned one.
"""

import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    build_dbt_asset_selection,
    dbt_assets,
)
from dagster_dbt.asset_utils import (
    get_asset_check_key_for_test,
    get_manifest_and_translator_from_dbt_assets,
)

from connectors import builds, spark
from connectors.spark_models import copy_models
from orchestration import passed_tests
from orchestration.checks.gx_context import import_in_background
from orchestration.dbt_selection import CI_ONLY_TESTS, MONTH_GRAINED_SELECT, PARTITIONED_SELECT
from orchestration.partitions import dbt_month_vars, monthly_partitions
from orchestration.project import dbt_project, dbt_target_dir
from orchestration.reruns import REBUILD_TAG, dbt_project_digest, unchanged_since
from orchestration.resources import PipelineSettings

PARTIAL_PARSE_FILE = "partial_parse.msgpack"


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


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    settings: PipelineSettings,
    month_vars: Mapping[str, str],
    tests: passed_tests.Plan | None = None,
) -> Iterator[Any]:
    """`dbt build` of the step's selection, but for the `tests` the plan leaves out (their
    outcomes are recorded); each materialization gets `dagster/row_count`.

    Row counts are read once dbt has exited (dagster-dbt's `fetch_row_counts` would open
    the DuckDB file while dbt holds it), so the step's events are emitted at the end. On
    Spark, the marts and check frames built are first copied into the warehouse file, where
    the checks and publication read them (connectors/spark_models.py); only they are counted.
    """
    # dbt unit tests check SQL on fixed inputs: CI runs them (tests/dbt), and in a pipeline
    # run they would spend time on nothing new (and take in a partition's month vars).
    args = [
        "build",
        "--exclude-resource-type",
        "unit_test",
        "--vars",
        settings.dbt_vars_json(),
    ]
    if month_vars:
        context.log.info(f"dbt builds this run's months: {dict(month_vars)}")
    if tests and tests.exclude:
        args += ["--exclude", " ".join(tests.exclude)]
    events: list[Any] = []
    failure: Exception | None = None
    import_in_background()  # the checks after this step need it; dbt leaves a core idle
    with settings.dbt_environment(**month_vars):
        invocation = dbt.cli(args, context=context)
        try:
            events.extend(invocation.stream())
        except Exception as exc:  # emit what was built, then fail the step
            failure = exc
    if failure is None:
        _keep_parse_state(invocation.target_path)
    if tests is not None:
        _record_tests(context, settings, invocation.target_path, tests)
    _prune_invocations(settings.settings.dbt_keep_invocations, invocation.target_path)
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
    if tests is not None:
        yield from _results_of_tests_left_out(context, tests)
    if failure is not None:
        raise failure


def _warehouse_state(
    settings: PipelineSettings,
) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """`builds.table_contents` and `builds.passed_tests` of the warehouse, in one connection
    (both {} before there is one: dbt makes it)."""
    if not settings.warehouse_path.exists():
        return {}, {}
    with settings.read_warehouse() as con:
        return builds.table_contents(con), builds.passed_tests(con)


def _tests_to_leave_out(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    contents: Mapping[str, str],
    passed: Mapping[str, tuple[str, str]],
) -> passed_tests.Plan:
    """The plan of which dbt tests `passed` on the inputs they have now (the raw tables'
    `contents`), logged; none with the run tag partnerpulse/rebuild."""
    if context.run.tags.get(REBUILD_TAG) == "true":
        passed = {}
    project = json.dumps([dbt_project_digest(), settings.dbt_vars_json(), settings.settings.engine])
    manifest, _, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    plan = passed_tests.plan(manifest, contents, project, passed)
    if plan.left_out:
        names = sorted(manifest["nodes"][test]["name"] for test in plan.left_out)
        context.log.info(
            f"{len(names)} dbt tests left out: they passed on the very inputs they have now "
            f"(the same raw tables, dbt project and vars; orchestration/passed_tests.py): "
            + ", ".join(names[:10])
            + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        )
    return plan


def _results_of_tests_left_out(
    context: dg.AssetExecutionContext, tests: passed_tests.Plan
) -> Iterator[dg.AssetCheckResult]:
    """A left-out test's check passes as it did on the same inputs, naming that run: rather
    than Dagster's "Skipped", which says nothing of the data."""
    manifest, translator, project = get_manifest_and_translator_from_dbt_assets(
        [context.assets_def]
    )
    selected = context.selected_asset_check_keys
    for unique_id, run_id in tests.left_out.items():
        key = get_asset_check_key_for_test(manifest, translator, unique_id, project)
        if key in selected:
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=True,
                metadata={
                    passed_tests.PASSED_IN_RUN: dg.MetadataValue.dagster_run(run_id),
                    "unique_id": unique_id,
                    "not_run_again": "it passed on the very inputs it has now (the same raw "
                    "tables, dbt project and vars): orchestration/passed_tests.py",
                },
            )


def _record_tests(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    invocation_target: Path,
    tests: passed_tests.Plan,
) -> None:
    """Records which of the invocation's tests passed, and on what inputs."""
    try:
        results = json.loads((invocation_target / "run_results.json").read_text())
    except FileNotFoundError:  # dbt stopped before running anything
        return
    passed, others = passed_tests.outcomes(results, tests.digests)
    builds.record_tests(str(settings.warehouse_path), context.run.run_id, passed, others)


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
    8 MB: manifest, run results, compiled SQL, dbt's debug log) and leaves it, so two a run
    grew the folder by gigabytes a year. The newest stay for whoever looks into a run's dbt.
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
    it is skipped (orchestration/reruns.py). Otherwise leaves out the tests that passed on
    the very inputs they have now, such as those of the raw tables a day's sync left as
    they were: their checks pass again, naming the run they passed in
    (orchestration/passed_tests.py)."""
    contents, passed = _warehouse_state(settings)
    built_by = unchanged_since(context, settings, contents)
    if built_by is not None:
        context.log.info(
            f"nothing changed since run {built_by} built, checked and published the marts from "
            f"the same inputs: not built again (the run tag {REBUILD_TAG}=true builds anyway)"
        )
        return
    tests = _tests_to_leave_out(context, settings, contents, passed)
    yield from _build(context, dbt, settings, dbt_month_vars(context), tests)


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
    run's month or range of months; each month is a partition."""
    if not (context.has_partition_key or context.has_partition_key_range):
        # Dagster would fail later, at the first model with a partitioned parent.
        raise dg.Failure(
            "the month-grained dbt models run within a month partition or a range of them: "
            "launch the run with a partition (or the tags of "
            "orchestration.partitions.whole_history_tags() for every month)"
        )
    yield from _build(context, dbt, settings, dbt_month_vars(context))


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
