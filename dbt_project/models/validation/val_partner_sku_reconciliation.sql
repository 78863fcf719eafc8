-- The frame of the GX suite `partner_sku_reconciliation` (grain: partner_id x month_start):
-- rpt_partner_sku_reconciliation summarised to one row per partner-month, so that Great
-- Expectations validates a small frame however many SKUs partners sell. Per status: how
-- many SKUs, their net unit variance, and a list `SKU-10001 (+3 of 27 units)` of the SKUs
-- concerned (worst first). The structural counts (duplicate or keyless SKU rows, unknown
-- statuses) are computed here as well.

with

sku_reconciliation as (

    select * from {{ ref('rpt_partner_sku_reconciliation') }}

),

sku_rows as (

    select
        partner_id,
        month_start,
        sku,
        status,
        erp_units,
        reported_units,
        variance_units,
        sku
        || ' ('
        || case when variance_units < 0 then '-' else '+' end
        || {{ format_grouped('abs(coalesce(variance_units, 0))', 0) }}
        || ' of '
        || {{ format_grouped('coalesce(erp_units, 0)', 0) }}
        || ' units)' as sku_variance

    from sku_reconciliation

),

by_partner_month as (

    select
        partner_id,
        month_start,
        count(*) as skus,
        count(*) - count(distinct sku) as duplicate_sku_rows,
        count(*) filter (where sku is null or erp_units is null or status is null)
            as incomplete_sku_rows,
        count(*) filter (
            where status not in (
                'no_activity', 'missing_report', 'awaiting_report', 'unknown_sku', 'matched',
                'timing_difference', 'no_erp_units', 'over_reported', 'under_reported'
            )
        ) as unknown_status_rows,
        count(*) filter (where status in ('no_activity', 'awaiting_report')) as not_due_skus,
        count(*) filter (where status in ('matched', 'timing_difference')) as reconciled_skus,
        sum(erp_units) as erp_units,
        sum(reported_units) as reported_units,

        count(*) filter (where status = 'over_reported') as over_reported_skus,
        sum(variance_units) filter (where status = 'over_reported') as over_reported_units,
        {{ ordered_string_agg('sku_variance', ', ', order_by=['-abs(variance_units)', 'sku'],
                                   where="status = 'over_reported'") }} as over_reported_detail,

        count(*) filter (where status = 'under_reported') as under_reported_skus,
        sum(variance_units) filter (where status = 'under_reported') as under_reported_units,
        {{ ordered_string_agg('sku_variance', ', ', order_by=['-abs(variance_units)', 'sku'],
                                   where="status = 'under_reported'") }} as under_reported_detail,

        count(*) filter (where status = 'missing_report') as missing_report_skus,
        sum(erp_units) filter (where status = 'missing_report') as missing_report_units,

        count(*) filter (where status = 'unknown_sku') as unknown_sku_skus,
        sum(reported_units) filter (where status = 'unknown_sku') as unknown_sku_units,
        {{ ordered_string_agg('sku_variance', ', ', order_by=['sku'], where="status = 'unknown_sku'") }}
            as unknown_sku_detail,

        count(*) filter (where status = 'no_erp_units') as no_erp_units_skus,
        sum(reported_units) filter (where status = 'no_erp_units') as no_erp_units_units,
        {{ ordered_string_agg('sku_variance', ', ', order_by=['-abs(variance_units)', 'sku'],
                                   where="status = 'no_erp_units'") }} as no_erp_units_detail,

        count(*) filter (where status = 'timing_difference') as timing_difference_skus,
        {{ ordered_string_agg('sku_variance', ', ', order_by=['-abs(variance_units)', 'sku'],
                                   where="status = 'timing_difference'") }} as timing_difference_detail

    from sku_rows

    group by
        partner_id,
        month_start

),

final as (

    select
        *,
        skus - not_due_skus - reconciled_skus as unreconciled_skus,
        (not_due_skus < skus) as is_due

    from by_partner_month

)

select * from final
