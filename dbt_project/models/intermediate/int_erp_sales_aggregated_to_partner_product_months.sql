-- ERP sell-in per mapped CRM partner, product line and month of the transaction date
-- (grain: partner_id x product_line_id x month_start; only combinations with sales lines;
-- months off the spine included): the items of int_erp_sales_aggregated_to_partner_item_months
-- added up by their product line (NULL when the item is unknown or unclassified).

with

item_months as (

    select * from {{ ref('int_erp_sales_aggregated_to_partner_item_months') }}

),

final as (

    select
        partner_id,
        product_line_id,
        month_start,
        sum(sales_volume_usd) as sales_volume_usd,
        sum(units_sold) as units_sold,
        sum(cost_of_goods_usd) as cost_of_goods_usd,
        sum(gross_margin_usd) as gross_margin_usd,
        sum(sales_line_count) as sales_line_count

    from item_months

    group by
        partner_id,
        product_line_id,
        month_start

)

select * from final
