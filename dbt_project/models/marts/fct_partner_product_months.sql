-- Partner performance per product line and month (grain: partner_id x product_line_id x
-- month_start): every row of the partner-month spine times every product line, so product
-- lines without activity are 0. ERP sell-in as in fct_partner_months, split by the item's
-- product line; reported sales and units are the effective report's lines whose SKU names
-- an item of the product line (NULL when the partner has no effective report for the
-- month, as in fct_partner_months). Lines of unknown SKUs and ERP items without a product
-- line belong to no product line, so the product lines of a month can add up to less than
-- fct_partner_months (those lines are data-quality findings).

with

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

product_lines as (

    select * from {{ ref('stg_erp__classifications') }}

),

erp_sales as (

    select * from {{ ref('int_erp_sales_aggregated_to_partner_product_months') }}

),

partner_months as (

    select * from {{ ref('fct_partner_months') }}

),

effective_report_lines as (

    select * from {{ ref('int_partner_report_lines_effective') }}

),

reported as (

    select
        partner_id,
        month_start,
        product_line_id,
        sum(amount_usd) as reported_sales_usd,
        sum(quantity) as reported_units

    from effective_report_lines

    where product_line_id is not null

    group by
        partner_id,
        month_start,
        product_line_id

),

spine_product_lines as (

    select
        spine.partner_id,
        product_lines.product_line_id,
        product_lines.product_line_name,
        spine.month_start

    from spine

    cross join product_lines

),

final as (

    select
        spine_product_lines.partner_id,
        spine_product_lines.product_line_id,
        spine_product_lines.product_line_name,
        spine_product_lines.month_start,
        coalesce(erp_sales.sales_volume_usd, 0) as sales_volume_usd,
        coalesce(erp_sales.units_sold, 0) as units_sold,
        coalesce(erp_sales.cost_of_goods_usd, 0) as cost_of_goods_usd,
        coalesce(erp_sales.gross_margin_usd, 0) as gross_margin_usd,
        case
            when partner_months.reported_sales_usd is not null
                then coalesce(reported.reported_sales_usd, 0)
        end as reported_sales_usd,
        case
            when partner_months.reported_sales_usd is not null
                then coalesce(reported.reported_units, 0)
        end as reported_units

    from spine_product_lines

    inner join partner_months
        on spine_product_lines.partner_id = partner_months.partner_id
        and spine_product_lines.month_start = partner_months.month_start

    left join erp_sales
        on spine_product_lines.partner_id = erp_sales.partner_id
        and spine_product_lines.product_line_id = erp_sales.product_line_id
        and spine_product_lines.month_start = erp_sales.month_start

    left join reported
        on spine_product_lines.partner_id = reported.partner_id
        and spine_product_lines.product_line_id = reported.product_line_id
        and spine_product_lines.month_start = reported.month_start

)

select * from final
