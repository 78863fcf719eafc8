-- ERP sales lines summed per ERP partner, item and month of the transaction date (grain:
-- erp_partner_id x item_id x month_start; erp_partner_id NULL for direct sales). The one
-- large fact built from ERP lines, and the only one stored: everything downstream (partner
-- months, partner product months, SKU reconciliation) rolls it up. It is kept in ERP terms
-- (ERP partner, item, USD at the transaction's own exchangerate) so that a change of the
-- CRM mapping, of an item's product line or of its standard cost needs no rebuild here.
--
-- Incremental, keyed on the month (every row of a rebuilt month is replaced: delete+insert
-- on month_start, or on Spark the month's partition overwritten; macros/incremental.sql).
-- An incremental run rebuilds
--   - the months from var min_month to var max_month (either may be empty: open-ended)
--     when one of them is set (a Dagster month partition passes its month through both);
--   - otherwise the months of sales lines landed (line or transaction _loaded_at) after
--     the latest source_loaded_at stored here, plus the months whose number of sales lines
--     differs from the stored one (a voided invoice, a transaction moved to another month).
-- Known limit: a month whose every sales line disappears keeps its stored rows until
-- `dbt build --full-refresh` (there is no row left to replace them with).

{{
    config(
        materialized='incremental',
        on_schema_change='append_new_columns',
        **month_replace_config()
    )
}}

{%- set min_month = month_var_literal('min_month') -%}
{%- set max_month = month_var_literal('max_month') %}

with

sales_lines as (

    select * from {{ ref('int_erp_sales_lines_converted') }}

),

{% if is_incremental() %}

{% if min_month is not none or max_month is not none %}

months_to_rebuild as (

    select distinct month_start

    from sales_lines

    where
        {% if min_month is not none -%} month_start >= {{ min_month }} {%- else -%} true {%- endif %}
        and {% if max_month is not none -%} month_start <= {{ max_month }} {%- else -%} true {%- endif %}

),

{% else %}

stored_months as (

    select
        month_start,
        sum(sales_line_count) as sales_line_count

    from {{ this }}

    group by month_start

),

stored_watermark as (

    select max(source_loaded_at) as max_source_loaded_at

    from {{ this }}

),

source_months as (

    select
        month_start,
        count(*) as sales_line_count,
        max(loaded_at) as max_loaded_at

    from sales_lines

    group by month_start

),

months_to_rebuild as (

    select source_months.month_start

    from source_months

    cross join stored_watermark

    left join stored_months
        on source_months.month_start = stored_months.month_start

    where
        stored_watermark.max_source_loaded_at is null
        or source_months.max_loaded_at > stored_watermark.max_source_loaded_at
        or stored_months.month_start is null
        or stored_months.sales_line_count <> source_months.sales_line_count

),

{% endif %}

selected_lines as (

    select sales_lines.*

    from sales_lines

    inner join months_to_rebuild
        on sales_lines.month_start = months_to_rebuild.month_start

),

{% else %}

selected_lines as (

    select * from sales_lines

),

{% endif %}

final as (

    select
        erp_partner_id,
        item_id,
        month_start,
        sum(sales_usd) as sales_usd,
        sum(units) as units,
        count(*) as sales_line_count,
        max(loaded_at) as source_loaded_at

    from selected_lines

    group by
        erp_partner_id,
        item_id,
        month_start

)

select * from final
