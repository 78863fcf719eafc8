-- ERP sell-in per mapped CRM partner and month of transaction date (grain: partner_id x
-- month_start; only months with sales lines; months off the spine included): the product
-- lines of int_erp_sales_aggregated_to_partner_product_months added up. Credit memos are
-- already negative.

with

product_months as (

    select * from {{ ref('int_erp_sales_aggregated_to_partner_product_months') }}

),

final as (

    select
        partner_id,
        month_start,
        sum(sales_volume_usd) as sales_volume_usd,
        sum(units_sold) as units_sold,
        sum(cost_of_goods_usd) as cost_of_goods_usd,
        sum(gross_margin_usd) as gross_margin_usd,
        sum(sales_line_count) as sales_line_count

    from product_months

    group by
        partner_id,
        month_start

)

select * from final
