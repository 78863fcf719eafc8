{#
    How an incremental model keyed on the month replaces a rebuilt month, per engine (the
    config of int_erp_sales_aggregated_to_erp_partner_item_months): every stored row of a
    month the run rebuilds goes, and the month's new rows come in. DuckDB deletes the
    month's rows and inserts (delete+insert on month_start); Spark's Parquet tables cannot
    delete, so the table is partitioned by month and a rebuilt month's partition is
    overwritten (insert_overwrite, Spark's dynamic partition overwrite).
#}
{% macro month_replace_config() -%}
    {{ return(adapter.dispatch('month_replace_config', 'partnerpulse')()) }}
{%- endmacro %}

{% macro default__month_replace_config() -%}
    {{ return({'incremental_strategy': 'delete+insert', 'unique_key': 'month_start'}) }}
{%- endmacro %}

{% macro spark__month_replace_config() -%}
    {{ return({
        'incremental_strategy': 'insert_overwrite',
        'partition_by': ['month_start'],
        'file_format': 'parquet',
    }) }}
{%- endmacro %}
