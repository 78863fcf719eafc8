"""The suites, checkpoints and frames are consistent, and editing a suite is all it takes.

Light tests: no pipeline run. Great Expectations runs on small frames built here.
"""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from orchestration.checks import all_checks, gx, gx_context
from orchestration.partitions import monthly_partitions

# One worker runs every in-process GX test: each worker that imports GX pays ~6 s for it.
pytestmark = pytest.mark.xdist_group("gx_in_process")

# Each check sits on the asset of the frame it validates (a dbt model).
CHECKS_BY_ASSET = {
    "validation/val_sales_reports": {
        "sales_reports_structure",
        "sales_reports_partner_behaviour",
    },
    "validation/val_pos_reports": {
        "pos_reports_structure",
        "pos_reports_partner_behaviour",
    },
    "validation/val_report_line_matching": {
        "sales_reports_line_matching",
        "pos_reports_line_matching",
    },
    "validation/val_partner_reconciliation": {
        "partner_reconciliation_structure",
        "partner_reconciliation_partner_behaviour",
        "partner_reconciliation_by_month",
    },
    "validation/val_report_completeness": {
        "report_completeness",
        "report_completeness_by_month",
    },
    "validation/val_partner_sku_reconciliation": {
        "partner_sku_reconciliation_structure",
        "partner_sku_reconciliation_partner_behaviour",
    },
}
REPO = Path(__file__).resolve().parents[2]


def gx_specs() -> list[dg.AssetCheckSpec]:
    return [
        spec
        for checks in all_checks
        if checks.node_def.name.startswith("gx_")
        for spec in checks.check_specs
    ]


def test_every_frame_asset_has_its_checks() -> None:
    found: dict[str, set[str]] = {}
    for spec in gx_specs():
        found.setdefault(spec.asset_key.to_user_string(), set()).add(spec.name)
    assert found == CHECKS_BY_ASSET


def test_only_structure_checks_block() -> None:
    for spec in gx_specs():
        assert spec.blocking == spec.name.endswith("_structure"), spec.name


def test_only_the_by_month_checks_have_month_partitions() -> None:
    for spec in gx_specs():
        partitioned = spec.partitions_def is monthly_partitions
        assert partitioned == spec.name.endswith("_by_month"), spec.name


def test_every_expectation_is_named_explained_and_has_a_severity() -> None:
    for suite in {v.suite for v in gx.VALIDATIONS}:
        expectations = gx_context.load_suite(suite)["expectations"]
        rules = [gx_context.rule_of(x) for x in expectations]
        assert len(rules) == len(set(rules)), suite
        for x in expectations:
            assert x["severity"] in ("critical", "warning", "info"), (suite, x)
            assert x["meta"]["finding"], (suite, x)


def test_every_checkpoint_has_its_frame_model_and_index_columns(gx_project: Path) -> None:
    models = REPO / "dbt_project" / "models" / "validation"
    for v in gx.VALIDATIONS:
        assert (models / f"{v.model}.sql").is_file(), v.model
        path = gx_project / "gx" / "checkpoints" / f"{v.checkpoint}.json"
        checkpoint = json.loads(path.read_text())
        index = checkpoint["result_format"]["unexpected_index_column_names"]
        assert index[:2] == ["partner_id", "month_start"], v.checkpoint
        assert gx_context.index_columns(v.checkpoint) == tuple(index)


def test_the_frames_read_no_raw_table() -> None:
    """The frames read the models (staging applies the org's mapping), never a raw table."""
    for sql in (REPO / "dbt_project" / "models" / "validation").glob("*.sql"):
        text = sql.read_text()
        assert "source(" not in text and "raw_" not in text, sql.name
        assert "ref(" in text, sql.name


def recon_frame(statuses: list[str]) -> pd.DataFrame:
    n = len(statuses)
    return pd.DataFrame(
        {
            "partner_id": [f"P{i:03d}" for i in range(n)],
            "month_start": pd.to_datetime(["2026-03-01"] * n),
            "erp_sales_usd": [1000.0] * n,
            "reported_sales_usd": [1000.0] * n,
            "variance_usd": [0.0] * n,
            "variance_pct": [0.0] * n,
            "status": statuses,
            "explanation": [None] * n,
        }
    )


@pytest.mark.parametrize(("unreconciled", "passes"), [(4, True), (6, False)])
def test_the_reconciled_share_threshold_is_a_table_level_warning(
    unreconciled: int, passes: bool
) -> None:
    statuses = ["matched"] * (100 - unreconciled) + ["under_reported"] * unreconciled
    statuses += ["no_activity"] * 50  # not counted: no report due, no sales
    run = gx_context.run_checkpoint("partner_reconciliation", recon_frame(statuses))
    (share,) = [o for o in run.outcomes if o.rule == "reconciled_share"]
    assert share.severity == "warning"
    assert share.success is passes
    assert share.element_count == 100
    assert share.is_share_rule


def test_adding_an_expectation_to_the_suite_json_adds_a_finding(gx_project: Path) -> None:
    path = gx_project / "gx" / "expectations" / "report_completeness.json"
    original = path.read_text()
    suite = json.loads(original)
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "erp_sales_usd", "max_value": 1_000_000},
            "meta": {"rule": "very_large_month", "finding": "a month above 1M USD"},
            "severity": "warning",
        }
    )
    path.write_text(json.dumps(suite, indent=2))
    try:
        frame = pd.DataFrame(
            {
                "partner_id": ["P1", "P2"],
                "month_start": pd.to_datetime(["2026-03-01", "2026-03-01"]),
                "has_effective_report": [True, True],
                "erp_sales_usd": [5_000.0, 2_500_000.0],
            }
        )
        run = gx_context.run_checkpoint("report_completeness", frame)
    finally:
        path.write_text(original)
    (added,) = [o for o in run.outcomes if o.rule == "very_large_month"]
    assert not added.success
    assert [r["partner_id"] for r in added.unexpected_rows] == ["P2"]


def test_docs_describe_every_rule_of_every_suite() -> None:
    docs = (REPO / "docs" / "data-quality.md").read_text()
    for suite in {v.suite for v in gx.VALIDATIONS}:
        assert f"`{suite}`" in docs, suite
        for x in gx_context.load_suite(suite)["expectations"]:
            assert f"`{gx_context.rule_of(x)}`" in docs, (suite, gx_context.rule_of(x))
