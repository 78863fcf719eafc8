-- Salesforce campaigns that count (not soft-deleted), one row per campaign (grain:
-- campaign_id), with ActualCost in USD at the rate of the month the campaign ended (of the
-- month it started when it has no end date): the cost is final when the campaign ends.
-- actual_cost is NULL while a campaign runs.

with

campaigns as (

    select * from {{ ref('stg_crm__campaigns') }}

    where not is_deleted

),

currency_rates as (

    select * from {{ ref('int_currency_rates_filled') }}

),

final as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.campaign_type,
        campaigns.partner_id,
        campaigns.start_date,
        campaigns.end_date,
        campaigns.currency_code,
        campaigns.actual_cost,
        campaigns.actual_cost * currency_rates.usd_per_unit as actual_cost_usd

    from campaigns

    left join currency_rates
        on campaigns.currency_code = currency_rates.currency_code
        and {{ month_start('coalesce(campaigns.end_date, campaigns.start_date)') }}
            = currency_rates.month_start

)

select * from final
