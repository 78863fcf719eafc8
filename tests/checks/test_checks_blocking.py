"""An ERROR-severity (structural) check failure stops publishing; a WARN never does.

Each test runs the real GX-backed asset checks in a tiny Dagster graph: a stand-in for the
validated frame's asset (the warehouse is prepared beforehand: raw rows or a mart's table,
and the frame's real dbt model as a view on them), the checks, and a dummy asset downstream
of it standing in for `serving/marts`, which depends on every frame. The run really
executes.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from connectors.warehouse import ensure_warehouse
from orchestration.assets.publish import SERVING_MARTS
from orchestration.checks import gx
from orchestration.resources import PipelineSettings
from tests.checks.frames import AS_OF, WAREHOUSE_NAME, create_frames

# One worker runs every in-process GX test: each worker that imports GX pays ~6 s for it.
pytestmark = pytest.mark.xdist_group("gx_in_process")

DOWNSTREAM = dg.AssetKey(["publish", "downstream"])
PARTNER = "0018d000030AAAAAAA"
RECON_COLUMNS = """
    partner_id VARCHAR, month_start DATE, erp_sales_usd DOUBLE, reported_sales_usd DOUBLE,
    variance_usd DOUBLE, variance_pct DOUBLE, has_effective_report BOOLEAN,
    effective_report_revision INTEGER, report_due_date DATE, is_report_due BOOLEAN,
    is_within_tolerance BOOLEAN, is_within_tolerance_with_previous_month BOOLEAN,
    is_within_tolerance_with_next_month BOOLEAN, status VARCHAR"""
MATCHED = ("0018d000030AAAAAAA", "2026-03-01", 1000.0, 1000.0, 0.0, 0.0, "matched")
OVER = ("0018d000030AAAAAAA", "2026-04-01", 1000.0, 1500.0, 500.0, 0.5, "over_reported")


def validation(checkpoint: str) -> gx.GxValidation:
    (v,) = [v for v in gx.VALIDATIONS if v.checkpoint == checkpoint]
    return v


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / WAREHOUSE_NAME
    ensure_warehouse(path)
    monkeypatch.setenv("PARTNERPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("PARTNERPULSE_AS_OF", AS_OF)
    return path


def sql(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def reconciliation(path: Path, *rows: tuple) -> None:
    """The mart `rpt_partner_reconciliation` holding `rows`, and the frame on it."""
    values = ", ".join(
        f"('{p}', DATE '{m}', {e}, {r}, {v}, {pct}, true, 1, DATE '{m}' + INTERVAL 40 DAY, "
        f"true, {str(s == 'matched').lower()}, false, false, '{s}')"
        for p, m, e, r, v, pct, s in rows
    )
    sql(
        path,
        "CREATE SCHEMA IF NOT EXISTS marts",
        f"CREATE TABLE marts.rpt_partner_reconciliation ({RECON_COLUMNS})",
        f"INSERT INTO marts.rpt_partner_reconciliation VALUES {values}" if rows else "SELECT 1",
    )
    create_frames(path, "val_partner_reconciliation", "val_suite_parameters")


def run_gated(v: gx.GxValidation) -> dg.ExecuteInProcessResult:
    @dg.asset(key=v.asset_key)
    def validated() -> None:
        """Stands in for the validated asset: the warehouse is prepared by the test."""

    @dg.asset(key=DOWNSTREAM, deps=[v.asset_key])
    def downstream() -> None:
        """Stands in for the marts that publish."""

    defs = dg.Definitions(
        assets=[validated, downstream],
        asset_checks=[gx.build_gx_checks(v)],
        resources={"settings": PipelineSettings()},
    )
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(raise_on_error=False)


def outcome(result: dg.ExecuteInProcessResult, check_name: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == check_name]
    return evaluation


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def stored(path: Path, run_id: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "select check_name, expectation, severity, success, partner_id, month_start "
            "from ops.validation_results where run_id = ? and partner_id is not null",
            [run_id],
        ).fetchall()
    finally:
        con.close()


def test_clean_table_passes_and_downstream_publishes(warehouse: Path) -> None:
    reconciliation(warehouse, MATCHED)
    result = run_gated(validation("partner_reconciliation"))
    assert result.success
    assert outcome(result, "partner_reconciliation_structure").passed
    assert outcome(result, "partner_reconciliation_partner_behaviour").passed
    assert DOWNSTREAM in materialized(result)
    assert stored(warehouse, result.run_id) == []


def test_duplicate_keys_fail_the_blocking_check_and_stop_publishing(warehouse: Path) -> None:
    reconciliation(warehouse, MATCHED, MATCHED)
    result = run_gated(validation("partner_reconciliation"))
    structure = outcome(result, "partner_reconciliation_structure")
    assert not structure.passed
    assert structure.severity == dg.AssetCheckSeverity.ERROR
    assert structure.blocking
    assert structure.metadata["partner_months"].value == {
        "duplicate_partner_month": ["0018d000030AAAAAAA 2026-03"]
    }
    assert DOWNSTREAM not in materialized(result)
    assert not result.success
    assert (
        "partner_reconciliation_structure",
        "duplicate_partner_month",
        "critical",
        False,
        "0018d000030AAAAAAA",
        dt.date(2026, 3, 1),
    ) in stored(warehouse, result.run_id)


def test_a_partner_behaviour_warning_never_blocks(warehouse: Path) -> None:
    reconciliation(warehouse, MATCHED, OVER)
    result = run_gated(validation("partner_reconciliation"))
    assert outcome(result, "partner_reconciliation_structure").passed
    behaviour = outcome(result, "partner_reconciliation_partner_behaviour")
    assert not behaviour.passed
    assert behaviour.severity == dg.AssetCheckSeverity.WARN
    assert behaviour.metadata["partner_months"].value["over_reported"] == [
        "0018d000030AAAAAAA 2026-04"
    ]
    assert "+500.00 USD (+50.0%)" in behaviour.metadata["over_reported"].value
    assert DOWNSTREAM in materialized(result)
    assert result.success


def test_a_missing_column_fails_the_blocking_check_and_stops_publishing(warehouse: Path) -> None:
    # The mart rebuilt without a column its frame reads: the frame cannot be read.
    reconciliation(warehouse, MATCHED)
    sql(warehouse, "ALTER TABLE marts.rpt_partner_reconciliation DROP COLUMN status")
    result = run_gated(validation("partner_reconciliation"))
    structure = outcome(result, "partner_reconciliation_structure")
    assert not structure.passed
    assert "status" in structure.metadata["query_error"].value
    assert DOWNSTREAM not in materialized(result)


def test_duplicate_report_revisions_stop_publishing(warehouse: Path) -> None:
    sql(
        warehouse,
        "CREATE SCHEMA IF NOT EXISTS marts",
        "CREATE TABLE marts.dim_partners (partner_id VARCHAR, partner_name VARCHAR)",
        f"INSERT INTO marts.dim_partners VALUES ('{PARTNER}', 'Acme')",
        "INSERT INTO raw_erp.currency (id, symbol) VALUES (1, 'USD')",
        "INSERT INTO raw_portal.sales_reports (id, partner_id, period, revision, status, currency)"
        " VALUES ('SR-000001', '0018d000030AAAAAAA', '2026-03', 1, 'submitted', 'USD'),"
        " ('SR-000002', '0018d000030AAAAAAA', '2026-03', 1, 'submitted', 'USD'),"
        " ('SR-000003', '0018d000030AAAAAAA', '2026-04', 1, 'submitted', 'USD')",
    )
    create_frames(warehouse, "val_sales_reports", "val_suite_parameters")
    result = run_gated(validation("sales_reports"))
    structure = outcome(result, "sales_reports_structure")
    assert not structure.passed
    assert structure.metadata["partner_months"].value == {
        "duplicate_revision": ["0018d000030AAAAAAA 2026-03"]
    }
    assert outcome(result, "sales_reports_partner_behaviour").passed
    assert DOWNSTREAM not in materialized(result)


def test_publication_waits_for_every_blocking_check() -> None:
    """In the pipeline, `serving/marts` is downstream of every asset a blocking check sits
    on (the frames), so that Dagster skips publishing when one fails, as `downstream` above."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    blocking = {
        spec.name: spec.asset_key
        for checks in gx.gx_checks
        for spec in checks.check_specs
        if spec.blocking
    }
    assert set(blocking) == {
        "sales_reports_structure",
        "pos_reports_structure",
        "partner_reconciliation_structure",
        "partner_sku_reconciliation_structure",
    }
    assert {key.path[0] for key in blocking.values()} == {"validation"}
    assert set(blocking.values()) <= graph.get(SERVING_MARTS).parent_keys
