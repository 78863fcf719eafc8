-- One row per ERP item (grain: item_id): the SKU partners report, its name, standard cost
-- and product line (NetSuite classification).

with

items as (

    select * from {{ ref('stg_erp__items') }}

),

product_lines as (

    select * from {{ ref('stg_erp__classifications') }}

),

final as (

    select
        items.item_id,
        items.sku,
        items.item_name,
        items.product_line_id,
        product_lines.product_line_name,
        items.standard_cost_usd,
        (items.standard_cost_usd is null) as is_missing_standard_cost

    from items

    left join product_lines
        on items.product_line_id = product_lines.product_line_id

)

select * from final
