-- ERP sell-in per mapped CRM partner and month of transaction date (grain: partner_id x
-- month_start; only months with sales lines). Credit memos are already negative.

with

sales_lines as (

    select * from {{ ref('int_erp_sales_lines_converted') }}

),

final as (

    select
        partner_id,
        month_start,
        sum(sales_usd) as sales_volume_usd,
        sum(units) as units_sold,
        sum(cost_of_goods_usd) as cost_of_goods_usd,
        sum(gross_margin_usd) as gross_margin_usd,
        count(*) as sales_line_count

    from sales_lines

    where partner_id is not null

    group by
        partner_id,
        month_start

)

select * from final
