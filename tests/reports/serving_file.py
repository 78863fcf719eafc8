"""A hand-made serving file for the pages: the published marts the pages read, with only
the columns they use and a few partners whose forecasts are chosen for a case each, so
that a test can say what a page must read without running the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from forecasts import schema as forecast_schema

SCORED = date(2026, 10, 1)  # the scored month, and the forecasts' origin

# Only what the pages' queries and templates read; the real marts have more.
DDL = """
create schema marts;
create table main._publication (publication_id varchar, run_id varchar,
    published_at timestamp, table_schema varchar, table_name varchar, row_count bigint);
create table marts.dim_partners (partner_id varchar, partner_name varchar,
    partner_tier varchar, partner_type varchar, region varchar, billing_country varchar,
    partner_since_date date, is_active boolean);
create table marts.rpt_partner_scorecard (partner_id varchar, as_of_month date,
    partner_name varchar, partner_tier varchar, eligible_tier varchar,
    tier_eligibility varchar, next_tier varchar, next_tier_min_sales_usd integer,
    next_tier_sales_gap_usd double, next_tier_min_active_certifications integer,
    next_tier_certifications_gap bigint, capability_score double,
    active_certifications bigint, t12m_sales_volume_usd double,
    t12m_sales_yoy_growth double, t12m_revenue_attainment double);
create table marts.fct_partner_months (partner_id varchar, month_start date,
    sales_volume_usd double, sales_volume_yoy_pct double, units_sold double,
    gross_margin_usd double, mdf_claims_submitted bigint default 0,
    mdf_claims_approved bigint default 0, mdf_claims_denied bigint default 0,
    mdf_approved_usd double default 0, mdf_paid_usd double default 0,
    courses_completed bigint default 0, certifications_earned bigint default 0,
    active_certifications bigint default 0, overdue_trainings bigint default 0,
    deal_reg_value_submitted_usd double default 0);
create table marts.rpt_partner_plan_attainment (partner_id varchar,
    quarter_start_date date, quarter varchar, is_quarter_complete boolean,
    revenue_actual_usd double, revenue_target_usd double, revenue_attainment double,
    deal_reg_value_actual_usd double, deal_reg_value_target_usd double);
create table marts.rpt_partner_reconciliation (partner_id varchar, month_start date,
    erp_sales_usd double, reported_sales_usd double, variance_usd double,
    variance_pct double, status varchar);
create table marts.rpt_data_quality_findings (finding_type varchar, severity varchar,
    record_id varchar, partner_id varchar, month_start date, amount_usd double,
    detail varchar);
create table marts.rpt_deal_registration_funnel (partner_id varchar, month_start date,
    deal_regs_submitted bigint, deal_reg_value_submitted_usd double,
    deal_regs_approved bigint, deal_regs_rejected bigint, deal_regs_expired bigint,
    deal_regs_pending bigint, deal_regs_won bigint, median_days_to_decision double);
create table marts.rpt_campaign_romi (campaign_id varchar, campaign_name varchar,
    campaign_type varchar, partner_id varchar, start_date date, mdf_paid_usd double,
    opportunities_won bigint, attributed_revenue_usd double, romi double);
create table marts.rpt_partner_scorecard_measures (partner_id varchar, as_of_month date,
    measure_name varchar, window_months integer, measure_value double,
    percentile_rank double, tier_average double, tier_top_decile double,
    tier_partners_ranked bigint);
create table marts.rpt_ecosystem_months (month_start date, active_partners bigint,
    new_partners bigint, churned_partners bigint, partner_churn_rate double,
    recruitment_cost_usd double, countries_covered bigint, sales_volume_usd double,
    partner_led_revenue_usd double default 0, total_closed_won_usd double default 0,
    partner_led_share double, sales_volume_cv double, sales_volume_gini double,
    top20_sales_share double);
create table marts.rpt_ecosystem_region_months (region varchar, month_start date,
    active_partners bigint, sales_volume_usd double, partner_led_revenue_usd double,
    total_closed_won_usd double);
"""


# rpt_partner_specialisation's documented columns
# (dbt_project/models/marts/segments/_segments__models.yml).
SPECIALISATION_DDL = """
create table marts.rpt_partner_specialisation (partner_id varchar, segment_type varchar,
    segment varchar, product_line_id integer, partner_tier varchar,
    window_start_month date, window_end_month date, sales_volume_usd double,
    partner_sales_volume_usd double, end_customers bigint, partner_end_customers bigint,
    sales_share double, ecosystem_sales_share double, location_quotient double,
    sales_share_standard_error double, location_quotient_lower_bound double,
    is_specialist boolean, tier_rank bigint, tier_partners bigint, is_priority boolean,
    prior_sales_share double, prior_ecosystem_sales_share double,
    prior_location_quotient double, prior_location_quotient_lower_bound double,
    location_quotient_change double, was_specialist boolean,
    is_becoming_specialist boolean);
"""


def segment(partner: Partner, segment_type: str, name: str, **values) -> dict:
    """A row of rpt_partner_specialisation for `partner`: its share, the ecosystem's and
    their quotient, the rest from `values` (the prior window's quotient as `prior`)."""
    share, ecosystem = values.pop("share"), values.pop("ecosystem")
    prior = values.pop("prior", None)
    quotient = share / ecosystem
    return {
        "partner_id": partner.partner_id,
        "segment_type": segment_type,
        "segment": name,
        "partner_tier": "Gold",
        "window_start_month": month(11),
        "window_end_month": SCORED,
        "sales_volume_usd": share * partner.level_usd * 12,
        "partner_sales_volume_usd": partner.level_usd * 12,
        "end_customers": 6,
        "partner_end_customers": 12,
        "sales_share": share,
        "ecosystem_sales_share": ecosystem,
        "location_quotient": quotient,
        "is_specialist": False,
        "tier_rank": 1,
        "tier_partners": 7,
        "is_priority": False,
        "prior_location_quotient": prior,
        "location_quotient_change": None if prior is None else quotient - prior,
        "was_specialist": None if prior is None else False,
        "is_becoming_specialist": False,
        **values,
    }


def month(back: int, start: date = SCORED) -> date:
    """The month `back` months before `start` (negative: after it)."""
    index = start.year * 12 + start.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


@dataclass
class Partner:
    """One partner of the file and its forecast's case."""

    partner_id: str
    partner_name: str
    months: int  # complete months of sales, ending with SCORED
    level_usd: float  # its monthly sales, the same every month
    series_class: str
    forecast_model: str
    forecast_usd: float | None = None
    origins: int | None = None  # backtest origins; None: not backtested
    within_80: int = 0  # of origins x 6 backtest forecasts
    within_95: int = 0
    wape: float | None = None
    baseline_wape: float | None = None


def _forecast_rows(p: Partner) -> list[dict]:
    tested = p.origins is not None
    forecasts = p.origins * 6 if tested else None
    rows = []
    for horizon in range(1, 7):
        has_model = p.forecast_model != "none"
        point = p.forecast_usd + 1000 * horizon if has_model else None
        spread = (0.25 + 0.05 * horizon) * p.forecast_usd if has_model else None
        rows.append(
            {
                "partner_id": p.partner_id,
                "month_start": month(-horizon),
                "horizon": horizon,
                "origin_month": SCORED,
                "series_class": p.series_class,
                "forecast_model": p.forecast_model,
                "history_months": p.months,
                "forecast_usd": point,
                "forecast_lo_80_usd": point - spread if has_model else None,
                "forecast_hi_80_usd": point + spread if has_model else None,
                "forecast_lo_95_usd": point - 2 * spread if has_model else None,
                "forecast_hi_95_usd": point + 2 * spread if has_model else None,
                "backtest_origins": p.origins,
                "backtest_wape": p.wape,
                "baseline_wape": p.baseline_wape,
                "backtest_mase": p.wape * 2 if tested else None,
                "baseline_mase": p.baseline_wape * 2 if tested else None,
                "backtest_coverage_80": p.within_80 / forecasts if tested else None,
                "backtest_coverage_95": p.within_95 / forecasts if tested else None,
                "beats_baseline": p.wape < p.baseline_wape if tested else None,
            }
        )
    return rows


def _backtest_rows(p: Partner) -> list[dict]:
    if p.origins is None:
        return []
    rows = []
    for i in range(p.origins * 6):
        origin, horizon = month(p.origins + 6 - i // 6), i % 6 + 1
        rows.append(
            {
                "partner_id": p.partner_id,
                "origin_month": origin,
                "horizon": horizon,
                "month_start": month(-horizon, origin),
                "series_class": p.series_class,
                "forecast_model": p.forecast_model,
                "forecast_usd": p.level_usd,
                "actual_usd": p.level_usd,
                "is_within_80": i < p.within_80,
                "is_within_95": i < p.within_95,
                "backtest_origins": p.origins,
                "backtest_wape": p.wape,
                "baseline_wape": p.baseline_wape,
                "beats_baseline": p.wape < p.baseline_wape,
            }
        )
    return rows


def _arrow(rows: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(
        [{name: r.get(name) for name in schema.names} for r in rows], schema=schema
    )


def write(
    path: Path,
    partners: list[Partner],
    *,
    forecasts: bool = True,
    specialisation: list[dict] | None = None,
) -> Path:
    """The serving file at `path`: `partners` active, their months of sales, a scorecard
    scored at SCORED, (with `forecasts`) the three forecast marts, and (given its rows)
    rpt_partner_specialisation."""
    con = duckdb.connect(str(path))
    try:
        con.execute(DDL)
        con.execute(
            "insert into main._publication values ('pub-1', 'run-1', ?, 'marts', "
            "'dim_partners', ?)",
            [datetime(2026, 11, 4, 6, 0), len(partners)],
        )
        for p in partners:
            con.execute(
                "insert into marts.dim_partners values (?, ?, 'Gold', 'Reseller', 'EMEA', "
                "'DE', ?, true)",
                [p.partner_id, p.partner_name, month(p.months - 1)],
            )
            con.execute(
                "insert into marts.rpt_partner_scorecard (partner_id, as_of_month, "
                "partner_name, partner_tier, eligible_tier, tier_eligibility, "
                "active_certifications, t12m_sales_volume_usd) "
                "values (?, ?, ?, 'Gold', 'Gold', 'meets_tier', 2, ?)",
                [p.partner_id, SCORED, p.partner_name, p.level_usd * min(p.months, 12)],
            )
            for back in range(p.months):
                con.execute(
                    "insert into marts.fct_partner_months (partner_id, month_start, "
                    "sales_volume_usd, units_sold, gross_margin_usd) values (?, ?, ?, 10, ?)",
                    [p.partner_id, month(back), p.level_usd, p.level_usd / 4],
                )
        for back in range(24):
            con.execute(
                "insert into marts.rpt_ecosystem_months (month_start, active_partners, "
                "new_partners, churned_partners, sales_volume_usd) values (?, ?, 0, 0, ?)",
                [month(back), len(partners), sum(p.level_usd for p in partners if back < p.months)],
            )
        if specialisation is not None:
            con.execute(SPECIALISATION_DDL)
            for row in specialisation:
                con.execute(
                    f"insert into marts.rpt_partner_specialisation ({', '.join(row)}) "
                    f"values ({', '.join('?' for _ in row)})",
                    list(row.values()),
                )
        if forecasts:
            forecast = [r for p in partners for r in _forecast_rows(p)]
            backtest = [r for p in partners for r in _backtest_rows(p)]
            modelled = [p for p in partners if p.forecast_model != "none"]
            total = sum(p.level_usd for p in partners)
            ecosystem = [
                {
                    "month_start": month(-h),
                    "horizon": h,
                    "origin_month": SCORED,
                    "forecast_model": "AutoTheta",
                    "forecast_usd": total + 500 * h,
                    "forecast_lo_80_usd": total * 0.9,
                    "forecast_hi_80_usd": total * 1.1 + 1000 * h,
                    "forecast_lo_95_usd": total * 0.8,
                    "forecast_hi_95_usd": total * 1.2 + 1000 * h,
                    "partner_forecast_sum_usd": sum(p.forecast_usd for p in modelled),
                    "partners_forecast": len(modelled),
                }
                for h in range(1, 7)
            ]
            tables = zip(
                forecast_schema.TABLES,
                (forecast, backtest, ecosystem),
                (
                    forecast_schema.FORECAST_SCHEMA,
                    forecast_schema.BACKTEST_SCHEMA,
                    forecast_schema.ECOSYSTEM_SCHEMA,
                ),
                strict=True,
            )
            for name, rows, schema in tables:
                con.register("arrow_rows", _arrow(rows, schema))
                con.execute(f"create table marts.{name} as select * from arrow_rows")
                con.unregister("arrow_rows")
    finally:
        con.close()
    return path
