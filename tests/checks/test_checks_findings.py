"""One check per kind of data-quality finding: what it says and when it blocks publishing
(orchestration/checks/findings.py)."""

from __future__ import annotations

import re
from datetime import date

import dagster as dg
import duckdb
import pytest

from connectors.config import BlockingFinding, Settings
from orchestration.checks.findings import KINDS, check_name, evaluate
from tests.worlds import WorldRun

UNMAPPED = next(k for k in KINDS if k.name == "erp_partner_unmapped")
REJECTED = next(k for k in KINDS if k.name == "pos_file_rejected")


def _finding(amount: float | None, partner: tuple[str, str] | None = None) -> dict:
    name, pid = partner or (None, None)
    return {
        "finding_type": "x",
        "severity": "error",
        "record_id": "812",
        "partner_id": pid,
        "partner_name": name,
        "erp_partner_id": 812,
        "month_start": date(2026, 8, 1),
        "amount_usd": amount,
        "detail": "ERP partner 812 maps to no CRM partner",
    }


def test_a_kind_without_findings_passes_and_one_with_findings_warns_with_its_cost() -> None:
    clean = evaluate(UNMAPPED, [], None)
    assert clean.passed and clean.severity == dg.AssetCheckSeverity.WARN
    result = evaluate(UNMAPPED, [_finding(20_000_000.0), _finding(789_315.55)], None)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == (
        "2 ERP partners that map to no CRM partner, holding $20,789,316: their ERP sales and "
        "MDF payments count for no partner."
    )
    assert result.metadata["amount_usd"].value == 20_789_315.55


def test_findings_name_the_partner_beside_its_id() -> None:
    result = evaluate(
        REJECTED, [_finding(None, ("Granite Services Pty Ltd", "0018d0000DJXTAA4"))], None
    )
    assert "Granite Services Pty Ltd (0018d0000DJXTAA4)" in result.metadata["rows"].value
    assert "holding" not in result.description  # no amounts, no sum of them


@pytest.mark.parametrize(
    ("setting", "blocks"),
    [
        ("erp_partner_unmapped>$20000000", True),
        ("erp_partner_unmapped>$30000000", False),
        ("erp_partner_unmapped>1", True),
        ("erp_partner_unmapped>2", False),
    ],
)
def test_a_kind_blocks_only_above_its_threshold(setting: str, blocks: bool) -> None:
    (threshold,) = Settings.from_env({"PARTNERPULSE_BLOCKING_FINDINGS": setting}).blocking_findings
    result = evaluate(UNMAPPED, [_finding(20_000_000.0), _finding(789_315.55)], threshold)
    expected = dg.AssetCheckSeverity.ERROR if blocks else dg.AssetCheckSeverity.WARN
    assert result.severity == expected
    assert ("Above the threshold" in (result.description or "")) == blocks


def test_blocking_is_off_by_default_and_a_bad_threshold_is_named() -> None:
    assert Settings.from_env({}).blocking_findings == ()
    with pytest.raises(ValueError, match="PARTNERPULSE_BLOCKING_FINDINGS 'unmapped=3'"):
        Settings.from_env({"PARTNERPULSE_BLOCKING_FINDINGS": "unmapped=3"})
    assert str(BlockingFinding("pos_file_rejected", 5, False)) == "pos_file_rejected>5"


@pytest.mark.slow
@pytest.mark.xdist_group("world_7")
def test_the_demo_worlds_unmapped_erp_partner_is_a_check_with_its_sales(
    default_world: WorldRun,
) -> None:
    evaluations = default_world.evaluations()
    unmapped = evaluations[check_name(UNMAPPED)]
    assert not unmapped.passed and unmapped.severity == dg.AssetCheckSeverity.WARN
    con = duckdb.connect(str(default_world.warehouse), read_only=True)
    try:
        ((count, amount),) = con.sql(
            "select count(*), sum(amount_usd) from marts.rpt_data_quality_findings "
            "where finding_type = 'erp_partner_unmapped'"
        ).fetchall()
    finally:
        con.close()
    planted = [c for c in default_world.truth["cases"] if c["case"] == "unmapped_erp_partner"]
    assert count == len(planted) == 3
    # the planted partners' ERP sales (22,896,495 USD before generator version 2)
    assert amount == pytest.approx(sum(c["detail"]["sales_usd"] for c in planted), abs=1)
    assert unmapped.metadata["findings"].value == 3
    assert unmapped.metadata["amount_usd"].value == pytest.approx(amount, abs=0.01)
    assert f"holding ${amount:,.0f}" in unmapped.description
    rejected = evaluations[check_name(REJECTED)]
    assert rejected.metadata["findings"].value == 6
    # Each rejected file's partner by name and id.
    rows = rejected.metadata["rows"].value.splitlines()[2:]
    assert len(rows) == 6
    assert all(re.match(r"\| [^|]+ \(0018d\w{13}\) \|", row) for row in rows), rows
    assert {check_name(k) for k in KINDS} <= set(evaluations)
    # Warnings only: the run published.
    assert default_world.result.success


@pytest.mark.slow
@pytest.mark.xdist_group("world_7")
def test_gx_check_tables_name_each_partner_beside_its_id(default_world: WorldRun) -> None:
    behaviour = default_world.evaluations()["partner_reconciliation_partner_behaviour"]
    # The demo world's planted over-report: 0018d000030DJXTAA4, 2026-08, +15%.
    assert "Granite Services Pty Ltd" in behaviour.metadata["findings"].value
    tables = [m.value for k, m in behaviour.metadata.items() if k.startswith("over_reported")]
    (table,) = tables
    assert "| partner_id | partner_name |" in table
    assert "| 0018d000030DJXTAA4 | Granite Services Pty Ltd |" in table
