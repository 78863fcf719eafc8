-- What else each partner could sell (grain: partner_id x product_line_id): the product
-- lines a partner did not sell in the trailing window (no invoice line of it in the
-- segment_window_months (12) complete months ending with the scorecard's scored month)
-- that partners with a similar product mix do sell, ranked by the volume they suggest.
--   peers: the cross_sell_peer_count (10) partners with sales in the window most similar
--     to it, by the cosine similarity of their vectors of product-line shares of sales
--     (similarities compared to 12 decimals, ties by partner_id; only positive ones);
--   peer_sales_share: the peers' shares of the line's sales, weighted by similarity;
--   expected_monthly_sales_usd = peer_sales_share x the partner's sales per spine month
--     of the window: what the line would add if the partner sold it as its peers do;
--   expected_invoice_lines = the partner's invoice lines in the window x the peers'
--     similarity-weighted share of invoice lines in the line: how many lines of it the
--     partner would have shown had it sold like its peers.
-- A row is an opportunity only when expected_invoice_lines >= cross_sell_min_expected_lines
-- (8): selling like its peers, the chance of no line of it in the window would be at most
-- e^-8 (0.03%), so the gap is the partner's, not the luck of a thin year.
-- opportunity_rank: 1 for the largest expected_monthly_sales_usd of the partner (ties by
-- product_line_id).

with

segment_windows as (

    select * from {{ ref('int_erp_sales_aggregated_to_partner_segment_windows') }}

),

product_lines as (

    select * from {{ ref('stg_erp__classifications') }}

),

product_line_rows as (

    select *

    from segment_windows

    where
        window_name = 'current'
        and segment_type = 'product_line'
        and not {{ is_zero_usd('partner_sales_volume_usd') }}

),

window_partners as (

    select distinct
        partner_id,
        window_start_month,
        window_end_month,
        partner_sales_volume_usd,
        partner_invoice_line_count,
        partner_spine_months

    from product_line_rows

),

{#- Every partner against every product line: its share of sales and of invoice lines. #}
partner_lines as (

    select
        window_partners.partner_id,
        product_lines.product_line_id,
        product_lines.product_line_name,
        coalesce(product_line_rows.sales_share, 0) as sales_share,
        coalesce(
            {{ safe_divide(
                'cast(product_line_rows.invoice_line_count as ' ~ type_double() ~ ')',
                'window_partners.partner_invoice_line_count'
            ) }},
            0
        ) as invoice_line_share,
        coalesce(product_line_rows.invoice_line_count, 0) as invoice_line_count

    from window_partners

    cross join product_lines

    left join product_line_rows
        on window_partners.partner_id = product_line_rows.partner_id
        and product_lines.product_line_id = product_line_rows.product_line_id

),

norms as (

    select
        partner_id,
        sqrt(sum(sales_share * sales_share)) as share_norm

    from partner_lines

    group by partner_id

),

dot_products as (

    select
        partner_lines.partner_id,
        peer_lines.partner_id as peer_partner_id,
        sum(partner_lines.sales_share * peer_lines.sales_share) as dot_product

    from partner_lines

    inner join partner_lines as peer_lines
        on partner_lines.product_line_id = peer_lines.product_line_id
        and partner_lines.partner_id <> peer_lines.partner_id

    group by
        partner_lines.partner_id,
        peer_lines.partner_id

),

similarities as (

    select
        dot_products.partner_id,
        dot_products.peer_partner_id,
        {{ safe_divide(
            'dot_products.dot_product', 'partner_norms.share_norm * peer_norms.share_norm'
        ) }} as similarity

    from dot_products

    inner join norms as partner_norms
        on dot_products.partner_id = partner_norms.partner_id

    inner join norms as peer_norms
        on dot_products.peer_partner_id = peer_norms.partner_id

),

ranked_peers as (

    select
        partner_id,
        peer_partner_id,
        similarity,
        row_number() over (
            partition by partner_id
            order by round(similarity, 12) desc, peer_partner_id
        ) as peer_rank

    from similarities

    where similarity > 0

),

peers as (

    select * from ranked_peers where peer_rank <= {{ var('cross_sell_peer_count') }}

),

peer_lines as (

    select
        peers.partner_id,
        peer_lines.product_line_id,
        count(*) as peer_count,
        sum(case when peer_lines.invoice_line_count > 0 then 1 else 0 end) as peers_selling,
        avg(peers.similarity) as mean_peer_similarity,
        sum(peers.similarity * peer_lines.sales_share) / sum(peers.similarity)
            as peer_sales_share,
        sum(peers.similarity * peer_lines.invoice_line_share) / sum(peers.similarity)
            as peer_invoice_line_share

    from peers

    inner join partner_lines as peer_lines
        on peers.peer_partner_id = peer_lines.partner_id

    group by
        peers.partner_id,
        peer_lines.product_line_id

),

gaps as (

    select
        partner_lines.partner_id,
        partner_lines.product_line_id,
        partner_lines.product_line_name,
        window_partners.window_start_month,
        window_partners.window_end_month,
        window_partners.partner_sales_volume_usd,
        {{ safe_divide(
            'window_partners.partner_sales_volume_usd', 'window_partners.partner_spine_months'
        ) }} as partner_monthly_sales_usd,
        window_partners.partner_invoice_line_count as partner_invoice_lines,
        peer_lines.peer_count,
        peer_lines.peers_selling,
        peer_lines.mean_peer_similarity,
        peer_lines.peer_sales_share,
        peer_lines.peer_invoice_line_share,
        window_partners.partner_invoice_line_count * peer_lines.peer_invoice_line_share
            as expected_invoice_lines,
        peer_lines.peer_sales_share * {{ safe_divide(
            'window_partners.partner_sales_volume_usd', 'window_partners.partner_spine_months'
        ) }} as expected_monthly_sales_usd

    from partner_lines

    inner join window_partners
        on partner_lines.partner_id = window_partners.partner_id

    inner join peer_lines
        on partner_lines.partner_id = peer_lines.partner_id
        and partner_lines.product_line_id = peer_lines.product_line_id

    where
        partner_lines.invoice_line_count = 0
        and peer_lines.peers_selling > 0

),

final as (

    select
        partner_id,
        product_line_id,
        product_line_name,
        window_start_month,
        window_end_month,
        partner_sales_volume_usd,
        partner_monthly_sales_usd,
        partner_invoice_lines,
        {{ count_or_zero('peer_count') }} as peer_count,
        {{ count_or_zero('peers_selling') }} as peers_selling,
        mean_peer_similarity,
        peer_sales_share,
        peer_invoice_line_share,
        expected_invoice_lines,
        expected_monthly_sales_usd,
        cast(
            row_number() over (
                partition by partner_id
                order by round(expected_monthly_sales_usd, 6) desc, product_line_id
            ) as {{ dbt.type_bigint() }}
        ) as opportunity_rank,
        {{ is_priority_product_line('product_line_name') }} as is_priority

    from gaps

    where expected_invoice_lines >= {{ var('cross_sell_min_expected_lines') }}

)

select * from final
