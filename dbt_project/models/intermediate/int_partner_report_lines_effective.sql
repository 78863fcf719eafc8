-- The lines of every effective partner report (grain: report_source x report_id x
-- line_number): the report that counts for its (partner, period), as chosen in
-- int_partner_reports_ranked. Each line carries the ERP item its SKU names (NULL for an
-- unknown SKU) and that item's product line. report_total_usd is the report's total, NULL
-- when a line could not be converted (then the partner-month counts as having no report).
-- Should two ERP items share a SKU, the lowest item id is taken (dim_products tests that
-- SKUs are unique).

with

report_lines as (

    select * from {{ ref('int_partner_report_lines_unioned') }}

),

reports as (

    select * from {{ ref('int_partner_reports_ranked') }}

    where is_effective

),

items as (

    select * from {{ ref('stg_erp__items') }}

),

items_by_sku as (

    select
        sku,
        item_id,
        product_line_id,
        row_number() over (partition by sku order by item_id) as sku_rank

    from items

    where sku is not null

),

unique_skus as (

    select * from items_by_sku where sku_rank = 1

),

final as (

    select
        report_lines.report_source,
        report_lines.report_id,
        report_lines.line_number,
        report_lines.partner_id,
        report_lines.period_month_start as month_start,
        report_lines.revision,
        report_lines.sku,
        unique_skus.item_id,
        unique_skus.product_line_id,
        report_lines.end_customer,
        report_lines.invoice_ref,
        report_lines.currency_code,
        report_lines.quantity,
        report_lines.amount,
        report_lines.usd_per_unit,
        report_lines.amount_usd,
        reports.reported_sales_usd as report_total_usd,
        report_lines.sold_on_date

    from report_lines

    inner join reports
        on report_lines.report_source = reports.report_source
        and report_lines.report_id = reports.report_id

    left join unique_skus
        on report_lines.sku = unique_skus.sku

)

select * from final
