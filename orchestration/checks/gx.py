"""Great Expectations suites run as Dagster asset checks.

The suites, validation definitions and checkpoints live in `expectations/gx/` (a GX file
context): adding an expectation means editing the suite's JSON there, not Python. Each
checkpoint becomes two asset checks on the asset it validates:

- `<name>_structure`: the suite's `critical` expectations (missing columns, duplicate keys,
  unknown values). Severity ERROR, blocking: downstream assets do not materialise.
- `<name>_partner_behaviour`: the suite's `warning` expectations (partners that
  mis-report, miss reports, ...). Severity WARN, never blocks. Its metadata names every
  failing row by its index columns, with the amounts.

Great Expectations takes seconds to import, so it is imported inside the check only.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.resources import PipelineSettings

GX_PROJECT_ROOT = Path(__file__).resolve().parents[2] / "expectations"
DATA_DOCS_DIR = GX_PROJECT_ROOT / "gx" / "uncommitted" / "data_docs" / "local_site"
MAX_ROWS_SHOWN = 50


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, reduced to what an operator needs to read."""

    expectation: str
    column: str | None
    severity: str  # GX severity: critical, warning or info
    finding: str
    success: bool
    unexpected_count: int
    unexpected_rows: list[dict[str, Any]] = field(default_factory=list)


def run_checkpoint(name: str, dataframe: Any) -> list[ExpectationOutcome]:
    """Runs the GX checkpoint `name` on `dataframe`, updating the Data Docs site."""
    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=GX_PROJECT_ROOT)
    result = context.checkpoints.get(name).run(batch_parameters={"dataframe": dataframe})
    outcomes = []
    for validation in result.run_results.values():
        for r in validation.results:
            config = r.expectation_config
            outcomes.append(
                ExpectationOutcome(
                    expectation=config.type,
                    column=config.kwargs.get("column"),
                    severity=str(getattr(config.severity, "value", config.severity)),
                    finding=(config.meta or {}).get("finding", config.type),
                    success=bool(r.success),
                    unexpected_count=int(r.result.get("unexpected_count") or 0),
                    unexpected_rows=list(r.result.get("unexpected_index_list") or []),
                )
            )
    return outcomes


@dataclass(frozen=True)
class ValidatedTable:
    """A warehouse table validated by a GX checkpoint of the same name."""

    checkpoint: str
    asset_key: dg.AssetKey
    relation: str
    index_columns: tuple[str, ...]
    amount_columns: tuple[str, ...] = ()


def _rows_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join(
        "| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |\n"
        for row in rows[:MAX_ROWS_SHOWN]
    )
    more = f"\n… and {len(rows) - MAX_ROWS_SHOWN} more" if len(rows) > MAX_ROWS_SHOWN else ""
    return head + body + more


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d")
    return "" if value is None else str(value)


def _result(
    table: ValidatedTable,
    outcomes: list[ExpectationOutcome],
    frame: Any,
) -> tuple[bool, dict[str, dg.MetadataValue]]:
    failed = [o for o in outcomes if not o.success]
    metadata: dict[str, dg.MetadataValue] = {
        "expectations": dg.MetadataValue.int(len(outcomes)),
        "failed_expectations": dg.MetadataValue.int(len(failed)),
        "data_docs": dg.MetadataValue.path(str(DATA_DOCS_DIR / "index.html")),
    }
    # Index rows come back without the amounts: join them to the validated frame by key.
    by_key = frame.set_index(list(table.index_columns))
    shown = [*table.index_columns, *table.amount_columns]
    summary = []
    for o in failed:
        rows = []
        for row in o.unexpected_rows:
            key = tuple(row[c] for c in table.index_columns)
            amounts = by_key.loc[key] if table.amount_columns and key in by_key.index else {}
            rows.append({**row, **{c: _num(amounts, c) for c in table.amount_columns}})
        label = f"{o.finding} ({o.unexpected_count})"
        summary.append(f"- {label}")
        if rows:
            metadata[o.finding[:60]] = dg.MetadataValue.md(_rows_markdown(rows, shown))
    if summary:
        metadata["findings"] = dg.MetadataValue.md("\n".join(summary))
    return not failed, metadata


def _num(row: Any, column: str) -> Any:
    try:
        value = row[column]
    except (KeyError, TypeError):
        return None
    return None if value != value else value  # NaN -> None


def build_gx_checks(table: ValidatedTable) -> dg.AssetChecksDefinition:
    """Two asset checks (structure: ERROR, blocking; partner behaviour: WARN) from one run."""
    structure = f"{table.checkpoint}_structure"
    behaviour = f"{table.checkpoint}_partner_behaviour"

    @dg.multi_asset_check(
        name=f"gx_{table.checkpoint}",
        specs=[
            dg.AssetCheckSpec(
                structure,
                asset=table.asset_key,
                blocking=True,
                description=(
                    f"Great Expectations suite `{table.checkpoint}`, critical expectations: "
                    "required columns, unique keys, known values. Failing blocks publishing."
                ),
            ),
            dg.AssetCheckSpec(
                behaviour,
                asset=table.asset_key,
                description=(
                    f"Great Expectations suite `{table.checkpoint}`, warning expectations: "
                    "partners whose reports disagree with the ERP. Names every partner-month."
                ),
            ),
        ],
        pool="warehouse",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, settings: PipelineSettings
    ) -> Iterator[dg.AssetCheckResult]:
        with settings.read_warehouse() as con:
            frame = con.sql(f"select * from {table.relation}").df()
        outcomes = run_checkpoint(table.checkpoint, frame)
        for name, severity, level in (
            (structure, dg.AssetCheckSeverity.ERROR, "critical"),
            (behaviour, dg.AssetCheckSeverity.WARN, "warning"),
        ):
            passed, metadata = _result(table, [o for o in outcomes if o.severity == level], frame)
            yield dg.AssetCheckResult(
                asset_key=table.asset_key,
                check_name=name,
                passed=passed,
                severity=severity,
                metadata={"rows_validated": dg.MetadataValue.int(len(frame)), **metadata},
            )

    return _checks


VALIDATED_TABLES = [
    ValidatedTable(
        checkpoint="partner_reconciliation",
        asset_key=dg.AssetKey(["marts", "rpt_partner_reconciliation"]),
        relation="marts.rpt_partner_reconciliation",
        index_columns=("partner_id", "month_start"),
        amount_columns=("erp_sales_usd", "reported_sales_usd", "variance_usd"),
    ),
]

gx_checks = [build_gx_checks(t) for t in VALIDATED_TABLES]
