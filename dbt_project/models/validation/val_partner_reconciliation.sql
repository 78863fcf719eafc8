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
                'reported ' || {{ format_grouped('reported_sales_usd', 2) }}
                || ' USD, ERP invoiced ' || {{ format_grouped('erp_sales_usd', 2) }}
                || ' USD: ' || (case when variance_usd < 0 then '-' else '+' end)
                || {{ format_grouped('abs(variance_usd)', 2) }} || ' USD'
                || coalesce(' (' || {{ format_signed('100 * variance_pct', 1) }} || '%)', '')
            when status = 'missing_report' then
                'ERP invoiced ' || {{ format_grouped('erp_sales_usd', 2) }}
                || ' USD; no effective report although it was due on '
                || cast(report_due_date as {{ dbt.type_string() }})
            when status = 'no_erp_sales' then
                'reported ' || {{ format_grouped('reported_sales_usd', 2) }}
                || ' USD; the ERP invoiced nothing to this partner that month'
            when status = 'timing_difference' then
                'off by ' || (case when variance_usd < 0 then '-' else '+' end)
                || {{ format_grouped('abs(variance_usd)', 2) }}
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
