{#
    A month given by a dbt var, as the date literal of its first day, or none when the var
    is empty. Accepts 'YYYY-MM' and 'YYYY-MM-DD' (a Dagster monthly partition key); any day
    of the month names the month. A malformed value stops compilation.

    An empty var falls back to the environment's PARTNERPULSE_DBT_<VAR> (min_month:
    PARTNERPULSE_DBT_MIN_MONTH), which is how the pipeline passes a run's months: a var that
    changes from run to run would make dbt parse the whole project again (as_of.sql). As
    there, the environment is read when the SQL is rendered to run, not while dbt parses.
#}
{% macro month_var_literal(var_name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set raw = (var(var_name, '') or env_var('PARTNERPULSE_DBT_' ~ var_name | upper, '') or '') | string | trim -%}
    {%- if raw == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$', raw) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ var_name ~ " must be YYYY-MM or YYYY-MM-DD, got '" ~ raw ~ "'"
        ) }}
    {%- endif -%}
    {%- do modules.datetime.datetime.strptime(raw[:7] ~ '-01', '%Y-%m-%d') -%}
    {{ return("cast('" ~ raw[:7] ~ "-01' as date)") }}
{%- endmacro %}
