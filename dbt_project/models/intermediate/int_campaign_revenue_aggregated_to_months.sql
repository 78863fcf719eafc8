-- Revenue attributed to campaigns per campaign and month (grain: campaign_id x
-- month_start, the CloseDate month; only months with wins): closed-won opportunities (not
-- deleted, direct ones included) whose CampaignId names a campaign that counts, their
-- amount at the rate of the close month, and their gross margin (amount x the product
-- line's ERP gross-margin ratio, int_opportunities_classified). The campaign's partner
-- (Partner_Account__c) comes along for the partner-level ROMI of the scorecard.

with

opportunities as (

    select * from {{ ref('int_opportunities_classified') }}

    where
        is_closed_won
        and campaign_id is not null

),

campaigns as (

    select * from {{ ref('int_campaigns_converted') }}

),

final as (

    select
        campaigns.campaign_id,
        campaigns.partner_id as campaign_partner_id,
        opportunities.close_month_start as month_start,
        count(*) as opportunities_won,
        coalesce(sum(opportunities.amount_usd_at_close), 0) as attributed_revenue_usd,
        coalesce(sum(opportunities.gross_margin_usd_at_close), 0)
            as attributed_gross_margin_usd

    from opportunities

    inner join campaigns
        on opportunities.campaign_id = campaigns.campaign_id

    group by
        campaigns.campaign_id,
        campaigns.partner_id,
        opportunities.close_month_start

)

select * from final
