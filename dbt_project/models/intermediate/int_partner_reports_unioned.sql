-- Every partner sales report received, API revisions and loaded POS files together (grain:
-- report_source x report_id), with its line totals. reported_sales_usd is the sum of all
-- lines' amounts (unknown SKUs and invoice references included) converted with the rate
-- of the period month; 0 for a report without lines; NULL when a line's currency has no
-- rate (a data-quality finding).

with

api_reports as (

    select * from {{ ref('stg_portal__sales_reports') }}

),

pos_files as (

    select * from {{ ref('stg_portal__pos_files') }}

),

report_lines as (

    select * from {{ ref('int_partner_report_lines_unioned') }}

),

headers as (

    select
        cast('api' as {{ dbt.type_string() }}) as report_source,
        sales_report_id as report_id,
        partner_id,
        period,
        period_month_start,
        revision,
        report_status,
        is_withdrawn,
        currency_code,
        coalesce(updated_at, submitted_at) as received_at

    from api_reports

    union all

    select
        cast('pos' as {{ dbt.type_string() }}) as report_source,
        pos_file_name as report_id,
        partner_id,
        period,
        period_month_start,
        revision,
        file_status as report_status,
        false as is_withdrawn,
        cast(null as {{ dbt.type_string() }}) as currency_code,
        file_modified_at as received_at

    from pos_files

    where is_loaded

),

line_totals as (

    select
        report_source,
        report_id,
        count(*) as line_count,
        sum(quantity) as units_reported,
        sum(amount_usd) as amount_usd,
        sum(case when amount is not null and usd_per_unit is null then 1 else 0 end)
            as unconverted_line_count,
        min(currency_code) as min_currency_code,
        max(currency_code) as max_currency_code

    from report_lines

    group by
        report_source,
        report_id

),

final as (

    select
        headers.report_source,
        headers.report_id,
        headers.partner_id,
        headers.period,
        headers.period_month_start,
        headers.revision,
        headers.report_status,
        headers.is_withdrawn,
        coalesce(headers.currency_code, line_totals.min_currency_code) as currency_code,
        coalesce(line_totals.min_currency_code <> line_totals.max_currency_code, false)
            as has_mixed_currencies,
        coalesce(line_totals.line_count, 0) as line_count,
        coalesce(line_totals.units_reported, 0) as units_reported,
        case
            when coalesce(line_totals.unconverted_line_count, 0) > 0 then null
            else coalesce(line_totals.amount_usd, 0)
        end as reported_sales_usd,
        coalesce(line_totals.unconverted_line_count, 0) as unconverted_line_count,
        headers.received_at

    from headers

    left join line_totals
        on headers.report_source = line_totals.report_source
        and headers.report_id = line_totals.report_id

)

select * from final
