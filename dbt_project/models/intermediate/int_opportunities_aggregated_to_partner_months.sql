-- Partner opportunity activity per partner and month (grain: partner_id x month_start; only
-- months with activity): pipeline created in the CreatedDate month, wins, losses and revenue
-- in the CloseDate month. Averages are left to the mart as sums and counts.

with

opportunities as (

    select * from {{ ref('int_opportunities_classified') }}

),

created as (

    select
        partner_id,
        created_month_start as month_start,
        count(*) as opportunities_created,
        sum(amount_usd_at_creation) as pipeline_created_usd,
        0 as opportunities_won,
        0 as opportunities_lost,
        cast(null as {{ type_double() }}) as partner_sourced_revenue_usd,
        cast(null as {{ type_double() }}) as partner_influenced_revenue_usd,
        cast(null as {{ type_double() }}) as won_amount_usd_sum,
        0 as won_amount_count,
        0 as won_days_to_close_sum,
        0 as won_days_to_close_count

    from opportunities

    where
        partner_id is not null
        and created_month_start is not null

    group by
        partner_id,
        created_month_start

),

closed as (

    select
        partner_id,
        close_month_start as month_start,
        0 as opportunities_created,
        cast(null as {{ type_double() }}) as pipeline_created_usd,
        sum(case when is_closed_won then 1 else 0 end) as opportunities_won,
        sum(case when is_closed_lost then 1 else 0 end) as opportunities_lost,
        sum(case when is_closed_won and is_partner_sourced then amount_usd_at_close end)
            as partner_sourced_revenue_usd,
        sum(case when is_closed_won and is_partner_influenced then amount_usd_at_close end)
            as partner_influenced_revenue_usd,
        sum(case when is_closed_won then amount_usd_at_close end) as won_amount_usd_sum,
        count(case when is_closed_won then amount_usd_at_close end) as won_amount_count,
        sum(case when is_closed_won then days_to_close end) as won_days_to_close_sum,
        count(case when is_closed_won then days_to_close end) as won_days_to_close_count

    from opportunities

    where
        partner_id is not null
        and is_closed
        and close_month_start is not null

    group by
        partner_id,
        close_month_start

),

unioned as (

    select * from created

    union all

    select * from closed

),

final as (

    select
        partner_id,
        month_start,
        sum(opportunities_created) as opportunities_created,
        coalesce(sum(pipeline_created_usd), 0) as pipeline_created_usd,
        sum(opportunities_won) as opportunities_won,
        sum(opportunities_lost) as opportunities_lost,
        coalesce(sum(partner_sourced_revenue_usd), 0) as partner_sourced_revenue_usd,
        coalesce(sum(partner_influenced_revenue_usd), 0) as partner_influenced_revenue_usd,
        coalesce(sum(won_amount_usd_sum), 0) as won_amount_usd_sum,
        sum(won_amount_count) as won_amount_count,
        coalesce(sum(won_days_to_close_sum), 0) as won_days_to_close_sum,
        sum(won_days_to_close_count) as won_days_to_close_count

    from unioned

    group by
        partner_id,
        month_start

)

select * from final
