-- Partner performance per month (grain: partner_id x month_start), one row per row of the
-- partner-month spine. Sums and counts of months without activity are 0; ratios with a zero
-- denominator are NULL; reported_sales_usd is NULL when the partner has no effective report
-- for the month. Definitions: docs/metrics.md.

with

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

sales as (

    select * from {{ ref('int_partner_months_scored') }}

),

effective_reports as (

    select * from {{ ref('int_partner_reports_ranked') }}

    where is_effective

),

opportunities as (

    select * from {{ ref('int_opportunities_aggregated_to_partner_months') }}

),

leads as (

    select * from {{ ref('int_leads_aggregated_to_partner_months') }}

),

deal_registrations as (

    select * from {{ ref('int_deal_registrations_aggregated_to_partner_months') }}

),

mdf as (

    select * from {{ ref('int_mdf_aggregated_to_partner_months') }}

),

trainings as (

    select * from {{ ref('int_trainings_aggregated_to_partner_months') }}

),

asset_usage as (

    select * from {{ ref('int_asset_usage_aggregated_to_partner_months') }}

),

business_plans as (

    select * from {{ ref('int_business_plans_converted') }}

),

joined as (

    select
        spine.partner_id,
        spine.month_start,

        -- ERP sell-in
        sales.sales_volume_usd,
        sales.units_sold,
        sales.gross_margin_usd,
        {{ safe_divide_usd('sales.sales_volume_usd', 'sales.previous_month_sales_volume_usd') }}
            - 1
            as sales_volume_mom_pct,
        {{ safe_divide_usd('sales.sales_volume_usd', 'sales.year_ago_sales_volume_usd') }} - 1
            as sales_volume_yoy_pct,
        sales.sales_volume_robust_z,
        sales.is_sales_anomaly,

        -- partner-reported sales
        effective_reports.reported_sales_usd,
        effective_reports.revision as effective_report_revision,
        effective_reports.report_source as effective_report_source,

        -- CRM opportunities
        coalesce(opportunities.partner_sourced_revenue_usd, 0) as partner_sourced_revenue_usd,
        coalesce(opportunities.partner_influenced_revenue_usd, 0)
            as partner_influenced_revenue_usd,
        coalesce(opportunities.partner_sourced_revenue_usd, 0)
            + coalesce(opportunities.partner_influenced_revenue_usd, 0) as partner_led_revenue_usd,
        coalesce(opportunities.pipeline_created_usd, 0) as pipeline_created_usd,
        {{ count_or_zero('opportunities.opportunities_created') }} as opportunities_created,
        {{ count_or_zero('opportunities.opportunities_won') }} as opportunities_won,
        {{ count_or_zero('opportunities.opportunities_lost') }} as opportunities_lost,
        {{ safe_divide(
            'cast(opportunities.opportunities_won as ' ~ type_double() ~ ')',
            'opportunities.opportunities_won + opportunities.opportunities_lost'
        ) }} as win_rate,
        {{ safe_divide('opportunities.won_amount_usd_sum', 'opportunities.won_amount_count') }}
            as avg_won_deal_usd,
        {{ safe_divide(
            'cast(opportunities.won_days_to_close_sum as ' ~ type_double() ~ ')',
            'opportunities.won_days_to_close_count'
        ) }} as avg_days_to_close,

        -- CRM leads and deal registrations
        {{ count_or_zero('leads.leads_created') }} as leads_created,
        {{ count_or_zero('leads.mqls') }} as mqls,
        {{ count_or_zero('leads.sqls') }} as sqls,
        {{ count_or_zero('deal_registrations.deal_regs_submitted') }} as deal_regs_submitted,
        coalesce(deal_registrations.deal_reg_value_submitted_usd, 0)
            as deal_reg_value_submitted_usd,
        {{ count_or_zero('deal_registrations.deal_regs_approved') }} as deal_regs_approved,
        {{ count_or_zero('deal_registrations.deal_regs_rejected') }} as deal_regs_rejected,

        -- market development funds
        {{ count_or_zero('mdf.mdf_claims_submitted') }} as mdf_claims_submitted,
        coalesce(mdf.mdf_requested_usd, 0) as mdf_requested_usd,
        {{ count_or_zero('mdf.mdf_claims_approved') }} as mdf_claims_approved,
        {{ count_or_zero('mdf.mdf_claims_denied') }} as mdf_claims_denied,
        coalesce(mdf.mdf_approved_usd, 0) as mdf_approved_usd,
        coalesce(mdf.mdf_paid_usd, 0) as mdf_paid_usd,

        -- enablement and engagement
        {{ count_or_zero('trainings.courses_completed') }} as courses_completed,
        {{ count_or_zero('trainings.certifications_earned') }} as certifications_earned,
        {{ count_or_zero('trainings.active_certifications') }} as active_certifications,
        {{ count_or_zero('trainings.overdue_trainings') }} as overdue_trainings,
        {{ count_or_zero('asset_usage.asset_downloads') }} as asset_downloads,
        {{ count_or_zero('asset_usage.asset_shares') }} as asset_shares,
        {{ count_or_zero('asset_usage.asset_cobrands') }} as asset_cobrands,

        -- business plan
        business_plans.revenue_target_usd / 3 as revenue_target_usd,
        {{ safe_divide_usd('sales.sales_volume_usd', 'business_plans.revenue_target_usd / 3') }}
            as revenue_attainment

    from spine

    inner join sales
        on spine.partner_id = sales.partner_id
        and spine.month_start = sales.month_start

    inner join trainings
        on spine.partner_id = trainings.partner_id
        and spine.month_start = trainings.month_start

    left join effective_reports
        on spine.partner_id = effective_reports.partner_id
        and spine.month_start = effective_reports.period_month_start

    left join opportunities
        on spine.partner_id = opportunities.partner_id
        and spine.month_start = opportunities.month_start

    left join leads
        on spine.partner_id = leads.partner_id
        and spine.month_start = leads.month_start

    left join deal_registrations
        on spine.partner_id = deal_registrations.partner_id
        and spine.month_start = deal_registrations.month_start

    left join mdf
        on spine.partner_id = mdf.partner_id
        and spine.month_start = mdf.month_start

    left join asset_usage
        on spine.partner_id = asset_usage.partner_id
        and spine.month_start = asset_usage.month_start

    left join business_plans
        on spine.partner_id = business_plans.partner_id
        and spine.month_start >= business_plans.quarter_start_date
        and spine.month_start < {{ add_months('business_plans.quarter_start_date', 3) }}

)

select * from joined
