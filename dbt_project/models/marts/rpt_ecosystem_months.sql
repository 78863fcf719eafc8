-- The partner ecosystem month by month (grain: month_start), from the first month of any
-- partner's spine to the as_of month. Every measure is computed once, in
-- int_ecosystem_months_aggregated (segment 'all'); rpt_ecosystem_region_months holds the
-- same by region. Definitions: docs/metrics.md.

with

ecosystem_months as (

    select * from {{ ref('int_ecosystem_months_aggregated') }}

    where segment_type = 'ecosystem'

),

final as (

    select
        month_start,
        active_partners,
        new_partners,
        churned_partners,
        partner_churn_rate,
        recruitment_cost_usd,
        cost_per_new_partner_usd,
        countries_covered,
        sales_volume_usd,
        partner_led_revenue_usd,
        total_closed_won_usd,
        partner_led_share,
        sales_volume_cv,
        sales_volume_gini,
        top20_sales_share

    from ecosystem_months

)

select * from final
