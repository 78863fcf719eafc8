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

-- The same SKU in the previous and the next month, when that month is on the spine.
neighbours as (

    select
        amounts.partner_id,
        amounts.month_start,
        amounts.sku,
        neighbour_months.month_start as neighbour_month_start,
        (neighbour_months.month_start < amounts.month_start) as is_previous_month,
        coalesce(neighbour_amounts.erp_units, 0) as neighbour_erp_units,
        coalesce(neighbour_amounts.reported_or_zero_units, 0) as neighbour_reported_units

    from amounts

    inner join partner_months as neighbour_months
        on amounts.partner_id = neighbour_months.partner_id
        and (
            neighbour_months.month_start = {{ add_months('amounts.month_start', -1) }}
            or neighbour_months.month_start = {{ add_months('amounts.month_start', 1) }}
        )

    left join amounts as neighbour_amounts
        on amounts.partner_id = neighbour_amounts.partner_id
        and amounts.sku = neighbour_amounts.sku
        and neighbour_months.month_start = neighbour_amounts.month_start

),

neighbour_tolerance as (

    select
        neighbours.partner_id,
        neighbours.month_start,
        neighbours.sku,
        max(
            case
                when neighbours.is_previous_month
                    and {{ is_within_unit_tolerance(
                        '(amounts.reported_or_zero_units + neighbours.neighbour_reported_units)'
                        ~ ' - (amounts.erp_units + neighbours.neighbour_erp_units)',
                        '(amounts.erp_units + neighbours.neighbour_erp_units)'
                    ) }}
                    then 1
                else 0
            end
        ) as is_within_with_previous,
        max(
            case
                when not neighbours.is_previous_month
                    and {{ is_within_unit_tolerance(
                        '(amounts.reported_or_zero_units + neighbours.neighbour_reported_units)'
                        ~ ' - (amounts.erp_units + neighbours.neighbour_erp_units)',
                        '(amounts.erp_units + neighbours.neighbour_erp_units)'
                    ) }}
                    then 1
                else 0
            end
        ) as is_within_with_next

    from neighbours

    inner join amounts
        on neighbours.partner_id = amounts.partner_id
        and neighbours.month_start = amounts.month_start
        and neighbours.sku = amounts.sku

    group by
        neighbours.partner_id,
        neighbours.month_start,
        neighbours.sku

),

classified as (

    select
        amounts.*,
        amounts.reported_or_zero_units - amounts.erp_units as variance_units,
        {{ is_within_unit_tolerance(
            'amounts.reported_or_zero_units - amounts.erp_units', 'amounts.erp_units'
        ) }} as is_within_tolerance,
        coalesce(neighbour_tolerance.is_within_with_previous = 1, false)
            as is_within_tolerance_with_previous_month,
        coalesce(neighbour_tolerance.is_within_with_next = 1, false)
            as is_within_tolerance_with_next_month

    from amounts

    left join neighbour_tolerance
        on amounts.partner_id = neighbour_tolerance.partner_id
        and amounts.month_start = neighbour_tolerance.month_start
        and amounts.sku = neighbour_tolerance.sku

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
