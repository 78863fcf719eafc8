-- Where each partner is strong (grain: partner_id x segment_type x segment): for every
-- partner with ERP sales in the trailing window (the segment_window_months (12) complete
-- months ending with the scorecard's scored month) and every product line, end-customer
-- industry and end-customer region with ecosystem sales in it, the segment's share of the
-- partner's sales against its share of the ecosystem's (all those partners' sales):
--   location_quotient             = sales_share / ecosystem_sales_share;
--   location_quotient_lower_bound = (sales_share - z x its standard error) /
--                                   ecosystem_sales_share, z = specialist_confidence_z
--                                   (1.96: a one-sided 97.5% bound), the error taken over
--                                   the partner's end customers
--                                   (int_erp_sales_aggregated_to_partner_segment_windows);
--   is_specialist: the partner sold to at least specialist_min_end_customers (5) end
--     customers in the segment and the lower bound is at least
--     specialist_min_location_quotient_<segment_type> (product_line 1.25, industry 3.5,
--     region 1.25): with 97.5% confidence the segment's share of its sales is that many
--     times the ecosystem's. Never for 'Unknown'.
-- tier_rank ranks the partners of the same tier now ('Unknown' without one) by location
-- quotient within the segment (1 = the highest; ties share a rank; quotients compared to 9
-- decimals). The 'prior_*' columns measure the same in the window just before; NULL when
-- the partner had no sales then. is_becoming_specialist: a specialist now that was not
-- one then. is_priority: a product line named in var priority_product_lines.

with

segment_windows as (

    select * from {{ ref('int_erp_sales_aggregated_to_partner_segment_windows') }}

),

partners as (

    select * from {{ ref('dim_partners') }}

),

segment_rows as (

    select *

    from segment_windows

    where not {{ is_zero_usd('partner_sales_volume_usd') }}

),

partner_windows as (

    select distinct
        window_name,
        window_start_month,
        window_end_month,
        partner_id,
        segment_type,
        partner_sales_volume_usd,
        partner_end_customer_count

    from segment_rows

),

ecosystem_segments as (

    select
        window_name,
        segment_type,
        segment,
        product_line_id,
        sum(sales_volume_usd) as ecosystem_sales_volume_usd

    from segment_rows

    group by
        window_name,
        segment_type,
        segment,
        product_line_id

),

ecosystem_totals as (

    select
        window_name,
        segment_type,
        sum(ecosystem_sales_volume_usd) as ecosystem_total_sales_volume_usd

    from ecosystem_segments

    group by
        window_name,
        segment_type

),

ecosystem_shares as (

    select
        ecosystem_segments.window_name,
        ecosystem_segments.segment_type,
        ecosystem_segments.segment,
        ecosystem_segments.product_line_id,
        {{ safe_divide_usd(
            'ecosystem_segments.ecosystem_sales_volume_usd',
            'ecosystem_totals.ecosystem_total_sales_volume_usd'
        ) }} as ecosystem_sales_share

    from ecosystem_segments

    inner join ecosystem_totals
        on ecosystem_segments.window_name = ecosystem_totals.window_name
        and ecosystem_segments.segment_type = ecosystem_totals.segment_type

    where not {{ is_zero_usd('ecosystem_segments.ecosystem_sales_volume_usd') }}

),

{#- Every partner with sales in a window against every segment of the type that the
    ecosystem sold in it: a segment the partner did not sell is a share of 0 (and, with
    at least 2 customers, a standard error of 0). #}
partner_segments as (

    select
        partner_windows.window_name,
        partner_windows.window_start_month,
        partner_windows.window_end_month,
        partner_windows.partner_id,
        partner_windows.segment_type,
        ecosystem_shares.segment,
        ecosystem_shares.product_line_id,
        coalesce(segment_rows.sales_volume_usd, 0) as sales_volume_usd,
        partner_windows.partner_sales_volume_usd,
        {{ count_or_zero('segment_rows.end_customer_count') }} as end_customers,
        partner_windows.partner_end_customer_count as partner_end_customers,
        coalesce(segment_rows.sales_share, 0) as sales_share,
        ecosystem_shares.ecosystem_sales_share,
        case
            when segment_rows.partner_id is not null
                then segment_rows.sales_share_standard_error
            when partner_windows.partner_end_customer_count >= 2 then 0
        end as sales_share_standard_error

    from partner_windows

    inner join ecosystem_shares
        on partner_windows.window_name = ecosystem_shares.window_name
        and partner_windows.segment_type = ecosystem_shares.segment_type

    left join segment_rows
        on partner_windows.window_name = segment_rows.window_name
        and partner_windows.partner_id = segment_rows.partner_id
        and partner_windows.segment_type = segment_rows.segment_type
        and ecosystem_shares.segment = segment_rows.segment

),

quotients as (

    select
        partner_segments.*,
        partner_segments.sales_share / partner_segments.ecosystem_sales_share
            as location_quotient,
        (
            partner_segments.sales_share
            - {{ var('specialist_confidence_z') }} * partner_segments.sales_share_standard_error
        ) / partner_segments.ecosystem_sales_share as location_quotient_lower_bound

    from partner_segments

),

judged as (

    select
        quotients.*,
        coalesce(
            quotients.segment <> 'Unknown'
            and quotients.end_customers >= {{ var('specialist_min_end_customers') }}
            and quotients.location_quotient_lower_bound
                >= {{ specialist_min_location_quotient('quotients.segment_type') }},
            false
        ) as is_specialist

    from quotients

),

current_window as (

    select
        judged.*,
        coalesce(partners.partner_tier, 'Unknown') as partner_tier

    from judged

    inner join partners
        on judged.partner_id = partners.partner_id

    where judged.window_name = 'current'

),

prior_window as (

    select * from judged where window_name = 'prior'

),

prior_partners as (

    select distinct
        partner_id,
        segment_type

    from prior_window

),

ranked as (

    select
        current_window.*,
        case
            when current_window.segment <> 'Unknown'
                then rank() over (
                    partition by
                        current_window.segment_type,
                        current_window.segment,
                        current_window.partner_tier
                    order by round(current_window.location_quotient, 9) desc
                )
        end as tier_rank,
        count(*) over (
            partition by
                current_window.segment_type,
                current_window.segment,
                current_window.partner_tier
        ) as tier_partners

    from current_window

),

final as (

    select
        ranked.partner_id,
        ranked.segment_type,
        ranked.segment,
        ranked.product_line_id,
        ranked.partner_tier,
        ranked.window_start_month,
        ranked.window_end_month,
        ranked.sales_volume_usd,
        ranked.partner_sales_volume_usd,
        ranked.end_customers,
        ranked.partner_end_customers,
        ranked.sales_share,
        ranked.ecosystem_sales_share,
        ranked.location_quotient,
        ranked.sales_share_standard_error,
        ranked.location_quotient_lower_bound,
        ranked.is_specialist,
        cast(ranked.tier_rank as {{ dbt.type_bigint() }}) as tier_rank,
        {{ count_or_zero('ranked.tier_partners') }} as tier_partners,
        (
            ranked.segment_type = 'product_line'
            and {{ is_priority_product_line('ranked.segment') }}
        ) as is_priority,
        case
            when prior_partners.partner_id is not null
                then coalesce(prior_window.sales_share, 0)
        end as prior_sales_share,
        prior_window.ecosystem_sales_share as prior_ecosystem_sales_share,
        prior_window.location_quotient as prior_location_quotient,
        prior_window.location_quotient_lower_bound as prior_location_quotient_lower_bound,
        ranked.location_quotient - prior_window.location_quotient as location_quotient_change,
        case
            when prior_partners.partner_id is not null
                then coalesce(prior_window.is_specialist, false)
        end as was_specialist,
        coalesce(
            ranked.is_specialist
            and prior_partners.partner_id is not null
            and not coalesce(prior_window.is_specialist, false),
            false
        ) as is_becoming_specialist

    from ranked

    left join prior_partners
        on ranked.partner_id = prior_partners.partner_id
        and ranked.segment_type = prior_partners.segment_type

    left join prior_window
        on ranked.partner_id = prior_window.partner_id
        and ranked.segment_type = prior_window.segment_type
        and ranked.segment = prior_window.segment

)

select * from final
