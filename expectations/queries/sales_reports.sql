-- Suite `sales_reports`: partner sales reports as landed from the portal API.
-- One row per report revision (raw_portal.sales_reports), its lines
-- (raw_portal.sales_report_lines) summarised in DuckDB so that Great Expectations sees one
-- small row per report however many lines there are.
-- Parameters: $as_of (DATE, the pipeline's today).

with

partners as (

    select id as partner_id
    from raw_crm.account
    where coalesce(ispartner, false) and not coalesce(isdeleted, false)

),

erp_skus as (

    select distinct itemid as sku from raw_erp.item

),

report_lines as (

    select
        reports.id as report_id,
        reports.period,
        lines.line_no,
        lines.sku,
        lines.quantity,
        lines.amount,
        lines.sold_on,
        (lines.sku is not null and erp_skus.sku is null) as is_unknown_sku,
        (strftime(lines.sold_on, '%Y-%m') <> reports.period) as is_sold_outside_period,
        (
            lines.quantity = 0
            or (lines.quantity > 0 and lines.amount < 0)
            or (lines.quantity < 0 and lines.amount > 0)
        ) as is_wrong_sign,
        (
            lines.sku is null or lines.quantity is null or lines.amount is null
            or lines.sold_on is null
        ) as is_incomplete

    from raw_portal.sales_report_lines as lines
    inner join raw_portal.sales_reports as reports on reports.id = lines.report_id
    left join erp_skus on erp_skus.sku = lines.sku

),

line_summary as (

    select
        report_id,
        count(*) as lines,
        sum(amount) as reported_amount,
        count(*) filter (where is_incomplete) as incomplete_lines,
        count(*) filter (where is_wrong_sign) as wrong_sign_lines,
        sum(amount) filter (where is_wrong_sign) as wrong_sign_amount,
        count(*) filter (where is_sold_outside_period) as sold_outside_period_lines,
        sum(amount) filter (where is_sold_outside_period) as sold_outside_period_amount,
        strftime(min(sold_on) filter (where is_sold_outside_period), '%Y-%m-%d')
        || ' .. '
        || strftime(max(sold_on) filter (where is_sold_outside_period), '%Y-%m-%d')
            as sold_outside_period_dates,
        count(*) filter (where is_unknown_sku) as unknown_sku_lines,
        sum(amount) filter (where is_unknown_sku) as unknown_sku_amount,
        string_agg(distinct sku, ', ' order by sku) filter (where is_unknown_sku)
            as unknown_skus

    from report_lines
    group by report_id

)

select
    reports.id as report_id,
    reports.partner_id,
    reports.period,
    cast(try_strptime(reports.period, '%Y-%m') as date) as month_start,
    reports.revision,
    reports.status,
    reports.currency,
    reports.submitted_at,
    reports.updated_at,
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
    datediff(
        'month',
        date_trunc('month', cast($as_of as date)),
        cast(try_strptime(reports.period, '%Y-%m') as date)
    ) as months_after_as_of

from raw_portal.sales_reports as reports
left join line_summary on line_summary.report_id = reports.id
left join partners on partners.partner_id = reports.partner_id
order by reports.partner_id, reports.period, reports.revision, reports.id
