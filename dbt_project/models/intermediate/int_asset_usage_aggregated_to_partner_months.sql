-- Portal asset-usage events per partner and month of occurred_at (grain: partner_id x
-- month_start; only months with events).

with

asset_usage_events as (

    select * from {{ ref('stg_portal__asset_usage_events') }}

    where
        partner_id is not null
        and occurred_at is not null

),

final as (

    select
        partner_id,
        {{ month_start('occurred_at') }} as month_start,
        sum(case when usage_action = 'download' then 1 else 0 end) as asset_downloads,
        sum(case when usage_action = 'share' then 1 else 0 end) as asset_shares,
        sum(case when usage_action = 'cobrand' then 1 else 0 end) as asset_cobrands

    from asset_usage_events

    group by
        partner_id,
        {{ month_start('occurred_at') }}

)

select * from final
