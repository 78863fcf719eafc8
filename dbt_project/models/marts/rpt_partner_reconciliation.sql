-- Partner-reported sales held against ERP sell-in (grain: partner_id x month_start), one row
-- per row of the partner-month spine. status is the first rule that holds:
--   1. no effective report: no_activity when erp_sales_usd = 0, else missing_report when
--      the report is due (as_of after day report_due_day of the next month), else
--      awaiting_report;
--   2. matched: variance within tolerance;
--   3. timing_difference: the month summed with the previous or with the next spine month
--      (a month without an effective report counts as 0) is within tolerance;
--   4. no_erp_sales: erp_sales_usd = 0;
--   5. over_reported / under_reported by the sign of the variance.
-- "= 0" means rounds to 0.00 USD; tolerance compares the variance rounded to cents.

with

partner_months as (

    select * from {{ ref('fct_partner_months') }}

),

amounts as (

    select
        partner_id,
        month_start,
        sales_volume_usd as erp_sales_usd,
        reported_sales_usd,
        coalesce(reported_sales_usd, 0) as reported_or_zero_usd,
        (reported_sales_usd is not null) as has_effective_report,
        effective_report_revision,
        cast(
            {{ dbt.dateadd('day', var('report_due_day') | int - 1, add_months('month_start', 1)) }}
            as date
        ) as report_due_date

    from partner_months

),

with_neighbours as (

    select
        amounts.*,
        amounts.reported_or_zero_usd - amounts.erp_sales_usd as variance_usd,
        previous_month.erp_sales_usd as previous_erp_sales_usd,
        previous_month.reported_or_zero_usd as previous_reported_or_zero_usd,
        next_month.erp_sales_usd as next_erp_sales_usd,
        next_month.reported_or_zero_usd as next_reported_or_zero_usd

    from amounts

    left join amounts as previous_month
        on amounts.partner_id = previous_month.partner_id
        and previous_month.month_start = {{ add_months('amounts.month_start', -1) }}

    left join amounts as next_month
        on amounts.partner_id = next_month.partner_id
        and next_month.month_start = {{ add_months('amounts.month_start', 1) }}

),

tested as (

    select
        *,
        {{ safe_divide_usd('variance_usd', 'erp_sales_usd') }} as variance_pct,
        ({{ as_of_date() }} > report_due_date) as is_report_due,
        {{ is_within_tolerance('variance_usd', 'erp_sales_usd') }} as is_within_tolerance,
        coalesce(
            {{ is_within_tolerance(
                '(reported_or_zero_usd + previous_reported_or_zero_usd)'
                ~ ' - (erp_sales_usd + previous_erp_sales_usd)',
                '(erp_sales_usd + previous_erp_sales_usd)'
            ) }},
            false
        ) as is_within_tolerance_with_previous_month,
        coalesce(
            {{ is_within_tolerance(
                '(reported_or_zero_usd + next_reported_or_zero_usd)'
                ~ ' - (erp_sales_usd + next_erp_sales_usd)',
                '(erp_sales_usd + next_erp_sales_usd)'
            ) }},
            false
        ) as is_within_tolerance_with_next_month

    from with_neighbours

),

classified as (

    select
        *,
        case
            when not has_effective_report then
                case
                    when {{ is_zero_usd('erp_sales_usd') }} then 'no_activity'
                    when is_report_due then 'missing_report'
                    else 'awaiting_report'
                end
            when is_within_tolerance then 'matched'
            when is_within_tolerance_with_previous_month
                or is_within_tolerance_with_next_month
                then 'timing_difference'
            when {{ is_zero_usd('erp_sales_usd') }} then 'no_erp_sales'
            when variance_usd > 0 then 'over_reported'
            else 'under_reported'
        end as status

    from tested

),

final as (

    select
        partner_id,
        month_start,
        erp_sales_usd,
        reported_sales_usd,
        variance_usd,
        variance_pct,
        has_effective_report,
        effective_report_revision,
        report_due_date,
        is_report_due,
        is_within_tolerance,
        is_within_tolerance_with_previous_month,
        is_within_tolerance_with_next_month,
        status

    from classified

)

select * from final
