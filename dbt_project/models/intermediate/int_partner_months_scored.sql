-- ERP sell-in on the partner-month spine with its comparisons (grain: partner_id x
-- month_start): sales of the month (0 without activity), of the previous month and of the
-- same month a year earlier (NULL when that month is not on the spine), and the robust
-- z-score of the month against the trailing months: the spine months among the
-- anomaly_trailing_months (12) before it, needing at least anomaly_min_months (6) of them.
-- robust z = (sales - median) / (1.4826 x MAD); NULL when too few months or when the MAD
-- rounds to 0.00 USD.

{% set trailing_months = var('anomaly_trailing_months') | int %}

with

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

erp_sales as (

    select * from {{ ref('int_erp_sales_aggregated_to_partner_months') }}

),

monthly_sales as (

    select
        spine.partner_id,
        spine.month_start,
        coalesce(erp_sales.sales_volume_usd, 0) as sales_volume_usd,
        coalesce(erp_sales.units_sold, 0) as units_sold,
        coalesce(erp_sales.cost_of_goods_usd, 0) as cost_of_goods_usd,
        coalesce(erp_sales.gross_margin_usd, 0) as gross_margin_usd

    from spine

    left join erp_sales
        on spine.partner_id = erp_sales.partner_id
        and spine.month_start = erp_sales.month_start

),

trailing_history as (

    select
        current_month.partner_id,
        current_month.month_start,
        past_month.sales_volume_usd as past_sales_volume_usd

    from monthly_sales as current_month

    inner join monthly_sales as past_month
        on current_month.partner_id = past_month.partner_id
        and past_month.month_start
            >= {{ add_months('current_month.month_start', -trailing_months) }}
        and past_month.month_start < current_month.month_start

),

trailing_medians as (

    select
        partner_id,
        month_start,
        count(*) as trailing_month_count,
        {{ median('past_sales_volume_usd') }} as trailing_median_usd

    from trailing_history

    group by
        partner_id,
        month_start

),

trailing_deviations as (

    select
        trailing_history.partner_id,
        trailing_history.month_start,
        abs(trailing_history.past_sales_volume_usd - trailing_medians.trailing_median_usd)
            as absolute_deviation_usd

    from trailing_history

    inner join trailing_medians
        on trailing_history.partner_id = trailing_medians.partner_id
        and trailing_history.month_start = trailing_medians.month_start

),

trailing_mads as (

    select
        partner_id,
        month_start,
        {{ median('absolute_deviation_usd') }} as trailing_mad_usd

    from trailing_deviations

    group by
        partner_id,
        month_start

),

scored as (

    select
        monthly_sales.partner_id,
        monthly_sales.month_start,
        monthly_sales.sales_volume_usd,
        monthly_sales.units_sold,
        monthly_sales.cost_of_goods_usd,
        monthly_sales.gross_margin_usd,
        previous_month.sales_volume_usd as previous_month_sales_volume_usd,
        year_ago_month.sales_volume_usd as year_ago_sales_volume_usd,
        coalesce(trailing_medians.trailing_month_count, 0) as trailing_month_count,
        trailing_medians.trailing_median_usd,
        trailing_mads.trailing_mad_usd,
        case
            when coalesce(trailing_medians.trailing_month_count, 0)
                >= {{ var('anomaly_min_months') }}
                and round(trailing_mads.trailing_mad_usd, 2) <> 0
                then (monthly_sales.sales_volume_usd - trailing_medians.trailing_median_usd)
                    / (1.4826 * trailing_mads.trailing_mad_usd)
        end as sales_volume_robust_z

    from monthly_sales

    left join monthly_sales as previous_month
        on monthly_sales.partner_id = previous_month.partner_id
        and previous_month.month_start = {{ add_months('monthly_sales.month_start', -1) }}

    left join monthly_sales as year_ago_month
        on monthly_sales.partner_id = year_ago_month.partner_id
        and year_ago_month.month_start = {{ add_months('monthly_sales.month_start', -12) }}

    left join trailing_medians
        on monthly_sales.partner_id = trailing_medians.partner_id
        and monthly_sales.month_start = trailing_medians.month_start

    left join trailing_mads
        on monthly_sales.partner_id = trailing_mads.partner_id
        and monthly_sales.month_start = trailing_mads.month_start

),

final as (

    select
        *,
        coalesce(abs(sales_volume_robust_z) > {{ var('anomaly_z_threshold') }}, false)
            as is_sales_anomaly

    from scored

)

select * from final
