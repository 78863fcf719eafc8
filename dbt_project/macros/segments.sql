{#
    The segment marts (rpt_partner_specialisation, rpt_partner_cross_sell): their windows,
    the specialist thresholds and the priority product lines, all from dbt vars.
#}

{#
    The windows as rows (window_name, window_start_month, window_end_month): 'current', the
    segment_window_months (12) complete months ending with the scorecard's scored month
    (scorecard_month_start(): by default the latest closed month), and 'prior', the same
    number of months just before it.
#}
{% macro segment_windows() -%}
    {%- set months = var('segment_window_months') | int -%}
    {%- if months < 1 -%}
        {{ exceptions.raise_compiler_error("var segment_window_months must be at least 1") }}
    {%- endif -%}
    select
        cast('current' as {{ dbt.type_string() }}) as window_name,
        {{ add_months(scorecard_month_start(), -(months - 1)) }} as window_start_month,
        {{ scorecard_month_start() }} as window_end_month

    union all

    select
        cast('prior' as {{ dbt.type_string() }}) as window_name,
        {{ add_months(scorecard_month_start(), -(2 * months - 1)) }} as window_start_month,
        {{ add_months(scorecard_month_start(), -months) }} as window_end_month
{%- endmacro %}


{# The smallest location quotient lower bound of a specialist, by segment type (vars). #}
{% macro specialist_min_location_quotient(segment_type) -%}
    case {{ segment_type }}
        when 'product_line' then {{ var('specialist_min_location_quotient_product_line') }}
        when 'industry' then {{ var('specialist_min_location_quotient_industry') }}
        when 'region' then {{ var('specialist_min_location_quotient_region') }}
    end
{%- endmacro %}


{# True when a product line's name is one of var priority_product_lines (none: false). #}
{% macro is_priority_product_line(product_line_name) -%}
    {%- set lines = var('priority_product_lines') or [] -%}
    {%- if lines is string -%}
        {%- set lines = [lines] -%}
    {%- endif -%}
    {%- if lines | length == 0 -%}
        false
    {%- else -%}
        coalesce({{ product_line_name }} in (
            {%- for line in lines -%}
            '{{ line | replace("'", "''") }}'{{ ", " if not loop.last }}
            {%- endfor -%}
        ), false)
    {%- endif -%}
{%- endmacro %}
