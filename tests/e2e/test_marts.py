"""The KPI marts of the end-to-end run against values computed independently in pandas.

The `run` fixture (conftest.py) runs a generated world through the whole pipeline; the
oracle (oracle.py) recomputes, from the generator's own tables and following
docs/metrics.md literally, a set of mart values that the comparison below checks
partner-month by partner-month (or month by month): fct_partner_months (gross margin,
partner revenue, wins, win rate, registrations), rpt_ecosystem_months and
rpt_deal_registration_funnel. Amounts agree to the cent, ratios to 1e-9, counts exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.e2e.harness import mart

# One session-scoped run of the world (conftest.py): every test of it on one worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e_world")]

MONEY, RATIO = 0.005, 1e-9


def compare(expected: pd.DataFrame, actual: pd.DataFrame, keys: list[str], columns: dict) -> None:
    """Every row on both sides, and every column equal within its tolerance (NULL = NULL)."""
    actual = actual.copy()
    actual["month_start"] = pd.to_datetime(actual["month_start"])
    merged = expected.merge(
        actual, on=keys, how="outer", suffixes=("_expected", "_actual"), indicator=True
    )
    missing = merged[merged["_merge"] != "both"]
    assert missing.empty, missing[[*keys, "_merge"]].head(10)
    for column, tolerance in columns.items():
        e = merged[f"{column}_expected"].astype(float)
        a = merged[f"{column}_actual"].astype(float)
        same_null = e.isna() == a.isna()
        assert same_null.all(), merged.loc[
            ~same_null, [*keys, f"{column}_expected", f"{column}_actual"]
        ].head(10)
        both = e.notna()
        wrong = both & ((e - a).abs() > tolerance)
        assert not wrong.any(), merged.loc[
            wrong, [*keys, f"{column}_expected", f"{column}_actual"]
        ].head(10)


def test_partner_months_match_the_crm_and_erp_partner_month_by_partner_month(run: dict) -> None:
    expected = run["oracle"].crm_partner_months()
    actual = mart(
        run,
        "select partner_id, month_start, gross_margin_usd, partner_sourced_revenue_usd, "
        "partner_influenced_revenue_usd, partner_led_revenue_usd, opportunities_won, "
        "opportunities_lost, win_rate, deal_regs_submitted from marts.fct_partner_months",
    )
    compare(
        expected,
        actual,
        ["partner_id", "month_start"],
        {
            "gross_margin_usd": MONEY,
            "partner_sourced_revenue_usd": MONEY,
            "partner_influenced_revenue_usd": MONEY,
            "opportunities_won": 0,
            "opportunities_lost": 0,
            "win_rate": RATIO,
            "deal_regs_submitted": 0,
        },
    )
    led = actual["partner_sourced_revenue_usd"] + actual["partner_influenced_revenue_usd"]
    assert ((actual["partner_led_revenue_usd"] - led).abs() < MONEY).all()
    # The world exercises every branch compared: both roles, wins and losses, credit memos.
    assert (expected["partner_sourced_revenue_usd"] > 0).sum() >= 5
    assert (expected["partner_influenced_revenue_usd"] > 0).sum() >= 5
    assert expected["win_rate"].between(0, 1, inclusive="neither").sum() >= 5
    assert expected["win_rate"].isna().sum() >= 1
    assert (expected["gross_margin_usd"] < 0).any()  # the credit-memo-only month


def test_a_soft_deleted_won_opportunity_counts_nowhere(run: dict) -> None:
    oracle = run["oracle"]
    truth = json.loads((oracle.world_dir / "truth.json").read_text())
    cases = [c for c in truth["cases"] if c["case"] == "soft_deleted_opportunity"]
    assert cases, "the world holds no soft_deleted_opportunity case"
    expected = oracle.crm_partner_months().set_index(["partner_id", "month_start"])
    actual = mart(
        run,
        "select partner_id, month_start, partner_led_revenue_usd from marts.fct_partner_months",
    )
    actual["month_start"] = pd.to_datetime(actual["month_start"])
    actual = actual.set_index(["partner_id", "month_start"])["partner_led_revenue_usd"]
    for case in cases:
        detail = case["detail"]
        assert detail["opportunity_id"] not in set(oracle.opportunities()["Id"])
        key = (case["partner_id"], pd.Timestamp(case["month"] + "-01"))
        month = key[1]
        deleted_usd = detail["amount"] * oracle.rate(detail["currency"], month)
        want = (
            expected.loc[key, "partner_sourced_revenue_usd"]
            + expected.loc[key, "partner_influenced_revenue_usd"]
        )
        assert abs(actual.loc[key] - want) < MONEY
        assert abs(actual.loc[key] - (want + deleted_usd)) > MONEY


def test_ecosystem_months_match_the_spine_and_the_crm_month_by_month(run: dict) -> None:
    expected = run["oracle"].ecosystem_months()
    actual = mart(
        run,
        "select month_start, active_partners, new_partners, churned_partners, "
        "partner_churn_rate, sales_volume_usd, partner_led_revenue_usd, total_closed_won_usd, "
        "partner_led_share from marts.rpt_ecosystem_months",
    )
    compare(
        expected,
        actual,
        ["month_start"],
        {
            "active_partners": 0,
            "new_partners": 0,
            "churned_partners": 0,
            "partner_churn_rate": RATIO,
            "sales_volume_usd": MONEY,
            "partner_led_revenue_usd": MONEY,
            "total_closed_won_usd": MONEY,
            "partner_led_share": RATIO,
        },
    )
    assert expected["churned_partners"].sum() >= 1
    assert expected["new_partners"].sum() >= 1
    shares = expected["partner_led_share"].dropna()
    assert len(shares) >= 6 and shares.between(0, 1).all()
    assert shares.between(0, 1, inclusive="neither").sum() >= 3  # direct deals are in the total


def test_ecosystem_regions_add_up_to_the_ecosystem(run: dict) -> None:
    totals = mart(
        run,
        "select e.month_start, e.active_partners, e.sales_volume_usd, e.total_closed_won_usd, "
        "sum(r.active_partners) as region_partners, sum(r.sales_volume_usd) as region_sales, "
        "sum(r.total_closed_won_usd) as region_won "
        "from marts.rpt_ecosystem_months as e "
        "inner join marts.rpt_ecosystem_region_months as r on e.month_start = r.month_start "
        "group by all",
    )
    assert len(totals) == len(mart(run, "select 1 from marts.rpt_ecosystem_months"))
    assert (totals["active_partners"] == totals["region_partners"]).all()
    assert ((totals["sales_volume_usd"] - totals["region_sales"]).abs() < MONEY).all()
    assert ((totals["total_closed_won_usd"] - totals["region_won"]).abs() < MONEY).all()


def test_deal_registration_funnel_matches_the_crm_partner_month_by_partner_month(run: dict) -> None:
    expected = run["oracle"].deal_registration_funnel()
    actual = mart(
        run,
        "select partner_id, month_start, deal_regs_submitted, deal_regs_approved, "
        "deal_regs_rejected, deal_regs_won, approval_rate, conversion_rate "
        "from marts.rpt_deal_registration_funnel",
    )
    compare(
        expected,
        actual,
        ["partner_id", "month_start"],
        {
            "deal_regs_submitted": 0,
            "deal_regs_approved": 0,
            "deal_regs_rejected": 0,
            "deal_regs_won": 0,
            "approval_rate": RATIO,
            "conversion_rate": RATIO,
        },
    )
    assert expected["deal_regs_won"].sum() >= 3
    assert expected["deal_regs_rejected"].sum() >= 1
    assert expected["conversion_rate"].between(0, 1, inclusive="neither").any()


def test_every_kpi_mart_answers_with_rows_and_keys(run: dict) -> None:
    counts = {
        name: int(mart(run, f"select count(*) as n from marts.{name}")["n"].iloc[0])
        for name in (
            "dim_products",
            "dim_product_lines",
            "dim_partner_tier_history",
            "fct_partner_product_months",
            "rpt_partner_sku_reconciliation",
            "rpt_partner_invoice_reconciliation",
            "rpt_partner_scorecard",
            "rpt_campaign_romi",
            "rpt_partner_plan_attainment",
            "rpt_channel_conflicts",
        )
    }
    empty = [name for name, n in counts.items() if n == 0]
    assert not empty, counts
    spine = mart(run, "select count(*) as n from marts.fct_partner_months")["n"].iloc[0]
    lines = mart(run, "select count(*) as n from marts.dim_product_lines")["n"].iloc[0]
    assert counts["fct_partner_product_months"] == spine * lines


def test_product_months_add_up_to_partner_months(run: dict) -> None:
    diff = mart(
        run,
        "select f.partner_id, f.month_start, f.sales_volume_usd - sum(p.sales_volume_usd) as d, "
        "f.gross_margin_usd - sum(p.gross_margin_usd) as m "
        "from marts.fct_partner_months as f "
        "inner join marts.fct_partner_product_months as p "
        "on f.partner_id = p.partner_id and f.month_start = p.month_start "
        "group by f.partner_id, f.month_start, f.sales_volume_usd, f.gross_margin_usd",
    )
    assert len(diff) > 0
    assert (np.abs(diff["d"]) < MONEY).all() and (np.abs(diff["m"]) < MONEY).all()
