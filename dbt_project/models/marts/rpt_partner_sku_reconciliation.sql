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

erp_skus as (

    select
        partner_id,
        month_start,
        sku,
        sum(units_sold) as erp_units,
        sum(sales_volume_usd) as erp_sales_usd

    from erp_item_months

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

known_skus as (

    select distinct sku from items where sku is not null

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
        amounts.erp_units + coalesce(next_amounts.erp_units, 0) as erp_units_with_next

    from amounts

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
        end as status

    from classified

)

select * from final
