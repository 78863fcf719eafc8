-- Reported units held against ERP units per partner, month and SKU (grain: partner_id x
-- month_start x sku): every SKU the ERP sold to the partner in a spine month or the
-- partner's effective report lists for it. The idea of rpt_partner_reconciliation, on
-- units. status is the first that holds:
--   1. the partner-month has no effective report: its status in rpt_partner_reconciliation
--      (no_activity, missing_report or awaiting_report); reported_units is NULL;
--   2. unknown_sku: the reported SKU names no ERP item;
--   3. matched: |variance_units| <= sku_reconciliation_tolerance_units (0), or
--      <= sku_reconciliation_tolerance_pct (0.02) x |erp_units| when erp_units is not 0;
--   4. timing_difference: the SKU's units of the month summed with the previous or the
--      next spine month (reported and ERP; a month without an effective report counts 0
--      reported) are within that tolerance;
--   5. no_erp_units: the ERP has no units of the SKU in the month;
--   6. over_reported / under_reported by the sign of variance_units.
--
-- Stored month by month (macros/month_marts.sql, docs/models.md decision 31): a month is
-- rebuilt when its partner-months, ERP units or effective report lines changed, those of
-- the previous or the next month (which a timing difference adds), or the ERP's SKUs.

{{ config(**month_mart_config()) }}

{%- set by_month = month_marts_by_month() %}

with

partner_months as (

    select * from {{ ref('rpt_partner_reconciliation') }}

),

erp_item_months as (

    select * from {{ ref('int_erp_sales_aggregated_to_partner_item_months') }}

),

effective_report_lines as (

    select * from {{ ref('int_partner_report_lines_effective') }}

),

items as (

    select * from {{ ref('stg_erp__items') }}

),

known_skus as (

    select distinct sku from items where sku is not null

),

{% if by_month %}

known_skus_digest as (

    select {{ rows_digest(['sku']) }} as known_skus_digest from known_skus

),

months as (

    select distinct month_start from partner_months

),

-- What each spine month brings: its partner-months, ERP units and effective report lines.
month_parts as (

    select
        months.month_start,
        {{ row_hash([
            'partner_month_parts.partner_months_digest',
            'erp_parts.erp_digest',
            'reported_parts.reported_digest',
        ]) }} as month_digest

    from months

    left join (
        select
            month_start,
            {{ rows_digest(['partner_id', 'has_effective_report', 'status']) }}
                as partner_months_digest
        from partner_months
        group by month_start
    ) as partner_month_parts
        on months.month_start = partner_month_parts.month_start

    left join (
        select
            month_start,
            {{ rows_digest(['partner_id', 'sku', 'units_sold', 'sales_volume_usd']) }}
                as erp_digest
        from erp_item_months
        group by month_start
    ) as erp_parts
        on months.month_start = erp_parts.month_start

    left join (
        select
            month_start,
            {{ rows_digest(['partner_id', 'sku', 'quantity', 'amount_usd']) }}
                as reported_digest
        from effective_report_lines
        group by month_start
    ) as reported_parts
        on months.month_start = reported_parts.month_start

),

-- A month's rows read the month and its two neighbours, and the ERP's SKUs.
month_inputs as (

    select
        month_parts.month_start,
        {{ month_inputs_digest(
            row_hash([
                'previous_parts.month_digest',
                'month_parts.month_digest',
                'next_parts.month_digest',
                'known_skus_digest.known_skus_digest',
            ]),
            is_within_unit_tolerance('u', 'e'),
        ) }} as month_inputs_digest

    from month_parts

    left join month_parts as previous_parts
        on previous_parts.month_start = {{ add_months('month_parts.month_start', -1) }}

    left join month_parts as next_parts
        on next_parts.month_start = {{ add_months('month_parts.month_start', 1) }}

    cross join known_skus_digest

    -- Only months with ERP units or reported lines have rows (a month without is still a
    -- neighbour: whether it is on the spine decides the timing difference's flags).
    where
        month_parts.month_start in (select month_start from erp_item_months)
        or month_parts.month_start in (select month_start from effective_report_lines)

),

months_to_build as (

    {{ months_to_build('month_inputs') }}

),

-- The months built and their neighbours, whose units a timing difference adds.
months_read as (

    select month_start from months_to_build

    union

    select {{ add_months('month_start', -1) }} from months_to_build

    union

    select {{ add_months('month_start', 1) }} from months_to_build

),

{% endif %}

erp_skus as (

    select
        partner_id,
        month_start,
        sku,
        sum(units_sold) as erp_units,
        sum(sales_volume_usd) as erp_sales_usd

    from erp_item_months

    {% if by_month -%}
    where month_start in (select month_start from months_read)
    {%- endif %}

    group by
        partner_id,
        month_start,
        sku

),

reported_skus as (

    select
        partner_id,
        month_start,
        coalesce(sku, '(no sku)') as sku,
        sum(quantity) as reported_units,
        sum(amount_usd) as reported_sales_usd,
        count(*) as reported_line_count

    from effective_report_lines

    {% if by_month -%}
    where month_start in (select month_start from months_read)
    {%- endif %}

    group by
        partner_id,
        month_start,
        coalesce(sku, '(no sku)')

),

sku_keys as (

    select partner_id, month_start, sku from erp_skus

    union

    select partner_id, month_start, sku from reported_skus

),

amounts as (

    select
        sku_keys.partner_id,
        sku_keys.month_start,
        sku_keys.sku,
        partner_months.has_effective_report,
        partner_months.status as partner_month_status,
        (known_skus.sku is not null) as is_known_sku,
        coalesce(erp_skus.erp_units, 0) as erp_units,
        coalesce(erp_skus.erp_sales_usd, 0) as erp_sales_usd,
        case
            when partner_months.has_effective_report
                then coalesce(reported_skus.reported_units, 0)
        end as reported_units,
        case
            when partner_months.has_effective_report
                then coalesce(reported_skus.reported_sales_usd, 0)
        end as reported_sales_usd,
        case
            when partner_months.has_effective_report
                then coalesce(reported_skus.reported_units, 0)
            else 0
        end as reported_or_zero_units,
        {{ count_or_zero('reported_skus.reported_line_count') }} as reported_line_count

    from sku_keys

    inner join partner_months
        on sku_keys.partner_id = partner_months.partner_id
        and sku_keys.month_start = partner_months.month_start

    left join erp_skus
        on sku_keys.partner_id = erp_skus.partner_id
        and sku_keys.month_start = erp_skus.month_start
        and sku_keys.sku = erp_skus.sku

    left join reported_skus
        on sku_keys.partner_id = reported_skus.partner_id
        and sku_keys.month_start = reported_skus.month_start
        and sku_keys.sku = reported_skus.sku

    left join known_skus
        on sku_keys.sku = known_skus.sku

),

-- Each spine month's previous and next month, where those are on the spine too. Equality
-- joins, so each SKU row meets only its two neighbours: with an OR of the two months in
-- one join condition, DuckDB pairs every row with every month of its partner first.
spine_neighbours as (

    select
        partner_months.partner_id,
        partner_months.month_start,
        previous_months.month_start as previous_month_start,
        next_months.month_start as next_month_start

    from partner_months

    left join partner_months as previous_months
        on partner_months.partner_id = previous_months.partner_id
        and previous_months.month_start = {{ add_months('partner_months.month_start', -1) }}

    left join partner_months as next_months
        on partner_months.partner_id = next_months.partner_id
        and next_months.month_start = {{ add_months('partner_months.month_start', 1) }}

),

-- The SKU's units summed with the same SKU in the previous and in the next spine month
-- (0 where that month has none of it).
with_neighbours as (

    select
        amounts.*,
        (spine_neighbours.previous_month_start is not null) as has_previous_month,
        (spine_neighbours.next_month_start is not null) as has_next_month,
        amounts.reported_or_zero_units + coalesce(previous_amounts.reported_or_zero_units, 0)
            as reported_units_with_previous,
        amounts.erp_units + coalesce(previous_amounts.erp_units, 0) as erp_units_with_previous,
        amounts.reported_or_zero_units + coalesce(next_amounts.reported_or_zero_units, 0)
            as reported_units_with_next,
        amounts.erp_units + coalesce(next_amounts.erp_units, 0) as erp_units_with_next,
        {% if by_month -%}
        month_inputs.month_inputs_digest
        {%- else -%}
        cast(null as bigint) as month_inputs_digest
        {%- endif %}

    from amounts

    {% if by_month -%}
    inner join months_to_build
        on amounts.month_start = months_to_build.month_start

    inner join month_inputs
        on amounts.month_start = month_inputs.month_start
    {%- endif %}

    inner join spine_neighbours
        on amounts.partner_id = spine_neighbours.partner_id
        and amounts.month_start = spine_neighbours.month_start

    left join amounts as previous_amounts
        on amounts.partner_id = previous_amounts.partner_id
        and amounts.sku = previous_amounts.sku
        and spine_neighbours.previous_month_start = previous_amounts.month_start

    left join amounts as next_amounts
        on amounts.partner_id = next_amounts.partner_id
        and amounts.sku = next_amounts.sku
        and spine_neighbours.next_month_start = next_amounts.month_start

),

classified as (

    select
        *,
        reported_or_zero_units - erp_units as variance_units,
        {{ is_within_unit_tolerance('reported_or_zero_units - erp_units', 'erp_units') }}
            as is_within_tolerance,
        has_previous_month
        and {{ is_within_unit_tolerance(
            'reported_units_with_previous - erp_units_with_previous', 'erp_units_with_previous'
        ) }} as is_within_tolerance_with_previous_month,
        has_next_month
        and {{ is_within_unit_tolerance(
            'reported_units_with_next - erp_units_with_next', 'erp_units_with_next'
        ) }} as is_within_tolerance_with_next_month

    from with_neighbours

),

final as (

    select
        partner_id,
        month_start,
        sku,
        is_known_sku,
        erp_units,
        reported_units,
        variance_units,
        {{ safe_divide('variance_units', 'erp_units') }} as variance_units_pct,
        erp_sales_usd,
        reported_sales_usd,
        reported_line_count,
        has_effective_report,
        is_within_tolerance,
        is_within_tolerance_with_previous_month,
        is_within_tolerance_with_next_month,
        case
            when not has_effective_report then partner_month_status
            when not is_known_sku then 'unknown_sku'
            when is_within_tolerance then 'matched'
            when is_within_tolerance_with_previous_month
                or is_within_tolerance_with_next_month
                then 'timing_difference'
            when erp_units = 0 then 'no_erp_units'
            when variance_units > 0 then 'over_reported'
            else 'under_reported'
        end as status,
        month_inputs_digest as _month_inputs_digest

    from classified

)

{{ with_month_markers('final', 'months_to_build') }}
