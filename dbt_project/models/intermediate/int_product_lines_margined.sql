-- The gross-margin ratio of each product line, and of all ERP sales together (grain:
-- product_line_name; the row with product_line_id NULL and product_line_name '(all)' is
-- the whole ERP): gross margin / sales over every ERP sales line ever recorded (partner,
-- unmapped and direct sales alike), cost of goods at the items' standard cost now. It
-- gives a CRM opportunity, which carries no cost, its gross margin
-- (int_opportunities_classified): amount x the ratio of its Product_Line__c, or of the
-- whole ERP when the product line has no ERP sales. NULL when sales round to 0.

with

item_months as (

    select * from {{ ref('int_erp_sales_aggregated_to_erp_partner_item_months') }}

),

items as (

    select * from {{ ref('stg_erp__items') }}

),

product_lines as (

    select * from {{ ref('stg_erp__classifications') }}

),

costed as (

    select
        items.product_line_id,
        item_months.sales_usd,
        item_months.units * coalesce(items.standard_cost_usd, 0) as cost_of_goods_usd

    from item_months

    left join items
        on item_months.item_id = items.item_id

),

by_product_line as (

    select
        product_lines.product_line_id,
        product_lines.product_line_name,
        coalesce(sum(costed.sales_usd), 0) as sales_usd,
        coalesce(sum(costed.cost_of_goods_usd), 0) as cost_of_goods_usd

    from product_lines

    left join costed
        on product_lines.product_line_id = costed.product_line_id

    group by
        product_lines.product_line_id,
        product_lines.product_line_name

),

whole_erp as (

    select
        cast(null as {{ dbt.type_bigint() }}) as product_line_id,
        cast('(all)' as {{ dbt.type_string() }}) as product_line_name,
        coalesce(sum(sales_usd), 0) as sales_usd,
        coalesce(sum(cost_of_goods_usd), 0) as cost_of_goods_usd

    from costed

),

unioned as (

    select * from by_product_line

    union all

    select * from whole_erp

),

final as (

    select
        product_line_id,
        product_line_name,
        sales_usd,
        cost_of_goods_usd,
        sales_usd - cost_of_goods_usd as gross_margin_usd,
        {{ safe_divide_usd('sales_usd - cost_of_goods_usd', 'sales_usd') }} as gross_margin_ratio

    from unioned

)

select * from final
