{#
    The model holds at most one row per combination of the given columns (its grain).
    A small stand-in for dbt_utils.unique_combination_of_columns, which is not installed.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

grain as (

    select
        {% for column in combination_of_columns -%}
        {{ adapter.quote(column) }},
        {% endfor -%}
        count(*) as row_count

    from {{ model }}

    group by
        {% for column in combination_of_columns -%}
        {{ adapter.quote(column) }}{{ "," if not loop.last }}
        {% endfor %}

)

select *
from grain
where row_count > 1

{% endtest %}
