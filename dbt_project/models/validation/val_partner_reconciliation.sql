-- The frame of the GX suite `partner_reconciliation` (grain: partner_id x month_start):
-- every row and column of rpt_partner_reconciliation, with a sentence that explains the
-- status in numbers (what the checks show beside each finding).

with

reconciliation as (

    select * from {{ ref('rpt_partner_reconciliation') }}

),

final as (

    select
        -- Every column, so that the suite's `columns` expectation sees the mart's shape.
        *,
        case
            when status in ('over_reported', 'under_reported') then
                'reported ' || format('{:,.2f}', reported_sales_usd)
                || ' USD, ERP invoiced ' || format('{:,.2f}', erp_sales_usd)
                || ' USD: ' || (case when variance_usd < 0 then '-' else '+' end)
                || format('{:,.2f}', abs(variance_usd)) || ' USD'
                || coalesce(' (' || format('{:+.1f}', 100 * variance_pct) || '%)', '')
            when status = 'missing_report' then
                'ERP invoiced ' || format('{:,.2f}', erp_sales_usd)
                || ' USD; no effective report although it was due on '
                || strftime(report_due_date, '%Y-%m-%d')
            when status = 'no_erp_sales' then
                'reported ' || format('{:,.2f}', reported_sales_usd)
                || ' USD; the ERP invoiced nothing to this partner that month'
            when status = 'timing_difference' then
                'off by ' || (case when variance_usd < 0 then '-' else '+' end)
                || format('{:,.2f}', abs(variance_usd))
                || ' USD alone; within tolerance together with the '
                || case
                    when is_within_tolerance_with_previous_month
                        and is_within_tolerance_with_next_month
                        then 'previous and the next month'
                    when is_within_tolerance_with_previous_month then 'previous month'
                    else 'next month'
                end
                || ' (sales reported in the neighbouring month)'
        end as explanation

    from reconciliation

)

select * from final
