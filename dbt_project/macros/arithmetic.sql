{#
    Money compares with zero on the value rounded to cents (docs/warehouse.md): an amount
    "= 0" is one that rounds to 0.00 USD.
#}
{% macro is_zero_usd(expression) -%}
    (round({{ expression }}, 2) = 0)
{%- endmacro %}

{# numerator / denominator, NULL when the denominator is NULL or zero (never 0, never infinity). #}
{% macro safe_divide(numerator, denominator) -%}
    case
        when ({{ denominator }}) is null or ({{ denominator }}) = 0 then null
        else ({{ numerator }}) / ({{ denominator }})
    end
{%- endmacro %}

{# The same for a USD denominator: NULL when the denominator rounds to 0.00. #}
{% macro safe_divide_usd(numerator, denominator) -%}
    case
        when ({{ denominator }}) is null or round({{ denominator }}, 2) = 0 then null
        else ({{ numerator }}) / ({{ denominator }})
    end
{%- endmacro %}

{#
    Reconciliation tolerance: |variance / base| <= reconciliation_tolerance_pct (only when
    the base is not 0) or |variance| <= reconciliation_tolerance_usd. The variance is taken
    rounded to cents, so float noise below a cent never decides a status.
#}
{% macro is_within_tolerance(variance_usd, base_usd) -%}
    (
        round(abs({{ variance_usd }}), 2) <= {{ var('reconciliation_tolerance_usd') }}
        or (
            round({{ base_usd }}, 2) <> 0
            and round(abs({{ variance_usd }}), 2)
                <= {{ var('reconciliation_tolerance_pct') }} * abs({{ base_usd }})
        )
    )
{%- endmacro %}

{# The median of an expression, as an aggregate. #}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'partnerpulse')(expression)) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{% macro spark__median(expression) -%}
    percentile({{ expression }}, 0.5)
{%- endmacro %}

{#
    A double-precision float type. dbt.type_float() renders FLOAT, which is single precision
    (4 bytes) in DuckDB, too coarse for money and ratios.
#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'partnerpulse')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{# A count that is 0 for a month without activity, as a BIGINT (not DuckDB's HUGEINT sum). #}
{% macro count_or_zero(expression) -%}
    cast(coalesce({{ expression }}, 0) as {{ dbt.type_bigint() }})
{%- endmacro %}

{#
    Unit tolerance of the SKU reconciliation: |variance| <= sku_reconciliation_tolerance_units,
    or |variance| <= sku_reconciliation_tolerance_pct x |base| when the base is not 0.
    Units are counted, not rounded: the comparison is exact.
#}
{% macro is_within_unit_tolerance(variance_units, base_units) -%}
    (
        abs({{ variance_units }}) <= {{ var('sku_reconciliation_tolerance_units') }}
        or (
            {{ base_units }} <> 0
            and abs({{ variance_units }})
                <= {{ var('sku_reconciliation_tolerance_pct') }} * abs({{ base_units }})
        )
    )
{%- endmacro %}

{# The continuous percentile (0..1) of an expression, as an aggregate. #}
{% macro percentile(expression, fraction) -%}
    {{ return(adapter.dispatch('percentile', 'partnerpulse')(expression, fraction)) }}
{%- endmacro %}

{% macro default__percentile(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro spark__percentile(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
{%- endmacro %}
