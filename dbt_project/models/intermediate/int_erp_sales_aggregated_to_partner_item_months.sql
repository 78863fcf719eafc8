-- ERP sell-in per mapped CRM partner, item and month of the transaction date (grain:
-- partner_id x item_id x month_start; only combinations with sales lines; months off the
-- spine included): the incremental ERP aggregate mapped to CRM partners, with the item's
-- SKU, product line and cost of goods (units x the item's standard cost now, 0 when it has
-- none). A view: it is cheap to derive and always follows the current mapping and items.
-- A line without an item gets the SKU '(no item)'.

{{ config(materialized='view') }}

with

erp_item_months as (

    select * from {{ ref('int_erp_sales_aggregated_to_erp_partner_item_months') }}

),

erp_partners_mapped as (

    select * from {{ ref('int_erp_partners_mapped') }}

),

items as (

    select * from {{ ref('stg_erp__items') }}

),

final as (

    select
        erp_partners_mapped.partner_id,
        erp_item_months.item_id,
        coalesce(items.sku, '(no item)') as sku,
        items.product_line_id,
        erp_item_months.month_start,
        erp_item_months.sales_usd as sales_volume_usd,
        erp_item_months.units as units_sold,
        erp_item_months.units * coalesce(items.standard_cost_usd, 0) as cost_of_goods_usd,
        erp_item_months.sales_usd
            - erp_item_months.units * coalesce(items.standard_cost_usd, 0) as gross_margin_usd,
        erp_item_months.sales_line_count

    from erp_item_months

    inner join erp_partners_mapped
        on erp_item_months.erp_partner_id = erp_partners_mapped.erp_partner_id

    left join items
        on erp_item_months.item_id = items.item_id

    where erp_partners_mapped.partner_id is not null

)

select * from final
