-- The frame of the GX suite `sales_reports` (grain: report_id): every API sales report
-- revision as landed, its lines summarised here so that Great Expectations validates one
-- small row per report however many lines there are. A partner is known when it is a
-- partner of dim_partners (IsPartner, not deleted); a SKU is known when an ERP item has it.

with

sales_reports as (

    select * from {{ ref('stg_portal__sales_reports') }}

),

sales_report_lines as (

    select * from {{ ref('stg_portal__sales_report_lines') }}

),

partners as (

    select * from {{ ref('dim_partners') }}

),

erp_skus as (

    select distinct sku from {{ ref('stg_erp__items') }}

),

report_lines as (

    select
        sales_reports.sales_report_id,
        sales_report_lines.sku,
        sales_report_lines.amount,
        sales_report_lines.sold_on_date,
        {{ report_line_flags('sales_report_lines', 'sales_reports.period', 'erp_skus.sku') }},
        (
            sales_report_lines.sku is null
            or sales_report_lines.quantity is null
            or sales_report_lines.amount is null
            or sales_report_lines.sold_on_date is null
        ) as is_incomplete

    from sales_report_lines

    inner join sales_reports
        on sales_report_lines.sales_report_id = sales_reports.sales_report_id

    left join erp_skus
        on sales_report_lines.sku = erp_skus.sku

),

line_summary as (

    select
        sales_report_id,
        count(*) as lines,
        sum(amount) as reported_amount,
        count(*) filter (where is_incomplete) as incomplete_lines,
        {{ report_line_flag_totals() }}

    from report_lines

    group by sales_report_id

),

final as (

    select
        sales_reports.sales_report_id as report_id,
        sales_reports.partner_id,
        sales_reports.period,
        sales_reports.period_month_start as month_start,
        sales_reports.revision,
        sales_reports.report_status as status,
        sales_reports.currency_code as currency,
        sales_reports.submitted_at,
        sales_reports.updated_at,
        coalesce(line_summary.lines, 0) as lines,
        coalesce(line_summary.reported_amount, 0) as reported_amount,
        coalesce(line_summary.incomplete_lines, 0) as incomplete_lines,
        coalesce(line_summary.wrong_sign_lines, 0) as wrong_sign_lines,
        line_summary.wrong_sign_amount,
        coalesce(line_summary.sold_outside_period_lines, 0) as sold_outside_period_lines,
        line_summary.sold_outside_period_amount,
        line_summary.sold_outside_period_dates,
        coalesce(line_summary.unknown_sku_lines, 0) as unknown_sku_lines,
        line_summary.unknown_sku_amount,
        line_summary.unknown_skus,
        (partners.partner_id is not null) as is_known_partner,
        {{ dbt.datediff(as_of_month_start(), 'sales_reports.period_month_start', 'month') }}
            as months_after_as_of

    from sales_reports

    left join line_summary
        on sales_reports.sales_report_id = line_summary.sales_report_id

    left join partners
        on sales_reports.partner_id = partners.partner_id

)

select * from final
