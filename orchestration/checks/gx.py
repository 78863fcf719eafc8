"""Great Expectations suites run as Dagster asset checks.

What a data engineer edits (see docs/data-quality.md):

- `dbt_project/models/validation/val_<name>.sql`: the dbt model (a view in the schema
  `validation`) that turns the warehouse into the small frame a suite validates (one row
  per report, file or partner-month; the heavy work over the lines happens there, in SQL,
  not in pandas), built from the staging, intermediate and mart models like any other;
- `expectations/gx/`: the GX file context: suites (`expectations/*.json`), validation
  definitions and checkpoints (one per validation below), the pandas datasource
  `warehouse`. Adding an expectation means adding an entry to a suite's JSON, not Python.

Each checkpoint becomes up to two asset checks on the asset of the frame it validates
(`validation/val_<name>`):

- `<check>_structure` from the suite's `critical` expectations (missing columns, duplicate
  keys, unknown values): severity ERROR and blocking, so downstream assets do not
  materialise when it fails (the frames feed nothing; `serving/marts` depends on them so
  that a failure stops publication). A frame that cannot be read fails it.
- `<check>_partner_behaviour` (or the name given below) from its `warning` expectations
  (partners that over- or under-report, miss a report, send unknown SKUs, ...): severity
  WARN, never blocks. `info` expectations (restatements, timing differences) are reported
  in the same check without failing it.

The metadata of a check names every failing row by its partner-month, with the columns the
expectation's `meta.show` lists (amounts, reasons). Every result is also stored in
`ops.validation_results` (one summary row per expectation and one row per failing
partner-month), and the validation's Data Docs page is written, loading nothing from the
network (`data_docs.py`).

Running the checkpoints themselves is `gx_context.py`; shaping their rows, `gx_rows.py`.
"""

import json
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import duckdb
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from connectors.validation_results import record_validation_results
from orchestration.checks.data_docs import page_url
from orchestration.checks.gx_context import (
    VALIDATION_SCHEMA,
    CheckpointRun,
    ExpectationOutcome,
    data_docs_dir,
    frame_sql,
    index_columns,
    load_suite,
    read_frame,
    run_checkpoint,
    suite_parameters,
)
from orchestration.checks.gx_rows import (
    MAX_KEYS_LISTED,
    MAX_NAMES_LISTED,
    FrameRows,
    findings_of,
    month_of,
    partner_month_label,
    rows_markdown,
    share_sentence,
    stored_rows,
)
from orchestration.partitions import monthly_partitions, run_partitions
from orchestration.partners import partner_names
from orchestration.resources import PipelineSettings
from reports.formatting import partner_label

# -- the asset checks ------------------------------------------------------------------------


@dataclass(frozen=True)
class GxValidation:
    """A GX checkpoint validating the frame of one dbt model, reported on that model's
    asset."""

    checkpoint: str
    suite: str
    model: str  # in dbt_project/models/validation/
    check_prefix: str
    frame_filter: Mapping[str, Any] = field(default_factory=dict)  # column: value
    behaviour_check: str | None = None  # default: <check_prefix>_partner_behaviour
    by_month: bool = False  # also one result per month partition: `<check_prefix>_by_month`

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey([VALIDATION_SCHEMA, self.model])

    @property
    def frame(self) -> str:
        """The frame in words: its relation, and the rows validated when filtered."""
        rows = " and ".join(f"`{c} = '{value}'`" for c, value in self.frame_filter.items())
        return f"`{VALIDATION_SCHEMA}.{self.model}`" + (f" (rows with {rows})" if rows else "")

    def frame_query(self) -> tuple[str, dict[str, Any]]:
        """The SQL that reads the frame, and the values it binds."""
        return frame_sql(self.model, self.frame_filter), dict(self.frame_filter)

    @property
    def structure_check_name(self) -> str:
        return f"{self.check_prefix}_structure"

    @property
    def behaviour_check_name(self) -> str:
        return self.behaviour_check or f"{self.check_prefix}_partner_behaviour"

    @property
    def by_month_check_name(self) -> str:
        return f"{self.check_prefix}_by_month"

    def check_levels(self) -> list[tuple[str, tuple[str, ...]]]:
        """(check name, severities it reports) for the severities the suite uses."""
        used = {x.get("severity", "critical") for x in load_suite(self.suite)["expectations"]}
        levels = []
        if "critical" in used:
            levels.append((self.structure_check_name, ("critical",)))
        if used & {"warning", "info"}:
            levels.append((self.behaviour_check_name, ("warning", "info")))
        return levels


def build_gx_checks(v: GxValidation) -> dg.AssetChecksDefinition:
    """The asset checks of one checkpoint: structure (ERROR, blocking) and/or partner
    behaviour (WARN), from a single query and a single GX run."""
    suite = load_suite(v.suite)
    levels = v.check_levels()
    specs = []
    for name, severities in levels:
        blocking = "critical" in severities
        kind = (
            "Structural expectations: failing is ERROR and blocks what is downstream: "
            "the publication of the marts (`serving/marts`)."
            if blocking
            else "Partner behaviour: failing is a WARN and never blocks; `info` rows are noted."
        )
        specs.append(
            dg.AssetCheckSpec(
                name,
                asset=v.asset_key,
                blocking=blocking,
                description=(
                    f"Great Expectations suite `{v.suite}` (checkpoint `{v.checkpoint}`) on the "
                    f"frame {v.frame}, the dbt model "
                    f"`dbt_project/models/validation/{v.model}.sql`. {kind}\n\n"
                    + "\n".join(f"- {f}" for f in findings_of(suite, severities))
                    + "\n\nEach result links its Data Docs page: `data_docs_page` (the file) "
                    "and `data_docs_url` (served by `partnerpulse gx-docs`, `make gx-docs`)."
                ),
            )
        )

    if v.by_month:
        # A check with partitions is a "preview" in Dagster 1.13: the UI shows its status
        # per partition, which is what operators act on.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            spec = dg.AssetCheckSpec(
                v.by_month_check_name,
                asset=v.asset_key,
                partitions_def=monthly_partitions,
                description=(
                    f"The `{v.suite}` partner-behaviour findings month by month (WARN, never "
                    "blocks): each month partition the run covers passes when no `warning` "
                    "expectation names a partner-month of it, and otherwise lists them. The "
                    "check's partitions show at a glance which months hold findings."
                ),
            )
        specs.append(spec)

    # can_subset: the monthly results are evaluations of their own (one per partition),
    # not the check's single output.
    @dg.multi_asset_check(name=f"gx_{v.checkpoint}", specs=specs, pool="warehouse", can_subset=True)
    def _checks(
        context: dg.AssetCheckExecutionContext, settings: PipelineSettings
    ) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation]:
        selected = {key.name for key in context.selected_asset_check_keys}
        months = run_partitions(context.run.tags) if v.by_month_check_name in selected else []
        # A partition's status in the UI is current only when its evaluation names the
        # partition's latest materialization.
        targets = {m: _latest_materialization(context.instance, v.asset_key, m) for m in months}
        for result in evaluate(v, levels, context.run.run_id, settings, targets):
            if result.check_name in selected:
                yield result

    return _checks


def evaluate(
    v: GxValidation,
    levels: Sequence[tuple[str, tuple[str, ...]]],
    run_id: str,
    settings: PipelineSettings,
    months: Mapping[str, AssetCheckEvaluationTargetMaterializationData | None] | None = None,
) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation]:
    """Query, validate, store the results in the warehouse, and yield the check results;
    with `months` (partition key: its latest materialization), also the by-month check's
    evaluation of each."""
    validated_at = datetime.now(UTC).replace(tzinfo=None)
    started = time.monotonic()
    base = {
        "run_id": run_id,
        "validated_at": validated_at,
        "checkpoint": v.checkpoint,
        "suite": v.suite,
        "asset_key": v.asset_key.to_user_string(),
    }
    try:
        with settings.read_warehouse() as con:
            frame = read_frame(con, v.model, v.frame_filter, index_columns(v.checkpoint))
            parameters = suite_parameters(con)
            names = partner_names(con)
    except duckdb.Error as exc:
        error = f"{type(exc).__name__}: {exc}"
        record_validation_results(
            settings.warehouse_path,
            run_id,
            v.checkpoint,
            [
                {
                    **base,
                    "check_name": name,
                    "expectation": "query",
                    "finding": "the validated frame could not be read",
                    "severity": severities[0],
                    "success": False,
                    "detail": json.dumps({"error": error}),
                }
                for name, severities in levels
            ],
        )
        for name, severities in levels:
            yield dg.AssetCheckResult(
                asset_key=v.asset_key,
                check_name=name,
                passed=False,
                severity=_severity(severities),
                description=f"The frame {v.frame} could not be read: {error}",
                metadata={"query_error": dg.MetadataValue.text(error)},
            )
        return
    query_s = time.monotonic() - started
    run = run_checkpoint(
        v.checkpoint,
        frame,
        suite_parameters=parameters,
        run_name=run_id,
        run_time=validated_at.replace(tzinfo=UTC),
    )
    validate_s = time.monotonic() - started - query_s
    rows = FrameRows(frame, run.index_columns)
    stored: list[dict[str, Any]] = []
    results = []
    for name, severities in levels:
        outcomes = [o for o in run.outcomes if o.severity in severities]
        stored.extend(stored_rows(base, name, outcomes, rows))
        results.append(
            _check_result(
                v, name, severities, outcomes, rows, run, len(frame), query_s, validate_s, names
            )
        )
    record_validation_results(settings.warehouse_path, run_id, v.checkpoint, stored)
    yield from results
    if months:
        behaviour = [o for o in run.outcomes if o.severity == "warning" and not o.is_share_rule]
        yield from _by_month(v, behaviour, rows, months, names)


def _severity(severities: Sequence[str]) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if "critical" in severities else dg.AssetCheckSeverity.WARN


def _check_result(
    v: GxValidation,
    name: str,
    severities: Sequence[str],
    outcomes: Sequence[ExpectationOutcome],
    rows: FrameRows,
    run: CheckpointRun,
    rows_validated: int,
    query_s: float,
    validate_s: float,
    names: Mapping[str, str],
) -> dg.AssetCheckResult:
    failing = [o for o in outcomes if not o.success and o.severity != "info"]
    noted = [o for o in outcomes if not o.success and o.severity == "info"]
    metadata: dict[str, Any] = {
        "rows_validated": dg.MetadataValue.int(rows_validated),
        "expectations": dg.MetadataValue.int(len(outcomes)),
        "failed_expectations": dg.MetadataValue.int(len(failing)),
        "noted_expectations": dg.MetadataValue.int(len(noted)),
        "query_seconds": dg.MetadataValue.float(round(query_s, 3)),
        "validation_seconds": dg.MetadataValue.float(round(validate_s, 3)),
    }
    if run.data_docs_pages:
        metadata["data_docs_page"] = dg.MetadataValue.path(str(run.data_docs_pages[0]))
        metadata["data_docs_url"] = dg.MetadataValue.url(
            page_url(data_docs_dir(), run.data_docs_pages[0])
        )
    summary, partner_months = [], {}
    for o in [*failing, *noted]:
        label = "noted" if o.severity == "info" else "failed"
        if o.exception:
            summary.append(f"- **{o.finding}** (`{o.rule}`): could not be evaluated: {o.exception}")
            continue
        if o.is_share_rule:
            summary.append(f"- **{o.finding}** (`{o.rule}`, {label}): {share_sentence(o)}")
            continue
        named = rows.rows_for(o)
        keys = sorted({partner_month_label(r) for r in named})
        partner_months[o.rule] = keys[:MAX_KEYS_LISTED]
        partners = sorted({names.get(str(r.get("partner_id")), "") for r in named} - {""})
        summary.append(
            f"- **{o.finding}** (`{o.rule}`, {label}): {o.unexpected_count} row(s), "
            f"{len(keys)} partner-month(s)"
            + (f": {', '.join(partners[:MAX_NAMES_LISTED])}" if partners else "")
            + ("…" if len(partners) > MAX_NAMES_LISTED else "")
        )
        if named:
            shown = [*rows.index_columns, *(c for c in o.show if c not in rows.index_columns)]
            metadata[o.rule[:60]] = _finding_table(o, named, shown, names)
    if summary:
        metadata["findings"] = dg.MetadataValue.md("\n".join(summary))
    metadata["partner_months"] = dg.MetadataValue.json(partner_months)
    passed = not failing
    if passed and not noted:
        description = f"All {len(outcomes)} expectations of `{v.suite}` met."
    elif passed:
        description = f"Passed; noted: {'; '.join(o.finding for o in noted)}."
    else:
        description = "Failed: " + "; ".join(f"{o.finding} ({o.unexpected_count})" for o in failing)
    return dg.AssetCheckResult(
        asset_key=v.asset_key,
        check_name=name,
        passed=passed,
        severity=_severity(severities),
        description=description,
        metadata=metadata,
    )


def _finding_table(
    o: ExpectationOutcome,
    rows: Sequence[Mapping[str, Any]],
    shown: list[str],
    names: Mapping[str, str],
) -> dg.MetadataValue:
    """The rows an expectation named, as a Markdown table; the partner by name beside its id."""
    if names and "partner_id" in shown:
        rows = [{**r, "partner_name": names.get(str(r.get("partner_id")))} for r in rows]
        shown = [*shown]
        shown.insert(shown.index("partner_id") + 1, "partner_name")
    return dg.MetadataValue.md(f"**{o.finding}**\n\n" + rows_markdown(rows, shown))


def _latest_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    (latest,) = records
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=latest.run_id, storage_id=latest.storage_id, timestamp=latest.timestamp
    )


def _by_month(
    v: GxValidation,
    outcomes: Sequence[ExpectationOutcome],
    rows: FrameRows,
    months: Mapping[str, AssetCheckEvaluationTargetMaterializationData | None],
    names: Mapping[str, str],
) -> Iterator[dg.AssetCheckEvaluation]:
    """One evaluation per month partition: the failing outcomes' rows of that month."""
    found: dict[str, list[tuple[ExpectationOutcome, list[dict[str, Any]]]]] = {}
    for o in outcomes:
        if o.success:
            continue
        by_month: dict[str, list[dict[str, Any]]] = {}
        for row in rows.rows_for(o):
            month = month_of(row.get("month_start"))
            if month is not None:
                by_month.setdefault(month.isoformat(), []).append(row)
        for month, named in by_month.items():
            found.setdefault(month, []).append((o, named))
    for month, target in months.items():
        findings = found.get(month, [])
        metadata: dict[str, Any] = {}
        lines = []
        for o, named in findings:
            ids = {str(r.get("partner_id")) for r in named}
            partners = sorted(partner_label(names.get(i), i) for i in ids)
            lines.append(f"{o.finding}: {', '.join(partners)}")
            shown = ["partner_id", *(c for c in o.show if c != "partner_id")]
            metadata[o.rule[:60]] = _finding_table(o, named, shown, names)
        yield dg.AssetCheckEvaluation(
            asset_key=v.asset_key,
            check_name=v.by_month_check_name,
            passed=not findings,
            severity=dg.AssetCheckSeverity.WARN,
            partition=month,
            target_materialization_data=target,
            description=(
                f"{month[:7]}: " + "; ".join(lines) if lines else f"{month[:7]}: no finding."
            ),
            metadata=metadata,
        )


# -- the registry ----------------------------------------------------------------------------

VALIDATIONS = [
    GxValidation(
        checkpoint="sales_reports",
        suite="sales_reports",
        model="val_sales_reports",
        check_prefix="sales_reports",
    ),
    GxValidation(
        checkpoint="pos_reports",
        suite="pos_reports",
        model="val_pos_reports",
        check_prefix="pos_reports",
    ),
    GxValidation(
        checkpoint="sales_reports_line_matching",
        suite="report_line_matching",
        model="val_report_line_matching",
        frame_filter={"channel": "api"},
        check_prefix="sales_reports_line_matching",
        behaviour_check="sales_reports_line_matching",
    ),
    GxValidation(
        checkpoint="pos_reports_line_matching",
        suite="report_line_matching",
        model="val_report_line_matching",
        frame_filter={"channel": "pos"},
        check_prefix="pos_reports_line_matching",
        behaviour_check="pos_reports_line_matching",
    ),
    GxValidation(
        checkpoint="partner_reconciliation",
        suite="partner_reconciliation",
        model="val_partner_reconciliation",
        check_prefix="partner_reconciliation",
        by_month=True,
    ),
    GxValidation(
        checkpoint="report_completeness",
        suite="report_completeness",
        model="val_report_completeness",
        check_prefix="report_completeness",
        behaviour_check="report_completeness",
        by_month=True,
    ),
    GxValidation(
        checkpoint="partner_sku_reconciliation",
        suite="partner_sku_reconciliation",
        model="val_partner_sku_reconciliation",
        check_prefix="partner_sku_reconciliation",
    ),
]
gx_checks = [build_gx_checks(v) for v in VALIDATIONS]
