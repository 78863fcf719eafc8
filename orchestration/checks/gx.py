"""Great Expectations suites run as Dagster asset checks.

Everything a data engineer edits lives in `expectations/` (see docs/data-quality.md):

- `expectations/queries/<name>.sql`: the read-only DuckDB query that turns the warehouse
  into the small frame a suite validates (one row per report, file or partner-month; the
  heavy work over raw lines happens here, in SQL, not in pandas);
- `expectations/gx/`: the GX file context: suites (`expectations/*.json`), validation
  definitions and checkpoints (one per validation below), the pandas datasource
  `warehouse`. Adding an expectation means adding an entry to a suite's JSON, not Python.

Each checkpoint becomes up to two asset checks on the asset it validates:

- `<check>_structure` from the suite's `critical` expectations (missing columns, duplicate
  keys, unknown values): severity ERROR and blocking, so downstream assets do not
  materialise when it fails. A query that cannot run (a missing table or column) fails it.
- `<check>_partner_behaviour` (or the name given below) from its `warning` expectations
  (partners that over- or under-report, miss a report, send unknown SKUs, ...): severity
  WARN, never blocks. `info` expectations (restatements, timing differences) are reported
  in the same check without failing it.

The metadata of a check names every failing row by its partner-month, with the columns the
expectation's `meta.show` lists (amounts, reasons). Every result is also stored in
`ops.validation_results` (one summary row per expectation and one row per failing
partner-month), and the validation's Data Docs page is written, loading nothing from the
network (`data_docs.py`).

Great Expectations takes seconds to import, so it is imported inside the check only.
"""

import json
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from connectors.config import Settings
from connectors.warehouse import record_validation_results
from orchestration.checks.data_docs import make_offline, page_url
from orchestration.resources import PipelineSettings

GX_PROJECT_ROOT = Path(__file__).resolve().parents[2] / "expectations"
MAX_ROWS_SHOWN = 50
MAX_KEYS_LISTED = 1000
MAX_NAMES_LISTED = 5  # partners named in a finding's summary line
MAX_CELL_CHARS = 160


def gx_root() -> Path:
    """The GX project folder in use: `PARTNERPULSE_GX_PROJECT_DIR`, else `expectations/`."""
    return Settings.from_env().gx_project_dir or GX_PROJECT_ROOT


def data_docs_dir() -> Path:
    return gx_root() / "gx" / "uncommitted" / "data_docs" / "local_site"


def build_data_docs_index() -> Path:
    """Rebuilds the Data Docs index and the suites' pages; returns the index's path.

    The validation pages are written by the runs (`run_checkpoint`); the index lists the
    latest of them (`validation_results_limit`).
    """
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    context = gx.get_context(mode="file", project_root_dir=gx_root())
    suites = [ExpectationSuiteIdentifier(name) for name in sorted({v.suite for v in VALIDATIONS})]
    context.build_data_docs(resource_identifiers=suites, build_index=True)
    docs = data_docs_dir()
    make_offline(docs, [docs / "index.html", *(docs / "expectations").rglob("*.html")])
    return docs / "index.html"


# -- suites ----------------------------------------------------------------------------------


def load_suite(name: str, root: Path | None = None) -> dict[str, Any]:
    """The suite's JSON as stored in `expectations/gx/expectations/<name>.json`."""
    path = (root or gx_root()) / "gx" / "expectations" / f"{name}.json"
    return json.loads(path.read_text())


def rule_of(config: Mapping[str, Any]) -> str:
    """An expectation's stable short name: `meta.rule`, else its type and column."""
    meta = config.get("meta") or {}
    if meta.get("rule"):
        return str(meta["rule"])
    kwargs = config.get("kwargs") or {}
    column = kwargs.get("column") or "+".join(kwargs.get("column_list") or [])
    return f"{config['type']}:{column}" if column else str(config["type"])


def _findings(suite: Mapping[str, Any], severities: Sequence[str]) -> list[str]:
    return [
        f"`{rule_of(x)}` ({x.get('severity', 'critical')}): "
        f"{(x.get('meta') or {}).get('finding', x['type'])}"
        for x in suite["expectations"]
        if x.get("severity", "critical") in severities
    ]


# -- running a checkpoint --------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, reduced to what an operator needs to read."""

    rule: str
    expectation: str
    column: str | None
    severity: str  # GX severity: critical, warning or info
    finding: str
    success: bool
    element_count: int | None
    unexpected_count: int
    unexpected_percent: float | None = None
    mostly: float | None = None
    observed_value: Any = None
    exception: str | None = None
    show: tuple[str, ...] = ()
    unexpected_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_share_rule(self) -> bool:
        """A rule on a share of rows (`mostly` < 1): it names no single row."""
        return self.mostly is not None and self.mostly < 1


@dataclass(frozen=True)
class CheckpointRun:
    outcomes: list[ExpectationOutcome]
    index_columns: tuple[str, ...]
    data_docs_pages: list[Path]


def run_checkpoint(
    name: str,
    dataframe: Any,
    *,
    suite_parameters: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    run_time: datetime | None = None,
) -> CheckpointRun:
    """Runs the GX checkpoint `name` on `dataframe` and writes its Data Docs page.

    Only this validation's page is rendered: the site's index reads every listed result,
    and rebuilding it after each of a run's checkpoints cost most of the checks' time. The
    index is built when someone opens the docs (`build_data_docs_index`).
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    context = gx.get_context(mode="file", project_root_dir=gx_root())
    checkpoint = context.checkpoints.get(name)
    result = checkpoint.run(
        batch_parameters={"dataframe": dataframe},
        expectation_parameters=dict(suite_parameters or {}),
        run_id=RunIdentifier(run_name=run_name, run_time=run_time or datetime.now(UTC)),
    )
    result_format = checkpoint.result_format
    index_columns = (
        tuple(result_format.get("unexpected_index_column_names") or ())
        if isinstance(result_format, Mapping)
        else ()
    )
    context.build_data_docs(resource_identifiers=list(result.run_results), build_index=False)
    outcomes, pages = [], []
    for identifier, validation in result.run_results.items():
        pages.append(data_docs_dir() / "validations" / Path(*identifier.to_tuple()))
        for r in validation.results:
            config = r.expectation_config
            meta = config.meta or {}
            res = r.result or {}
            error = _exception_message(r.exception_info)
            outcomes.append(
                ExpectationOutcome(
                    rule=rule_of({"type": config.type, "kwargs": config.kwargs, "meta": meta}),
                    expectation=config.type,
                    column=config.kwargs.get("column"),
                    severity=str(getattr(config.severity, "value", config.severity)),
                    finding=meta.get("finding", config.type),
                    success=bool(r.success),
                    element_count=res.get("element_count"),
                    unexpected_count=int(res.get("unexpected_count") or 0),
                    unexpected_percent=res.get("unexpected_percent"),
                    mostly=config.kwargs.get("mostly"),
                    observed_value=res.get("observed_value"),
                    exception=error,
                    show=tuple(meta.get("show") or ()),
                    unexpected_rows=list(res.get("unexpected_index_list") or []),
                )
            )
    pages = [p.with_suffix(".html") for p in pages]
    make_offline(data_docs_dir(), pages)
    return CheckpointRun(outcomes, index_columns, pages)


def _exception_message(info: Any) -> str | None:
    """The message of an expectation that raised (GX nests it per metric), else None."""
    if not isinstance(info, Mapping):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    for nested in info.values():
        message = _exception_message(nested)
        if message:
            return message
    return None


# -- reading the frame -----------------------------------------------------------------------


def read_query(name: str, root: Path | None = None) -> str:
    return ((root or gx_root()) / "queries" / f"{name}.sql").read_text()


def run_query(con: duckdb.DuckDBPyConnection, sql: str, parameters: Mapping[str, Any]) -> Any:
    """The query's result as a pandas frame; only the `$name` parameters it uses are bound."""
    used = {k: v for k, v in parameters.items() if re.search(rf"\${re.escape(k)}\b", sql)}
    return con.execute(sql, used).df() if used else con.execute(sql).df()


def suite_parameters(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Values that suites name as `{"$PARAMETER": ...}`: the one-row result of
    `expectations/queries/suite_parameters.sql`, one column per parameter."""
    cursor = con.execute(read_query("suite_parameters"))
    row = cursor.fetchall()[0]
    return {d[0]: _plain(v) for d, v in zip(cursor.description, row, strict=True)}


# -- shaping results -------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-friendly value: NaN/NaT/NA -> None, numpy scalars -> Python, dates -> ISO."""
    import numpy as np
    import pandas as pd

    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):
        midnight = value.hour == value.minute == value.second == value.microsecond == 0
        return value.date().isoformat() if midnight else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _month(value: Any) -> date | None:
    value = _plain(value)
    if value is None:
        return None
    return date.fromisoformat(str(value)[:10])


def _key(row: Mapping[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
    return tuple(_plain(row.get(c)) for c in columns)


class FrameRows:
    """The validated frame's rows, looked up by the checkpoint's index columns."""

    def __init__(self, frame: Any, index_columns: Sequence[str]) -> None:
        self.frame = frame
        self.index_columns = [c for c in index_columns if c in frame.columns]
        self._by_key: dict[tuple[Any, ...], list[dict[str, Any]]] | None = None

    def rows_for(self, outcome: ExpectationOutcome) -> list[dict[str, Any]]:
        """Every frame row named by the outcome's unexpected index list (all columns)."""
        if self._by_key is None:
            self._by_key = {}
            for row in self.frame.to_dict("records"):
                self._by_key.setdefault(_key(row, self.index_columns), []).append(row)
        rows, seen = [], set()
        for hit in outcome.unexpected_rows:
            key = _key(hit, self.index_columns)
            if key in seen:
                continue
            seen.add(key)
            rows.extend(self._by_key.get(key) or [dict(hit)])
        return rows


def _is_money(column: str) -> bool:
    return any(word in column for word in ("usd", "amount", "sales"))


def _fmt(value: Any, column: str = "") -> str:
    value = _plain(value)
    if isinstance(value, float) and column.endswith("_pct"):
        return f"{value:+.1%}"
    if isinstance(value, float) and value.is_integer() and not _is_money(column):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if value is None:
        return ""
    text = str(value).replace("|", "/")
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def _rows_markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join(
        "| " + " | ".join(_fmt(row.get(c), c) for c in columns) + " |\n"
        for row in rows[:MAX_ROWS_SHOWN]
    )
    more = f"\n… and {len(rows) - MAX_ROWS_SHOWN} more" if len(rows) > MAX_ROWS_SHOWN else ""
    return head + body + more


def partner_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Partner names by id, from `marts.dim_partners`; {} before the marts are first built
    (the checks on landed data run before dbt on a first run)."""
    exists = con.execute(
        "select count(*) from duckdb_tables() "
        "where schema_name = 'marts' and table_name = 'dim_partners'"
    ).fetchone()[0]
    if not exists:
        return {}
    return dict(con.execute("select partner_id, partner_name from marts.dim_partners").fetchall())


def partner_month_label(row: Mapping[str, Any]) -> str:
    """`<partner_id> <YYYY-MM>` for a row (either part may be `?`)."""
    month = _month(row.get("month_start"))
    return f"{_plain(row.get('partner_id')) or '?'} {month.strftime('%Y-%m') if month else '?'}"


def _share_sentence(o: ExpectationOutcome) -> str:
    share = None if o.unexpected_percent is None else 1 - o.unexpected_percent / 100
    observed = "n/a" if share is None else f"{share:.2%}"
    return f"observed {observed} of {o.element_count or 0} rows (threshold {o.mostly:.0%})"


# -- the asset checks ------------------------------------------------------------------------


@dataclass(frozen=True)
class GxValidation:
    """A GX checkpoint validating the frame of one query, reported on one asset."""

    checkpoint: str
    suite: str
    asset_key: dg.AssetKey
    query: str
    check_prefix: str
    query_parameters: Mapping[str, Any] = field(default_factory=dict)
    behaviour_check: str | None = None  # default: <check_prefix>_partner_behaviour
    additional_deps: tuple[dg.AssetKey, ...] = ()

    @property
    def structure_check_name(self) -> str:
        return f"{self.check_prefix}_structure"

    @property
    def behaviour_check_name(self) -> str:
        return self.behaviour_check or f"{self.check_prefix}_partner_behaviour"

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
            "Structural expectations: failing is ERROR and blocks everything downstream."
            if blocking
            else "Partner behaviour: failing is a WARN and never blocks; `info` rows are noted."
        )
        specs.append(
            dg.AssetCheckSpec(
                name,
                asset=v.asset_key,
                blocking=blocking,
                additional_deps=list(v.additional_deps),
                description=(
                    f"Great Expectations suite `{v.suite}` (checkpoint `{v.checkpoint}`) on the "
                    f"frame of `expectations/queries/{v.query}.sql`. {kind}\n\n"
                    + "\n".join(f"- {f}" for f in _findings(suite, severities))
                    + "\n\nEach result links its Data Docs page: `data_docs_page` (the file) "
                    "and `data_docs_url` (served by `partnerpulse gx-docs`, `make gx-docs`)."
                ),
            )
        )

    @dg.multi_asset_check(name=f"gx_{v.checkpoint}", specs=specs, pool="warehouse")
    def _checks(
        context: dg.AssetCheckExecutionContext, settings: PipelineSettings
    ) -> Iterator[dg.AssetCheckResult]:
        yield from evaluate(v, levels, context.run.run_id, settings)

    return _checks


def evaluate(
    v: GxValidation,
    levels: Sequence[tuple[str, tuple[str, ...]]],
    run_id: str,
    settings: PipelineSettings,
) -> Iterator[dg.AssetCheckResult]:
    """Query, validate, store the results in the warehouse, and yield the check results."""
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
            frame = run_query(
                con,
                read_query(v.query),
                {"as_of": settings.settings.today.isoformat(), **v.query_parameters},
            )
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
                description=f"`expectations/queries/{v.query}.sql` failed: {error}",
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
        stored.extend(_stored_rows(base, name, outcomes, rows))
        results.append(
            _check_result(
                v, name, severities, outcomes, rows, run, len(frame), query_s, validate_s, names
            )
        )
    record_validation_results(settings.warehouse_path, run_id, v.checkpoint, stored)
    yield from results


def _severity(severities: Sequence[str]) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if "critical" in severities else dg.AssetCheckSeverity.WARN


def _stored_rows(
    base: Mapping[str, Any],
    check_name: str,
    outcomes: Sequence[ExpectationOutcome],
    rows: FrameRows,
) -> Iterator[dict[str, Any]]:
    for o in outcomes:
        common = {
            **base,
            "check_name": check_name,
            "expectation": o.rule,
            "expectation_type": o.expectation,
            "column_name": o.column,
            "finding": o.finding,
            "severity": o.severity,
        }
        summary = {
            "unexpected_percent": _plain(o.unexpected_percent),
            "observed_value": _plain(o.observed_value),
            "mostly": o.mostly,
            "exception": o.exception,
        }
        yield {
            **common,
            "success": o.success,
            "element_count": o.element_count,
            "unexpected_count": o.unexpected_count,
            "detail": json.dumps({k: val for k, val in summary.items() if val is not None}),
        }
        if o.success or o.is_share_rule:
            continue
        for row in rows.rows_for(o):
            shown = {c: _plain(row.get(c)) for c in (*rows.index_columns, *o.show) if c in row}
            yield {
                **common,
                "success": False,
                "partner_id": _plain(row.get("partner_id")),
                "month_start": _month(row.get("month_start")),
                "detail": json.dumps(shown, default=str),
            }


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
            summary.append(f"- **{o.finding}** (`{o.rule}`, {label}): {_share_sentence(o)}")
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
            if names and "partner_id" in shown:  # the partner by name beside its id
                named = [{**r, "partner_name": names.get(str(r.get("partner_id")))} for r in named]
                shown.insert(shown.index("partner_id") + 1, "partner_name")
            metadata[o.rule[:60]] = dg.MetadataValue.md(
                f"**{o.finding}**\n\n" + _rows_markdown(named, shown)
            )
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


# -- the registry ----------------------------------------------------------------------------

CRM_ACCOUNTS = dg.AssetKey(["crm", "accounts"])
ERP_ITEMS = dg.AssetKey(["erp", "items"])
ERP_CURRENCIES = dg.AssetKey(["erp", "currencies"])
ERP_TRANSACTIONS = dg.AssetKey(["erp", "transactions"])
ERP_TRANSACTION_LINES = dg.AssetKey(["erp", "transaction_lines"])
SALES_REPORTS = dg.AssetKey(["portal", "sales_reports"])
POS_REPORTS = dg.AssetKey(["portal", "pos_reports"])
RECONCILIATION = dg.AssetKey(["marts", "rpt_partner_reconciliation"])
SKU_RECONCILIATION = dg.AssetKey(["marts", "rpt_partner_sku_reconciliation"])

VALIDATIONS = [
    GxValidation(
        checkpoint="sales_reports",
        suite="sales_reports",
        asset_key=SALES_REPORTS,
        query="sales_reports",
        check_prefix="sales_reports",
        additional_deps=(CRM_ACCOUNTS, ERP_ITEMS, ERP_CURRENCIES),
    ),
    GxValidation(
        checkpoint="pos_reports",
        suite="pos_reports",
        asset_key=POS_REPORTS,
        query="pos_reports",
        check_prefix="pos_reports",
        additional_deps=(CRM_ACCOUNTS, ERP_ITEMS, ERP_CURRENCIES, SALES_REPORTS),
    ),
    GxValidation(
        checkpoint="sales_reports_line_matching",
        suite="report_line_matching",
        asset_key=SALES_REPORTS,
        query="report_line_matching",
        query_parameters={"channel": "api"},
        check_prefix="sales_reports_line_matching",
        behaviour_check="sales_reports_line_matching",
        additional_deps=(CRM_ACCOUNTS, ERP_ITEMS, ERP_TRANSACTIONS, ERP_TRANSACTION_LINES),
    ),
    GxValidation(
        checkpoint="pos_reports_line_matching",
        suite="report_line_matching",
        asset_key=POS_REPORTS,
        query="report_line_matching",
        query_parameters={"channel": "pos"},
        check_prefix="pos_reports_line_matching",
        behaviour_check="pos_reports_line_matching",
        additional_deps=(CRM_ACCOUNTS, ERP_ITEMS, ERP_TRANSACTIONS, ERP_TRANSACTION_LINES),
    ),
    GxValidation(
        checkpoint="partner_reconciliation",
        suite="partner_reconciliation",
        asset_key=RECONCILIATION,
        query="partner_reconciliation",
        check_prefix="partner_reconciliation",
    ),
    GxValidation(
        checkpoint="report_completeness",
        suite="report_completeness",
        asset_key=RECONCILIATION,
        query="report_completeness",
        check_prefix="report_completeness",
        behaviour_check="report_completeness",
        additional_deps=(SALES_REPORTS, POS_REPORTS),
    ),
]

SKU_VALIDATION = GxValidation(
    checkpoint="partner_sku_reconciliation",
    suite="partner_sku_reconciliation",
    asset_key=SKU_RECONCILIATION,
    query="partner_sku_reconciliation",
    check_prefix="partner_sku_reconciliation",
)


def _is_dbt_model(name: str) -> bool:
    """Whether the dbt project's manifest defines the model (a check needs its asset)."""
    from orchestration.project import dbt_project

    nodes = json.loads(Path(dbt_project.manifest_path).read_text()).get("nodes", {})
    return any(n.get("resource_type") == "model" and n.get("name") == name for n in nodes.values())


if _is_dbt_model("rpt_partner_sku_reconciliation"):
    VALIDATIONS.append(SKU_VALIDATION)

gx_checks = [build_gx_checks(v) for v in VALIDATIONS]
