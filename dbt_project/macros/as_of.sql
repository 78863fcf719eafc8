{#
    "Today" of the pipeline, a YYYY-MM-DD date: the var as_of, else the environment's
    PARTNERPULSE_AS_OF (the pipeline sets it for every dbt step), else the UTC date of the
    wall clock when dbt compiles. It is rendered as a date literal, so one build sees one
    today in every model.

    The pipeline sets the environment rather than passing a var: dbt parses the whole
    project again (about 6 s) whenever its vars change, so as a var a new day cost every
    run's first dbt step that parse. Nor is the environment read while dbt parses
    (`execute` false; the parse needs only the refs, not the date): dbt parses again every
    model whose parse read an environment variable that has changed since, which a new
    day made it do for the 13 models that use today (2-3 s a day). The SQL run is
    rendered at run time, where it reads the day.
#}
{% macro as_of_date_string() -%}
    {%- if not execute -%}
        {{ return('1970-01-01') }}
    {%- endif -%}
    {%- set raw = (var('as_of', '') or env_var('PARTNERPULSE_AS_OF', '') or '') | string | trim -%}
    {%- if raw == '' -%}
        {%- set raw = modules.datetime.datetime.utcnow().strftime('%Y-%m-%d') -%}
    {%- endif -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', raw) -%}
        {{ exceptions.raise_compiler_error(
            "var as_of (PARTNERPULSE_AS_OF) must be YYYY-MM-DD, got '" ~ raw ~ "'"
        ) }}
    {%- endif -%}
    {%- do modules.datetime.datetime.strptime(raw, '%Y-%m-%d') -%}
    {{ return(raw) }}
{%- endmacro %}

{% macro as_of_date() -%}
    cast('{{ as_of_date_string() }}' as date)
{%- endmacro %}

{% macro as_of_month_start() -%}
    {%- set raw = as_of_date_string() -%}
    cast('{{ raw[:7] }}-01' as date)
{%- endmacro %}
