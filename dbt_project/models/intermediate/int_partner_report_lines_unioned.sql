-- Every line of every partner sales report received, API and POS together (grain:
-- report_source x report_id x line_number). Partner, period and revision come from the
-- report header (the API record, or the POS file), so a line always belongs to one report.
-- Amounts stay in the report currency; amount_usd converts with the rate of the period
-- month (NULL when no rate is known). Only POS files with status 'loaded' count: a
-- rejected file counts as not received.
-- A view: each of its three readers (int_partner_reports_unioned, the effective lines, the
-- line-matching check frame) reads it once, and storing 3.2M lines at 1,000 partners cost
-- more than converting them again (docs/models.md, decision 30).

{{ config(materialized='view') }}

with

api_reports as (

    select * from {{ ref('stg_portal__sales_reports') }}

),

api_lines as (

    select * from {{ ref('stg_portal__sales_report_lines') }}

),

pos_files as (

    select * from {{ ref('stg_portal__pos_files') }}

),

pos_lines as (

    select * from {{ ref('stg_portal__pos_report_lines') }}

),

currency_rates as (

    select * from {{ ref('int_currency_rates_filled') }}

),

api_report_lines as (

    select
        cast('api' as {{ dbt.type_string() }}) as report_source,
        api_reports.sales_report_id as report_id,
        api_lines.line_number,
        api_reports.partner_id,
        api_reports.period_month_start,
        api_reports.revision,
        api_lines.sku,
        api_lines.end_customer,
        api_lines.invoice_ref,
        api_reports.currency_code,
        api_lines.quantity,
        api_lines.amount,
        api_lines.sold_on_date

    from api_lines

    inner join api_reports
        on api_lines.sales_report_id = api_reports.sales_report_id

),

pos_report_lines as (

    select
        cast('pos' as {{ dbt.type_string() }}) as report_source,
        pos_files.pos_file_name as report_id,
        pos_lines.row_number as line_number,
        pos_files.partner_id,
        pos_files.period_month_start,
        pos_files.revision,
        pos_lines.sku,
        pos_lines.end_customer,
        pos_lines.invoice_ref,
        pos_lines.currency_code,
        pos_lines.quantity,
        pos_lines.amount,
        pos_lines.sold_on_date

    from pos_lines

    inner join pos_files
        on pos_lines.pos_file_name = pos_files.pos_file_name

    where pos_files.is_loaded

),

unioned as (

    select * from api_report_lines

    union all

    select * from pos_report_lines

),

final as (

    select
        unioned.report_source,
        unioned.report_id,
        unioned.line_number,
        unioned.partner_id,
        unioned.period_month_start,
        unioned.revision,
        unioned.sku,
        unioned.end_customer,
        unioned.invoice_ref,
        unioned.currency_code,
        unioned.quantity,
        unioned.amount,
        currency_rates.usd_per_unit,
        unioned.amount * currency_rates.usd_per_unit as amount_usd,
        unioned.sold_on_date

    from unioned

    left join currency_rates
        on unioned.currency_code = currency_rates.currency_code
        and unioned.period_month_start = currency_rates.month_start

)

select * from final
