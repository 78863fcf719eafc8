-- Suite `report_completeness`: every active partner has an effective report for every
-- month whose report is due. One row per due partner-month of the spine
-- (marts.rpt_partner_reconciliation) from the partner's first activity on: its first
-- month with ERP sales or with a report received (the spine reaches back to
-- Partner_Since__c, before the source systems hold any data). `reason` says why a month
-- has no effective report, from the raw reports and POS files.

with

reconciliation as (

    select
        partner_id,
        month_start,
        report_due_date,
        is_report_due,
        has_effective_report,
        erp_sales_usd,
        status
    from marts.rpt_partner_reconciliation

),

api_reports as (

    select
        partner_id,
        cast(try_strptime(period, '%Y-%m') as date) as month_start,
        count(*) as api_revisions,
        count(*) filter (where status = 'withdrawn') as withdrawn_revisions,
        string_agg(id || ' r' || revision || ' ' || status, ', ' order by revision, id)
            as api_reports
    from raw_portal.sales_reports
    group by all

),

pos_files as (

    select
        partner_id,
        cast(try_strptime(period, '%Y-%m') as date) as month_start,
        count(*) as pos_files,
        count(*) filter (where status = 'rejected') as rejected_files,
        string_agg(
            file_name || ' ' || status
            || coalesce(': ' || case when status = 'rejected' then reason end, ''),
            '; ' order by file_name
        ) as pos_reports
    from raw_portal.pos_files
    group by all

),

first_activity as (

    select partner_id, min(month_start) as first_active_month
    from (
        select partner_id, month_start from reconciliation where round(erp_sales_usd, 2) <> 0
        union all
        select partner_id, month_start from api_reports
        union all
        select partner_id, month_start from pos_files
    )
    group by partner_id

)

select
    reconciliation.partner_id,
    reconciliation.month_start,
    reconciliation.report_due_date,
    reconciliation.erp_sales_usd,
    reconciliation.status as reconciliation_status,
    reconciliation.has_effective_report,
    coalesce(api_reports.api_revisions, 0) as api_revisions,
    coalesce(api_reports.withdrawn_revisions, 0) as withdrawn_revisions,
    coalesce(pos_files.pos_files, 0) as pos_files,
    coalesce(pos_files.rejected_files, 0) as rejected_files,
    case
        when reconciliation.has_effective_report then null
        when api_reports.api_revisions is null and pos_files.pos_files is null
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
                when pos_files.rejected_files = pos_files.pos_files
                    then 'POS file rejected: ' || pos_files.pos_reports
                when pos_files.pos_files > 0
                    then 'POS file(s) not usable: ' || pos_files.pos_reports
            end
        )
    end as reason

from reconciliation
inner join first_activity on first_activity.partner_id = reconciliation.partner_id
left join api_reports
    on api_reports.partner_id = reconciliation.partner_id
    and api_reports.month_start = reconciliation.month_start
left join pos_files
    on pos_files.partner_id = reconciliation.partner_id
    and pos_files.month_start = reconciliation.month_start
where reconciliation.is_report_due
    and reconciliation.month_start >= first_activity.first_active_month
order by reconciliation.partner_id, reconciliation.month_start
