{#
    dbt's safe_cast promises NULL for a value that does not convert; dbt-duckdb leaves it to
    dbt's default, a plain cast, which fails the whole build on one malformed value (an
    ERP_Partner_Id__c of 'N/A' stopped every model). DuckDB's try_cast keeps the promise.
#}
{% macro duckdb__safe_cast(field, type) %}
    try_cast({{ field }} as {{ type }})
{% endmacro %}
