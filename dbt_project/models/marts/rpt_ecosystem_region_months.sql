-- The partner ecosystem month by month and region (grain: region x month_start): the
-- measures of rpt_ecosystem_months within each region (the partner's region now; 'Unknown'
-- when it has none), computed once in int_ecosystem_months_aggregated. A direct deal counts
-- in total_closed_won_usd under the region of its end customer.

with

region_months as (

    select * from {{ ref('int_ecosystem_months_aggregated') }}

    where segment_type = 'region'

),

final as (

    select
        segment as region,
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

    from region_months

)

select * from final
