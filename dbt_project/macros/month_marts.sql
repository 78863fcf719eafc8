{#
    The large partner-month marts stored month by month (docs/models.md, decision 31):
    rpt_partner_invoice_reconciliation and rpt_partner_sku_reconciliation.

    Each such mart computes `month_inputs`: one row per month with a digest of every input
    row its rows of that month are computed from, the dimensions they join included (a
    partner's mapping, an invoice's lines wherever the invoice is dated, the neighbouring
    months a timing difference looks at). Every stored row keeps the digest of its month
    (`_month_inputs_digest`, with the model's code and vars folded in). An incremental
    build rebuilds the months whose digest differs from the stored one, the new ones, and
    the stored ones that no longer have inputs: whatever changed them, a sync, a restated
    report, a mapping, a void, a day passing a due date, or the code.

    The batch names each month it rebuilds with a marker row (every column NULL but
    month_start): `month_replace` deletes every stored row of those months, then inserts
    the batch's rows, so a month left with no rows loses its old ones (with delete+insert
    on the month key, only months that still have rows would).

    On Spark the marts stay tables, rebuilt whole (`month_marts_by_month` false): a
    Parquet table cannot delete rows, and Spark plans a CTE again wherever it is read, so
    the digests would cost more than the months they spare. The models leave their
    bookkeeping out there and keep the column, NULL, so that both engines' marts have the
    same columns.
#}

{% macro month_marts_by_month() -%}
    {{ return(adapter.dispatch('month_marts_by_month', 'partnerpulse')()) }}
{%- endmacro %}

{% macro default__month_marts_by_month() -%}
    {{ return(true) }}
{%- endmacro %}

{% macro spark__month_marts_by_month() -%}
    {{ return(false) }}
{%- endmacro %}

{% macro month_mart_config() -%}
    {%- if month_marts_by_month() -%}
        {{ return({
            'materialized': 'incremental',
            'incremental_strategy': 'month_replace',
            'on_schema_change': 'sync_all_columns',
        }) }}
    {%- else -%}
        {{ return({'materialized': 'table'}) }}
    {%- endif -%}
{%- endmacro %}


{# A 64-bit hash of the expressions' values, NULLs included (DuckDB's hash). #}
{% macro row_hash(expressions) -%}
    hash({{ expressions | join(', ') }})
{%- endmacro %}


{#
    An aggregate: one hash for the multiset of the group's rows (of the expressions), the
    same whatever order the rows come in. The count and the XOR alone would miss a pair of
    equal rows swapped for another pair; the sum of the hashes modulo a prime does not.
#}
{% macro rows_digest(expressions) -%}
    {%- set hashed = row_hash(expressions) -%}
    {{ row_hash(['count(*)', 'bit_xor(' ~ hashed ~ ')', 'sum(' ~ hashed ~ ' % 4294967291)']) }}
{%- endmacro %}


{#
    The digest a row keeps: its month's input digest with the model's own code and the
    vars and macros it is built with (passed rendered, `versioned`), so that a change of
    either rebuilds every month.
#}
{% macro month_inputs_digest(digest, versioned) -%}
    {%- set version = local_md5(model.checksum.checksum ~ versioned) -%}
    {{ row_hash([digest, "'" ~ version ~ "'"]) }}
{%- endmacro %}


{#
    The months the build writes, from `month_inputs` (month_start, month_inputs_digest, as
    above): on an incremental build those whose stored digest differs or is missing, and
    the stored months no input has any longer; on a full build all of them. A table stored
    before it kept digests (an older version of the project) is rewritten month by month.
#}
{% macro months_to_build(month_inputs) -%}
    {%- set stored_columns = [] -%}
    {%- if is_incremental() -%}
        {%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- endif -%}
    {%- if '_month_inputs_digest' not in stored_columns %}
    select month_start from {{ month_inputs }}
    {%- if is_incremental() %}

    union

    select month_start from {{ this }}
    {%- endif %}
    {%- else %}
    select {{ month_inputs }}.month_start

    from {{ month_inputs }}

    left join (
        select
            month_start,
            min(_month_inputs_digest) as stored_digest,
            count(distinct _month_inputs_digest) as stored_digests
        from {{ this }}
        group by month_start
    ) as stored
        on {{ month_inputs }}.month_start = stored.month_start

    where
        stored.month_start is null
        or stored.stored_digests <> 1
        or stored.stored_digest <> {{ month_inputs }}.month_inputs_digest

    union

    select month_start

    from {{ this }}

    where month_start not in (select month_start from {{ month_inputs }})
    {%- endif %}
{%- endmacro %}


{#
    The rows of the build, and on an incremental build one marker row per month it writes
    (DuckDB's UNION ALL BY NAME fills the marker's other columns with NULL).
#}
{% macro with_month_markers(rows, months) -%}
    select * from {{ rows }}
    {%- if is_incremental() %}

    union all by name

    select month_start from {{ months }}
    {%- endif %}
{%- endmacro %}


{#
    The incremental strategy of the month marts: every stored row of a month the batch
    marks goes, then the batch's rows come in (markers left out), in the build's one
    transaction.
#}
{% macro get_incremental_month_replace_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set batch = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where month_start in (select month_start from {{ batch }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ batch }}
    where _month_inputs_digest is not null
{%- endmacro %}
