-- One row per product line (grain: product_line_id): the NetSuite classifications, the
-- product dimension of fct_partner_product_months.

with

product_lines as (

    select * from {{ ref('stg_erp__classifications') }}

),

items as (

    select * from {{ ref('stg_erp__items') }}

),

item_counts as (

    select
        product_line_id,
        count(*) as item_count

    from items

    where product_line_id is not null

    group by product_line_id

),

final as (

    select
        product_lines.product_line_id,
        product_lines.product_line_name,
        {{ count_or_zero('item_counts.item_count') }} as item_count

    from product_lines

    left join item_counts
        on product_lines.product_line_id = item_counts.product_line_id

)

select * from final
