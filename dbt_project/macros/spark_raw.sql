{#
    The raw layer on Spark (docs/scaling.md): the pipeline exports each raw table as a
    Parquet version of its own and names the current ones in PARTNERPULSE_SPARK_RAW_TABLES
    (JSON: "raw_crm.account" -> its file). There, `source()` reads the file itself
    (parquet.`<file>`), so that a dbt command reads the versions current when it started
    however the exports of later syncs go on. Elsewhere, and for a table not exported,
    `source()` is dbt's own.
#}
{% macro source(source_name, table_name) %}
  {% set relation = builtins.source(source_name, table_name) %}
  {{ return(adapter.dispatch('raw_relation', 'partnerpulse')(relation)) }}
{% endmacro %}

{% macro default__raw_relation(relation) %}
  {{ return(relation) }}
{% endmacro %}

{% macro spark__raw_relation(relation) %}
  {#- Read when run, not while parsing: a new version must not make dbt parse again. -#}
  {% if not execute %}{{ return(relation) }}{% endif %}
  {% set files = fromjson(env_var('PARTNERPULSE_SPARK_RAW_TABLES', '') or '{}') %}
  {% set file = files.get(relation.schema ~ '.' ~ relation.identifier) %}
  {% if file is none %}{{ return(relation) }}{% endif %}
  {{ return(api.Relation.create(
      schema='parquet', identifier=file,
      quote_policy={'schema': false, 'identifier': true})) }}
{% endmacro %}
