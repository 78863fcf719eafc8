{# The first day of the calendar month of a date or timestamp, as a DATE. #}
{% macro month_start(expression) -%}
    cast({{ dbt.date_trunc('month', expression) }} as date)
{%- endmacro %}

{# The last day of the calendar month that starts on month_start (a DATE). #}
{% macro month_end(month_start_expression) -%}
    cast({{ dbt.last_day(month_start_expression, 'month') }} as date)
{%- endmacro %}

{# Add (or subtract) whole months to a month_start, keeping a DATE. #}
{% macro add_months(month_start_expression, months) -%}
    cast({{ dbt.dateadd('month', months, month_start_expression) }} as date)
{%- endmacro %}

{# A 'YYYY-MM' period as the DATE of its first day; NULL when it is not a valid month. #}
{% macro period_month_start(period_expression) -%}
    {{ dbt.safe_cast(dbt.concat([period_expression, "'-01'"]), api.Column.translate_type('date')) }}
{%- endmacro %}

{# A 'YYYY-Qn' period as the DATE of the quarter's first day; NULL when it is not a quarter. #}
{% macro quarter_period_month_start(period_expression) -%}
    {{ dbt.safe_cast(
        dbt.concat([
            dbt.split_part(period_expression, "'-'", 1),
            "case " ~ dbt.split_part(period_expression, "'-'", 2)
                ~ " when 'Q1' then '-01-01' when 'Q2' then '-04-01'"
                ~ " when 'Q3' then '-07-01' when 'Q4' then '-10-01' end",
        ]),
        api.Column.translate_type('date')
    ) }}
{%- endmacro %}
