-- The ecosystem measures of each month, for the whole ecosystem and for each region
-- (grain: segment_type x segment x month_start, segment_type 'ecosystem' (segment 'all')
-- or 'region' (segment = the partner's region now; 'Unknown' when it has none)). The
-- formulas live here once; rpt_ecosystem_months and rpt_ecosystem_region_months select
-- their segment type. Months run from the first month of any partner's spine to the as_of
-- month, so a segment without partners in a month is a row of zeros (ratios NULL).
--   active_partners: spine rows (start and termination months included);
--   new_partners / churned_partners: spine rows that are the first / termination month;
--   partner_churn_rate: churned / (active - new);
--   recruitment_cost_usd: Recruitment_Cost__c of the month's new partners (USD);
--   sales distribution over the active partners (0 for a month without sales):
--   cv = population standard deviation / mean, gini = sum((2i - n - 1) x_i) / (n sum(x))
--   with x ascending (the mean absolute difference over twice the mean), top-20 % share =
--   the sales of the ceiling(20 % of n) best-selling partners over all sales.
--   total_closed_won_usd: every closed-won opportunity (direct included) by CloseDate
--   month, at that month's rate; by region, a partner deal counts under the partner's
--   region and a direct deal under its end customer's.

with

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

months as (

    select * from {{ ref('int_months_enumerated') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

partner_sales as (

    select * from {{ ref('int_partner_months_scored') }}

),

partner_opportunities as (

    select * from {{ ref('int_opportunities_aggregated_to_partner_months') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_classified') }}

),

partner_months as (

    select
        spine.partner_id,
        spine.month_start,
        coalesce(accounts.region, 'Unknown') as region,
        accounts.billing_country,
        spine.is_first_month,
        spine.is_termination_month,
        case when spine.is_first_month then accounts.recruitment_cost_usd end
            as recruitment_cost_usd,
        partner_sales.sales_volume_usd,
        coalesce(partner_opportunities.partner_sourced_revenue_usd, 0)
            + coalesce(partner_opportunities.partner_influenced_revenue_usd, 0)
            as partner_led_revenue_usd

    from spine

    inner join accounts
        on spine.partner_id = accounts.account_id

    inner join partner_sales
        on spine.partner_id = partner_sales.partner_id
        and spine.month_start = partner_sales.month_start

    left join partner_opportunities
        on spine.partner_id = partner_opportunities.partner_id
        and spine.month_start = partner_opportunities.month_start

),

segmented_partner_months as (

    select
        cast('ecosystem' as {{ dbt.type_string() }}) as segment_type,
        cast('all' as {{ dbt.type_string() }}) as segment,
        partner_months.*

    from partner_months

    union all

    select
        cast('region' as {{ dbt.type_string() }}) as segment_type,
        region as segment,
        partner_months.*

    from partner_months

),

ranked as (

    select
        *,
        row_number() over (
            partition by segment_type, segment, month_start
            order by sales_volume_usd, partner_id
        ) as ascending_sales_rank,
        row_number() over (
            partition by segment_type, segment, month_start
            order by sales_volume_usd desc, partner_id
        ) as descending_sales_rank,
        count(*) over (partition by segment_type, segment, month_start) as partner_count

    from segmented_partner_months

),

partner_measures as (

    select
        segment_type,
        segment,
        month_start,
        count(*) as active_partners,
        sum(case when is_first_month then 1 else 0 end) as new_partners,
        sum(case when is_termination_month then 1 else 0 end) as churned_partners,
        coalesce(sum(recruitment_cost_usd), 0) as recruitment_cost_usd,
        count(distinct billing_country) as countries_covered,
        sum(sales_volume_usd) as sales_volume_usd,
        sum(partner_led_revenue_usd) as partner_led_revenue_usd,
        avg(sales_volume_usd) as mean_sales_volume_usd,
        stddev_pop(sales_volume_usd) as stddev_sales_volume_usd,
        sum((2 * ascending_sales_rank - partner_count - 1) * sales_volume_usd)
            as gini_weighted_sales_usd,
        sum(
            case
                when descending_sales_rank <= ceiling(0.2 * partner_count)
                    then sales_volume_usd
                else 0
            end
        ) as top20_sales_volume_usd

    from ranked

    group by
        segment_type,
        segment,
        month_start

),

closed_won as (

    select
        opportunities.close_month_start as month_start,
        coalesce(partner_accounts.region, customer_accounts.region, 'Unknown') as region,
        opportunities.amount_usd_at_close

    from opportunities

    left join accounts as partner_accounts
        on opportunities.partner_id = partner_accounts.account_id

    left join accounts as customer_accounts
        on opportunities.end_customer_account_id = customer_accounts.account_id

    where
        opportunities.is_closed_won
        and opportunities.close_month_start is not null

),

closed_won_segmented as (

    select
        cast('ecosystem' as {{ dbt.type_string() }}) as segment_type,
        cast('all' as {{ dbt.type_string() }}) as segment,
        month_start,
        sum(amount_usd_at_close) as total_closed_won_usd

    from closed_won

    group by month_start

    union all

    select
        cast('region' as {{ dbt.type_string() }}) as segment_type,
        region as segment,
        month_start,
        sum(amount_usd_at_close) as total_closed_won_usd

    from closed_won

    group by
        region,
        month_start

),

segments as (

    select distinct
        segment_type,
        segment

    from segmented_partner_months

),

segment_months as (

    select
        segments.segment_type,
        segments.segment,
        months.month_start

    from segments

    cross join months

    where
        months.month_start >= (select min(month_start) from spine)
        and months.month_start <= {{ as_of_month_start() }}

),

final as (

    select
        segment_months.segment_type,
        segment_months.segment,
        segment_months.month_start,
        {{ count_or_zero('partner_measures.active_partners') }} as active_partners,
        {{ count_or_zero('partner_measures.new_partners') }} as new_partners,
        {{ count_or_zero('partner_measures.churned_partners') }} as churned_partners,
        {{ safe_divide(
            'cast(partner_measures.churned_partners as ' ~ type_double() ~ ')',
            'partner_measures.active_partners - partner_measures.new_partners'
        ) }} as partner_churn_rate,
        coalesce(partner_measures.recruitment_cost_usd, 0) as recruitment_cost_usd,
        {{ safe_divide('partner_measures.recruitment_cost_usd', 'partner_measures.new_partners') }}
            as cost_per_new_partner_usd,
        {{ count_or_zero('partner_measures.countries_covered') }} as countries_covered,
        coalesce(partner_measures.sales_volume_usd, 0) as sales_volume_usd,
        coalesce(partner_measures.partner_led_revenue_usd, 0) as partner_led_revenue_usd,
        coalesce(closed_won_segmented.total_closed_won_usd, 0) as total_closed_won_usd,
        {{ safe_divide_usd(
            'coalesce(partner_measures.partner_led_revenue_usd, 0)',
            'closed_won_segmented.total_closed_won_usd'
        ) }} as partner_led_share,
        {{ safe_divide_usd(
            'partner_measures.stddev_sales_volume_usd',
            'partner_measures.mean_sales_volume_usd'
        ) }} as sales_volume_cv,
        {{ safe_divide_usd(
            'partner_measures.gini_weighted_sales_usd / partner_measures.active_partners',
            'partner_measures.sales_volume_usd'
        ) }} as sales_volume_gini,
        {{ safe_divide_usd(
            'partner_measures.top20_sales_volume_usd',
            'partner_measures.sales_volume_usd'
        ) }} as top20_sales_share

    from segment_months

    left join partner_measures
        on segment_months.segment_type = partner_measures.segment_type
        and segment_months.segment = partner_measures.segment
        and segment_months.month_start = partner_measures.month_start

    left join closed_won_segmented
        on segment_months.segment_type = closed_won_segmented.segment_type
        and segment_months.segment = closed_won_segmented.segment
        and segment_months.month_start = closed_won_segmented.month_start

)

select * from final
