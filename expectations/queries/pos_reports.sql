-- Suite `pos_reports`: partners' POS CSV files as landed from the landing folder.
-- One row per file (raw_portal.pos_files), its loaded lines (raw_portal.pos_report_lines)
-- and quarantined rows (raw_portal.pos_quarantine) summarised in DuckDB.
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

file_lines as (

    select
        files.file_name,
        lines.sku,
        lines.quantity,
        lines.amount,
        lines.currency,
        lines.sold_on,
        (lines.sku is not null and erp_skus.sku is null) as is_unknown_sku,
        (strftime(lines.sold_on, '%Y-%m') <> files.period) as is_sold_outside_period,
        (
            lines.quantity = 0
            or (lines.quantity > 0 and lines.amount < 0)
            or (lines.quantity < 0 and lines.amount > 0)
        ) as is_wrong_sign

    from raw_portal.pos_report_lines as lines
    inner join raw_portal.pos_files as files on files.file_name = lines.file_name
    left join erp_skus on erp_skus.sku = lines.sku

),

line_summary as (

    select
        file_name,
        count(*) as lines,
        sum(amount) as reported_amount,
        string_agg(distinct currency, ',' order by currency) as currency,
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

    from file_lines
    group by file_name

),

quarantine as (

    select
        file_name,
        count(*) as quarantined_rows,
        min(row_number) filter (where not starts_with(reason, 'file rejected'))
            as first_bad_row

    from raw_portal.pos_quarantine
    group by file_name

),

api_reports as (

    select
        partner_id,
        period,
        revision,
        string_agg(id || ' (' || status || ')', ', ' order by id) as api_reports

    from raw_portal.sales_reports
    group by partner_id, period, revision

),

loaded_revisions as (

    select partner_id, period, revision, count(*) as files
    from raw_portal.pos_files
    where status = 'loaded'
    group by partner_id, period, revision

)

select
    files.file_name,
    files.partner_id,
    files.period,
    cast(try_strptime(files.period, '%Y-%m') as date) as month_start,
    files.revision,
    files.status,
    files.reason as rejection_reason,
    quarantine.first_bad_row,
    files.rows_read,
    coalesce(line_summary.lines, 0) as rows_loaded,
    coalesce(quarantine.quarantined_rows, 0) as rows_quarantined,
    coalesce(files.rows_read, 0)
    - coalesce(line_summary.lines, 0)
    - coalesce(quarantine.quarantined_rows, 0) as rows_unaccounted,
    files.file_modified_at,
    line_summary.currency,
    coalesce(line_summary.reported_amount, 0) as reported_amount,
    coalesce(line_summary.wrong_sign_lines, 0) as wrong_sign_lines,
    line_summary.wrong_sign_amount,
    coalesce(line_summary.sold_outside_period_lines, 0) as sold_outside_period_lines,
    line_summary.sold_outside_period_amount,
    line_summary.sold_outside_period_dates,
    coalesce(line_summary.unknown_sku_lines, 0) as unknown_sku_lines,
    line_summary.unknown_sku_amount,
    line_summary.unknown_skus,
    case when files.status = 'loaded' then api_reports.api_reports end as clashing_api_reports,
    case
        when files.status = 'loaded' then coalesce(loaded_revisions.files, 1) - 1 else 0
    end as other_files_same_revision,
    (partners.partner_id is not null) as is_known_partner,
    datediff(
        'month',
        date_trunc('month', cast($as_of as date)),
        cast(try_strptime(files.period, '%Y-%m') as date)
    ) as months_after_as_of

from raw_portal.pos_files as files
left join line_summary on line_summary.file_name = files.file_name
left join quarantine on quarantine.file_name = files.file_name
left join api_reports
    on api_reports.partner_id = files.partner_id
    and api_reports.period = files.period
    and api_reports.revision = files.revision
left join loaded_revisions
    on loaded_revisions.partner_id = files.partner_id
    and loaded_revisions.period = files.period
    and loaded_revisions.revision = files.revision
left join partners on partners.partner_id = files.partner_id
order by files.partner_id, files.period, files.revision, files.file_name
