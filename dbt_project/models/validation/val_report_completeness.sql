-- The frame of the GX suite `report_completeness` (grain: partner_id x month_start): every
-- partner-month of rpt_partner_reconciliation whose report is due, from the partner's
-- first activity on (its first month with ERP sales or with a report received: the spine
-- reaches back to Partner_Since__c, before the source systems hold any data). `reason`
-- says why a month has no effective report, from every API revision and POS file received.

with

reconciliation as (

    select * from {{ ref('rpt_partner_reconciliation') }}

),

sales_reports as (

    select * from {{ ref('stg_portal__sales_reports') }}

),

pos_files as (

    select * from {{ ref('stg_portal__pos_files') }}

),

api_reports as (

    select
        partner_id,
        period_month_start as month_start,
        count(*) as api_revisions,
        count(*) filter (where is_withdrawn) as withdrawn_revisions,
        {{ ordered_string_agg(
            "sales_report_id || ' r' || revision || ' ' || report_status", ', ',
            order_by=['revision', 'sales_report_id']
        ) }} as api_reports

    from sales_reports

    group by
        partner_id,
        period_month_start

),

pos_reports as (

    select
        partner_id,
        period_month_start as month_start,
        count(*) as pos_files,
        count(*) filter (where file_status = 'rejected') as rejected_files,
        {{ ordered_string_agg(
            "pos_file_name || ' ' || file_status || coalesce(': ' || case when file_status"
            ~ " = 'rejected' then rejection_reason end, '')", '; ', order_by=['pos_file_name']
        ) }} as pos_reports

    from pos_files

    group by
        partner_id,
        period_month_start

),

first_activity as (

    select
        partner_id,
        min(month_start) as first_active_month

    from (

        select partner_id, month_start from reconciliation where round(erp_sales_usd, 2) <> 0

        union all

        select partner_id, month_start from api_reports

        union all

        select partner_id, month_start from pos_reports

    ) as active_months

    group by partner_id

),

final as (

    select
        reconciliation.partner_id,
        reconciliation.month_start,
        reconciliation.report_due_date,
        reconciliation.erp_sales_usd,
        reconciliation.status as reconciliation_status,
        reconciliation.has_effective_report,
        coalesce(api_reports.api_revisions, 0) as api_revisions,
        coalesce(api_reports.withdrawn_revisions, 0) as withdrawn_revisions,
        coalesce(pos_reports.pos_files, 0) as pos_files,
        coalesce(pos_reports.rejected_files, 0) as rejected_files,
        case
            when reconciliation.has_effective_report then null
            when api_reports.api_revisions is null and pos_reports.pos_files is null
                then 'no report received (neither API nor POS file)'
            else concat_ws(
                '; ',
                case
                    when api_reports.withdrawn_revisions = api_reports.api_revisions
                        then 'every API revision withdrawn: ' || api_reports.api_reports
                    when api_reports.api_revisions > 0
                        then 'API report(s) not usable (no USD rate?): ' || api_reports.api_reports
                end,
                case
                    when pos_reports.rejected_files = pos_reports.pos_files
                        then 'POS file rejected: ' || pos_reports.pos_reports
                    when pos_reports.pos_files > 0
                        then 'POS file(s) not usable: ' || pos_reports.pos_reports
                end
            )
        end as reason

    from reconciliation

    inner join first_activity
        on reconciliation.partner_id = first_activity.partner_id

    left join api_reports
        on reconciliation.partner_id = api_reports.partner_id
        and reconciliation.month_start = api_reports.month_start

    left join pos_reports
        on reconciliation.partner_id = pos_reports.partner_id
        and reconciliation.month_start = pos_reports.month_start

    where
        reconciliation.is_report_due
        and reconciliation.month_start >= first_activity.first_active_month

)

select * from final
