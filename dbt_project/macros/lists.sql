{#
    The distinct non-NULL values of an expression, sorted, as a list: an aggregate that
    gives an empty list, never NULL, when there are none.
#}
{% macro sorted_distinct_list(expression) -%}
    {{ return(adapter.dispatch('sorted_distinct_list', 'partnerpulse')(expression)) }}
{%- endmacro %}

{% macro default__sorted_distinct_list(expression) -%}
    coalesce(
        list(distinct {{ expression }} order by {{ expression }})
            filter (where {{ expression }} is not null),
        []
    )
{%- endmacro %}

{% macro spark__sorted_distinct_list(expression) -%}
    array_sort(collect_set({{ expression }}))
{%- endmacro %}
