-- Each partner's ERP sell-in per segment over the segment marts' two windows (grain:
-- partner_id x window_name x segment_type x segment): window 'current', the
-- segment_window_months (12) complete months ending with the scorecard's scored month,
-- and 'prior', the same number of months before it (macros/segments.sql). Segment types:
--   product_line  the item's product line (its name; 'Unknown' without one);
--   industry      the end customer's industry (int_erp_customers_matched; 'Unknown');
--   region        the end customer's region ('Unknown').
-- Only segments the partner has sales lines in, in windows with sales lines.
--   sales_share = the segment's sales / the partner's sales in the window (the sum of its
--                 segments of the type; NULL when that rounds to 0.00);
--   sales_share_standard_error = the share's standard error with the partner's end
--                 customers as the independent units (a ratio estimator's linearisation:
--                 sqrt(n / (n - 1) x sum over its n customers of (segment sales of the
--                 customer - share x sales of the customer)^2) / the partner's sales), so
--                 a partner whose few customers carry most of a segment is not taken as
--                 sure of it; NULL with fewer than 2 customers.

with

customer_months as (

    select * from {{ ref('int_erp_sales_aggregated_to_partner_customer_months') }}

),

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

product_lines as (

    select * from {{ ref('stg_erp__classifications') }}

),

windows as (

    {{ segment_windows() }}

),

window_sales as (

    select
        windows.window_name,
        windows.window_start_month,
        windows.window_end_month,
        customer_months.partner_id,
        coalesce(customer_months.erp_customer_id, -1) as customer_key,
        product_lines.product_line_id,
        product_lines.product_line_name,
        customer_months.industry,
        customer_months.region,
        customer_months.sales_volume_usd,
        customer_months.sales_line_count,
        customer_months.invoice_line_count

    from customer_months

    inner join windows
        on customer_months.month_start >= windows.window_start_month
        and customer_months.month_start <= windows.window_end_month

    left join product_lines
        on customer_months.product_line_id = product_lines.product_line_id

),

{#- The segment types and each one's segment: (type, segment of a window sale). #}
{%- set segment_types = [
    ('product_line', "coalesce(window_sales.product_line_name, 'Unknown')"),
    ('industry', 'window_sales.industry'),
    ('region', 'window_sales.region'),
] %}
segment_types as (

    {% for segment_type, _ in segment_types -%}
    select cast('{{ segment_type }}' as {{ dbt.type_string() }}) as segment_type
    {% if not loop.last %}
    union all
    {% endif %}
    {%- endfor %}

),

{#- One row per window sale and segment type, from one read of window_sales: a union of
    one select per type reads it once per type on Spark (docs/scaling.md). #}
segmented as (

    select
        window_sales.window_name,
        window_sales.window_start_month,
        window_sales.window_end_month,
        window_sales.partner_id,
        window_sales.customer_key,
        segment_types.segment_type,
        case segment_types.segment_type
            {% for segment_type, segment in segment_types -%}
            when '{{ segment_type }}' then {{ segment }}
            {% endfor %}
        end as segment,
        cast(
            case
                when segment_types.segment_type = 'product_line'
                    and window_sales.product_line_name is not null
                    then window_sales.product_line_id
            end as {{ dbt.type_bigint() }}
        ) as product_line_id,
        window_sales.sales_volume_usd,
        window_sales.sales_line_count,
        window_sales.invoice_line_count

    from window_sales

    cross join segment_types

),

customer_segments as (

    select
        window_name,
        window_start_month,
        window_end_month,
        partner_id,
        segment_type,
        segment,
        product_line_id,
        customer_key,
        sum(sales_volume_usd) as sales_volume_usd,
        sum(sales_line_count) as sales_line_count,
        sum(invoice_line_count) as invoice_line_count

    from segmented

    group by
        window_name,
        window_start_month,
        window_end_month,
        partner_id,
        segment_type,
        segment,
        product_line_id,
        customer_key

),

customer_totals as (

    select
        window_name,
        partner_id,
        segment_type,
        customer_key,
        sum(sales_volume_usd) as customer_sales_volume_usd

    from customer_segments

    group by
        window_name,
        partner_id,
        segment_type,
        customer_key

),

segment_sums as (

    select
        window_name,
        window_start_month,
        window_end_month,
        partner_id,
        segment_type,
        segment,
        product_line_id,
        sum(sales_volume_usd) as sales_volume_usd,
        sum(sales_line_count) as sales_line_count,
        sum(invoice_line_count) as invoice_line_count,
        count(*) as end_customer_count

    from customer_segments

    group by
        window_name,
        window_start_month,
        window_end_month,
        partner_id,
        segment_type,
        segment,
        product_line_id

),

{#- The partner's sales as the sum of its segments, so that a partner with one segment
    has a share of exactly 1 (an engine's float noise never orders such partners). #}
partner_totals as (

    select
        window_name,
        partner_id,
        segment_type,
        sum(sales_volume_usd) as partner_sales_volume_usd,
        sum(sales_line_count) as partner_sales_line_count,
        sum(invoice_line_count) as partner_invoice_line_count

    from segment_sums

    group by
        window_name,
        partner_id,
        segment_type

),

partner_customers as (

    select
        window_name,
        partner_id,
        segment_type,
        count(*) as partner_end_customer_count

    from customer_totals

    group by
        window_name,
        partner_id,
        segment_type

),

partner_spine_months as (

    select
        windows.window_name,
        spine.partner_id,
        count(*) as partner_spine_months

    from spine

    inner join windows
        on spine.month_start >= windows.window_start_month
        and spine.month_start <= windows.window_end_month

    group by
        windows.window_name,
        spine.partner_id

),

shares as (

    select
        segment_sums.*,
        partner_totals.partner_sales_volume_usd,
        partner_totals.partner_sales_line_count,
        partner_totals.partner_invoice_line_count,
        partner_customers.partner_end_customer_count,
        {{ safe_divide_usd(
            'segment_sums.sales_volume_usd', 'partner_totals.partner_sales_volume_usd'
        ) }} as sales_share

    from segment_sums

    inner join partner_totals
        on segment_sums.window_name = partner_totals.window_name
        and segment_sums.partner_id = partner_totals.partner_id
        and segment_sums.segment_type = partner_totals.segment_type

    inner join partner_customers
        on segment_sums.window_name = partner_customers.window_name
        and segment_sums.partner_id = partner_customers.partner_id
        and segment_sums.segment_type = partner_customers.segment_type

),

{#- Each of the partner's customers against each of its segments: the customer's sales in
    the segment (0 when none) less the share of the customer's sales. #}
customer_deviations as (

    select
        shares.window_name,
        shares.partner_id,
        shares.segment_type,
        shares.segment,
        coalesce(customer_segments.sales_volume_usd, 0)
            - shares.sales_share * customer_totals.customer_sales_volume_usd as deviation_usd

    from shares

    inner join customer_totals
        on shares.window_name = customer_totals.window_name
        and shares.partner_id = customer_totals.partner_id
        and shares.segment_type = customer_totals.segment_type

    left join customer_segments
        on shares.window_name = customer_segments.window_name
        and shares.partner_id = customer_segments.partner_id
        and shares.segment_type = customer_segments.segment_type
        and shares.segment = customer_segments.segment
        and customer_totals.customer_key = customer_segments.customer_key

),

squared_deviations as (

    select
        window_name,
        partner_id,
        segment_type,
        segment,
        sum(deviation_usd * deviation_usd) as squared_deviation_usd

    from customer_deviations

    group by
        window_name,
        partner_id,
        segment_type,
        segment

),

final as (

    select
        shares.partner_id,
        shares.window_name,
        shares.window_start_month,
        shares.window_end_month,
        shares.segment_type,
        shares.segment,
        shares.product_line_id,
        shares.sales_volume_usd,
        {{ count_or_zero('shares.sales_line_count') }} as sales_line_count,
        {{ count_or_zero('shares.invoice_line_count') }} as invoice_line_count,
        {{ count_or_zero('shares.end_customer_count') }} as end_customer_count,
        shares.sales_share,
        case
            when shares.partner_end_customer_count >= 2 and shares.sales_share is not null
                then {{ safe_divide_usd(
                    'sqrt(cast(shares.partner_end_customer_count as ' ~ type_double() ~ ')'
                    ~ ' / (shares.partner_end_customer_count - 1)'
                    ~ ' * squared_deviations.squared_deviation_usd)',
                    'abs(shares.partner_sales_volume_usd)'
                ) }}
        end as sales_share_standard_error,
        shares.partner_sales_volume_usd,
        {{ count_or_zero('shares.partner_sales_line_count') }} as partner_sales_line_count,
        {{ count_or_zero('shares.partner_invoice_line_count') }} as partner_invoice_line_count,
        {{ count_or_zero('shares.partner_end_customer_count') }} as partner_end_customer_count,
        {{ count_or_zero('partner_spine_months.partner_spine_months') }} as partner_spine_months

    from shares

    inner join squared_deviations
        on shares.window_name = squared_deviations.window_name
        and shares.partner_id = squared_deviations.partner_id
        and shares.segment_type = squared_deviations.segment_type
        and shares.segment = squared_deviations.segment

    left join partner_spine_months
        on shares.window_name = partner_spine_months.window_name
        and shares.partner_id = partner_spine_months.partner_id

)

select * from final
