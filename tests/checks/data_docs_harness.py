"""A small warehouse and a real check on it, for the Data Docs tests: GX validates it
in-process and writes the validation's page into the warehouse's own site."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from connectors.warehouse import ensure_warehouse
from orchestration.checks import gx
from orchestration.resources import PipelineSettings, patched_environ
from tests.checks.frames import AS_OF, WAREHOUSE_NAME, create_frames

PARTNER = "0018d000030AAAAAAA"
# One matched and one over-reported partner-month: a passing and a failing expectation, so
# the pages show both status icons.
RECONCILIATION = [
    "CREATE SCHEMA IF NOT EXISTS marts",
    """CREATE TABLE marts.rpt_partner_reconciliation (
        partner_id VARCHAR, month_start DATE, erp_sales_usd DOUBLE, reported_sales_usd DOUBLE,
        variance_usd DOUBLE, variance_pct DOUBLE, has_effective_report BOOLEAN,
        effective_report_revision INTEGER, report_due_date DATE, is_report_due BOOLEAN,
        is_within_tolerance BOOLEAN, is_within_tolerance_with_previous_month BOOLEAN,
        is_within_tolerance_with_next_month BOOLEAN, status VARCHAR)""",
    f"""INSERT INTO marts.rpt_partner_reconciliation VALUES
        ('{PARTNER}', '2026-03-01', 1000, 1000, 0, 0, true, 1, '2026-04-10', true, true,
         false, false, 'matched'),
        ('{PARTNER}', '2026-04-01', 1000, 1500, 500, 0.5, true, 1, '2026-05-11', true, false,
         false, false, 'over_reported')""",
]


def reconciliation_warehouse(folder: Path) -> Path:
    """A warehouse in `folder` (created) holding the two partner-months above, and their
    frame."""
    folder.mkdir(parents=True, exist_ok=True)
    warehouse = folder / WAREHOUSE_NAME
    ensure_warehouse(warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        for statement in RECONCILIATION:
            con.execute(statement)
    finally:
        con.close()
    create_frames(warehouse, "val_partner_reconciliation", "val_suite_parameters")
    return warehouse


@contextmanager
def on_warehouse(warehouse: Path) -> Iterator[dict[str, str]]:
    """The checks (and the processes started meanwhile) read and write `warehouse`; yields
    the variables set."""
    variables = {"PARTNERPULSE_WAREHOUSE": str(warehouse), "PARTNERPULSE_AS_OF": AS_OF}
    with patched_environ(variables):
        yield variables


def validate(run_id: str) -> dict[str, dg.AssetCheckResult]:
    """The `partner_reconciliation` checks of the warehouse in use (`on_warehouse`), as GX
    run `run_id`, by check name."""
    (v,) = [v for v in gx.VALIDATIONS if v.checkpoint == "partner_reconciliation"]
    return {r.check_name: r for r in gx.evaluate(v, v.check_levels(), run_id, PipelineSettings())}
