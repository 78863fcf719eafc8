-- The frame of the GX suite `pos_reports` (grain: file_name): every POS CSV file as landed
-- from the landing folder, loaded or rejected, with its loaded lines and quarantined rows
-- summarised here. Partners and SKUs are known as in val_sales_reports.

with

pos_files as (

    select * from {{ ref('stg_portal__pos_files') }}

),

pos_report_lines as (

    select * from {{ ref('stg_portal__pos_report_lines') }}

),

pos_quarantined_rows as (

    select * from {{ ref('stg_portal__pos_quarantined_rows') }}

),

sales_reports as (

    select * from {{ ref('stg_portal__sales_reports') }}

),

partners as (

    select * from {{ ref('dim_partners') }}

),

erp_skus as (

    select distinct sku from {{ ref('stg_erp__items') }}

),

file_lines as (

    select
        pos_files.pos_file_name,
        pos_report_lines.sku,
        pos_report_lines.amount,
        pos_report_lines.currency_code,
        pos_report_lines.sold_on_date,
        {{ report_line_flags('pos_report_lines', 'pos_files.period', 'erp_skus.sku') }}

    from pos_report_lines

    inner join pos_files
        on pos_report_lines.pos_file_name = pos_files.pos_file_name

    left join erp_skus
        on pos_report_lines.sku = erp_skus.sku

),

line_summary as (

    select
        pos_file_name,
        count(*) as lines,
        sum(amount) as reported_amount,
        {{ ordered_string_agg('currency_code', ',', distinct=true) }} as currency,
        {{ report_line_flag_totals() }}

    from file_lines

    group by pos_file_name

),

quarantine as (

    select
        pos_file_name,
        count(*) as quarantined_rows,
        -- A whole-file rejection is quarantined too; its reason names no row of the file.
        min(row_number) filter (where quarantine_reason not like 'file rejected%')
            as first_bad_row

    from pos_quarantined_rows

    group by pos_file_name

),

api_revisions as (

    select
        partner_id,
        period,
        revision,
        {{ ordered_string_agg(
            "sales_report_id || ' (' || report_status || ')'", ', ', order_by=['sales_report_id']
        ) }} as api_reports

    from sales_reports

    group by
        partner_id,
        period,
        revision

),

loaded_revisions as (

    select
        partner_id,
        period,
        revision,
        count(*) as files

    from pos_files

    where is_loaded

    group by
        partner_id,
        period,
        revision

),

final as (

    select
        pos_files.pos_file_name as file_name,
        pos_files.partner_id,
        pos_files.period,
        pos_files.period_month_start as month_start,
        pos_files.revision,
        pos_files.file_status as status,
        pos_files.rejection_reason,
        quarantine.first_bad_row,
        pos_files.rows_read,
        coalesce(line_summary.lines, 0) as rows_loaded,
        coalesce(quarantine.quarantined_rows, 0) as rows_quarantined,
        coalesce(pos_files.rows_read, 0)
        - coalesce(line_summary.lines, 0)
        - coalesce(quarantine.quarantined_rows, 0) as rows_unaccounted,
        pos_files.file_modified_at,
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
        case when pos_files.is_loaded then api_revisions.api_reports end
            as clashing_api_reports,
        case
            when pos_files.is_loaded then coalesce(loaded_revisions.files, 1) - 1 else 0
        end as other_files_same_revision,
        (partners.partner_id is not null) as is_known_partner,
        {{ dbt.datediff(as_of_month_start(), 'pos_files.period_month_start', 'month') }}
            as months_after_as_of

    from pos_files

    left join line_summary
        on pos_files.pos_file_name = line_summary.pos_file_name

    left join quarantine
        on pos_files.pos_file_name = quarantine.pos_file_name

    left join api_revisions
        on pos_files.partner_id = api_revisions.partner_id
        and pos_files.period = api_revisions.period
        and pos_files.revision = api_revisions.revision

    left join loaded_revisions
        on pos_files.partner_id = loaded_revisions.partner_id
        and pos_files.period = loaded_revisions.period
        and pos_files.revision = loaded_revisions.revision

    left join partners
        on pos_files.partner_id = partners.partner_id

)

select * from final
