{#
    None of the given columns holds a NULL: one test (one scan, one node) per model instead
    of one `not_null` test per column, whose per-node cost in dbt (about 50 ms each, 150 of
    them on the marts) outweighed the queries. Fails with one row per column that holds
    NULLs, naming it with its count.
#}
{% test not_null_columns(model, columns) %}

with

null_counts as (

    select
        {% for column in columns -%}
        sum(case when {{ adapter.quote(column) }} is null then 1 else 0 end)
            as {{ adapter.quote(column) }}
        {{- "," if not loop.last }}
        {% endfor %}
    from {{ model }}

)

{% for column in columns -%}
select '{{ column }}' as column_name, {{ adapter.quote(column) }} as null_rows
from null_counts
where {{ adapter.quote(column) }} > 0
{% if not loop.last %}union all
{% endif %}
{%- endfor %}

{% endtest %}
