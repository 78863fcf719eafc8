{#
    Text built from values, the same on every engine (docs/scaling.md): numbers with
    thousands separators, signed numbers, and ordered lists of values. NULL in, NULL out.
#}

{# `expression` with thousands separators and `decimals` decimals: 1,234.50 #}
{% macro format_grouped(expression, decimals) -%}
    {{ return(adapter.dispatch('format_grouped', 'partnerpulse')(expression, decimals)) }}
{%- endmacro %}

{% macro default__format_grouped(expression, decimals) -%}
    format('{:,.{{ decimals }}f}', {{ expression }})
{%- endmacro %}

{% macro spark__format_grouped(expression, decimals) -%}
    format_number({{ expression }}, {{ decimals }})
{%- endmacro %}


{# `expression` with its sign and `decimals` decimals: +12.5, -0.3 #}
{% macro format_signed(expression, decimals) -%}
    {{ return(adapter.dispatch('format_signed', 'partnerpulse')(expression, decimals)) }}
{%- endmacro %}

{% macro default__format_signed(expression, decimals) -%}
    format('{:+.{{ decimals }}f}', {{ expression }})
{%- endmacro %}

{% macro spark__format_signed(expression, decimals) -%}
    case
        when {{ expression }} is not null
            then format_string('%+.{{ decimals }}f', {{ expression }})
    end
{%- endmacro %}


{#
    An aggregate: the non-NULL values of `expression` (of rows where `where` holds, if
    given), joined by `separator` in the order of `order_by` (a list of expressions, each
    ascending; default the value itself), distinct if asked. NULL when there is none.
#}
{% macro ordered_string_agg(expression, separator, order_by=none, distinct=false, where=none) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'partnerpulse')(
        expression, separator, order_by or [expression], distinct, where)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(expression, separator, order_by, distinct, where) -%}
    string_agg(
        {{ 'distinct ' if distinct }}{{ expression }},
        '{{ separator }}' order by {{ order_by | join(', ') }}
    ){{ ' filter (where ' ~ where ~ ')' if where }}
{%- endmacro %}

{% macro spark__ordered_string_agg(expression, separator, order_by, distinct, where) -%}
    {%- set filter = ' filter (where ' ~ where ~ ')' if where else '' -%}
    {%- if distinct -%}
        {%- set values = 'array_sort(collect_set(' ~ expression ~ ')' ~ filter ~ ')' -%}
    {%- else -%}
        {#- Structs sort field by field: the order keys, then the value. -#}
        {%- set keys = [] -%}
        {%- for key in order_by -%}{%- do keys.append(key ~ ' as k' ~ loop.index) -%}{%- endfor -%}
        {%- set values = 'transform(array_sort(collect_list(case when ' ~ expression
            ~ ' is not null then struct(' ~ keys | join(', ') ~ ', ' ~ expression
            ~ ' as v) end)' ~ filter ~ '), s -> s.v)' -%}
    {%- endif %}
    case
        when count({{ expression }}){{ filter }} > 0
            then array_join({{ values }}, '{{ separator }}')
    end
{%- endmacro %}


{#
    A name as compared across systems: lower case, without surrounding spaces, runs of
    spaces as one. NULL in, NULL out.
#}
{% macro normalized_name(expression) -%}
    {{ return(adapter.dispatch('normalized_name', 'partnerpulse')(expression)) }}
{%- endmacro %}

{% macro default__normalized_name(expression) -%}
    regexp_replace(lower(trim({{ expression }})), ' +', ' ', 'g')
{%- endmacro %}

{% macro spark__normalized_name(expression) -%}
    regexp_replace(lower(trim({{ expression }})), ' +', ' ')
{%- endmacro %}
