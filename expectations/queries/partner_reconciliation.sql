-- Suite `partner_reconciliation`: partner-reported sales held against ERP sell-in, one row
-- per partner-month of the spine (marts.rpt_partner_reconciliation, every column), with a
-- sentence that explains the status in numbers.

select
    reconciliation.*,
    case reconciliation.status
        when 'over_reported' then
            'reported ' || format('{:,.2f}', reconciliation.reported_sales_usd)
            || ' USD, ERP invoiced ' || format('{:,.2f}', reconciliation.erp_sales_usd)
            || ' USD: ' || (case when reconciliation.variance_usd < 0 then '-' else '+' end)
            || format('{:,.2f}', abs(reconciliation.variance_usd)) || ' USD'
            || coalesce(' (' || format('{:+.1f}', 100 * reconciliation.variance_pct) || '%)', '')
        when 'under_reported' then
            'reported ' || format('{:,.2f}', reconciliation.reported_sales_usd)
            || ' USD, ERP invoiced ' || format('{:,.2f}', reconciliation.erp_sales_usd)
            || ' USD: ' || (case when reconciliation.variance_usd < 0 then '-' else '+' end)
            || format('{:,.2f}', abs(reconciliation.variance_usd)) || ' USD'
            || coalesce(' (' || format('{:+.1f}', 100 * reconciliation.variance_pct) || '%)', '')
        when 'missing_report' then
            'ERP invoiced ' || format('{:,.2f}', reconciliation.erp_sales_usd)
            || ' USD; no effective report although it was due on '
            || strftime(reconciliation.report_due_date, '%Y-%m-%d')
        when 'no_erp_sales' then
            'reported ' || format('{:,.2f}', reconciliation.reported_sales_usd)
            || ' USD; the ERP invoiced nothing to this partner that month'
        when 'timing_difference' then
            'off by ' || (case when reconciliation.variance_usd < 0 then '-' else '+' end)
            || format('{:,.2f}', abs(reconciliation.variance_usd))
            || ' USD alone; within tolerance together with the '
            || case
                when reconciliation.is_within_tolerance_with_previous_month
                    and reconciliation.is_within_tolerance_with_next_month
                    then 'previous and the next month'
                when reconciliation.is_within_tolerance_with_previous_month
                    then 'previous month'
                else 'next month'
            end
            || ' (sales reported in the neighbouring month)'
    end as explanation

from marts.rpt_partner_reconciliation as reconciliation
order by reconciliation.partner_id, reconciliation.month_start
