{#
    Snapshots on Spark with plain Parquet tables (docs/scaling.md).

    dbt-spark's snapshot MERGEs into the table, which only Delta, Iceberg or Hudi tables
    accept, and their jars cannot be installed from the Python registries. Parquet tables
    cannot be updated in place, so a snapshot that finds changes writes the whole history
    again as a new table, from the old one and dbt's staged changes, with the same result
    as dbt's merge: the current version of a changed row is closed (dbt_valid_to set) and
    new versions are appended. The new table replaces the old by two renames; the old one
    is dropped only once the new one has its name, so a failure part-way never loses
    history (at worst `<snapshot>__dbt_old` is left beside it, and the next run, which
    drops it first, goes on).

    The first snapshot, the strategies and the staging of changes are dbt's own macros.
#}
{% materialization snapshot, adapter='spark' %}

  {%- set identifier = model.get('alias', model.get('name')) -%}
  {%- set strategy_name = config.get('strategy') -%}
  {%- set columns = config.get('snapshot_table_column_names') or get_snapshot_table_column_names() -%}

  {% set target_exists, target_relation = get_or_create_relation(
        database=none, schema=model.schema, identifier=identifier, type='table') -%}
  {%- set new_relation = target_relation.incorporate(path={'identifier': identifier ~ '__dbt_new'}) -%}
  {%- set old_relation = target_relation.incorporate(path={'identifier': identifier ~ '__dbt_old'}) -%}

  {% if not adapter.check_schema_exists(model.database, model.schema) %}
    {% do create_schema(model.schema) %}
  {% endif %}

  {{ run_hooks(pre_hooks) }}

  {% set strategy = strategy_dispatch(strategy_name)(
        model, 'snapshotted_data', 'source_data', model['config'], target_exists) %}

  {% if not target_exists %}

    {% call statement('main') %}
      {{ create_table_as(False, target_relation, build_snapshot_table(strategy, model['compiled_code'])) }}
    {% endcall %}

  {% else %}

    {{ adapter.valid_snapshot_target(target_relation, columns) }}
    {% do adapter.drop_relation(new_relation) %}
    {% do adapter.drop_relation(old_relation) %}

    {% set staging_relation = spark_build_snapshot_staging_table(strategy, sql, target_relation) %}
    {% set internal = ['dbt_change_type', 'dbt_unique_key'] %}
    {% do create_columns(target_relation, adapter.get_missing_columns(staging_relation, target_relation)
                                          | rejectattr('name', 'in', internal) | list) %}
    {% set target_columns = adapter.get_columns_in_relation(target_relation) | map(attribute='name') | list %}

    {% call statement('main') %}
      create table {{ new_relation }} using parquet as
      select
        {%- for name in target_columns %}
        {% if name == columns.dbt_valid_to -%}
        case
          when history.{{ name }} is null and closing.dbt_scd_id is not null
            then closing.{{ name }}
          else history.{{ name }}
        end as {{ name }}
        {%- else -%}
        history.{{ adapter.quote(name) }}
        {%- endif %}{{ ',' if not loop.last }}
        {%- endfor %}
      from {{ target_relation }} as history
      left join (
        select {{ columns.dbt_scd_id }} as dbt_scd_id, {{ columns.dbt_valid_to }}
        from {{ staging_relation }}
        where dbt_change_type in ('update', 'delete')
      ) as closing
        on history.{{ columns.dbt_scd_id }} = closing.dbt_scd_id
      union all
      select {% for name in target_columns %}{{ adapter.quote(name) }}{{ ', ' if not loop.last }}{% endfor %}
      from {{ staging_relation }}
      where dbt_change_type = 'insert'
    {% endcall %}

    {% do adapter.rename_relation(target_relation, old_relation) %}
    {% do adapter.rename_relation(new_relation, target_relation) %}
    {% do adapter.drop_relation(old_relation) %}
    {% do adapter.drop_relation(staging_relation) %}

  {% endif %}

  {% do persist_docs(target_relation, model) %}
  {{ run_hooks(post_hooks) }}
  {{ adapter.commit() }}
  {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
