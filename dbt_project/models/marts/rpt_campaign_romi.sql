-- Return on marketing investment per campaign (grain: campaign_id; every campaign that is
-- not soft-deleted). cost_usd is ActualCost (USD at the rate of the end month); MDF paid is
-- every ERP MDF payment settling a portal claim on the campaign (at the rate of the paid
-- month); attributed revenue is the closed-won opportunities with that CampaignId (at the
-- rate of the close month), and their gross margin the revenue x the product line's ERP
-- gross-margin ratio. romi = (attributed gross margin - MDF paid) / MDF paid and
-- revenue_per_mdf_usd = attributed revenue / MDF paid, both NULL without MDF paid.

with

campaigns as (

    select * from {{ ref('int_campaigns_converted') }}

),

campaign_revenue as (

    select * from {{ ref('int_campaign_revenue_aggregated_to_months') }}

),

mdf_payments as (

    select * from {{ ref('int_mdf_payments_converted') }}

),

mdf_claims as (

    select * from {{ ref('stg_portal__mdf_claims') }}

),

revenue as (

    select
        campaign_id,
        sum(opportunities_won) as opportunities_won,
        sum(attributed_revenue_usd) as attributed_revenue_usd,
        sum(attributed_gross_margin_usd) as attributed_gross_margin_usd

    from campaign_revenue

    group by campaign_id

),

claims as (

    select
        campaign_id,
        count(*) as mdf_claims

    from mdf_claims

    where campaign_id is not null

    group by campaign_id

),

paid as (

    select
        campaign_id,
        count(*) as mdf_payments,
        sum(amount_usd) as mdf_paid_usd

    from mdf_payments

    where campaign_id is not null

    group by campaign_id

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
        campaigns.actual_cost_usd as cost_usd,
        {{ count_or_zero('claims.mdf_claims') }} as mdf_claims,
        {{ count_or_zero('paid.mdf_payments') }} as mdf_payments,
        coalesce(paid.mdf_paid_usd, 0) as mdf_paid_usd,
        {{ count_or_zero('revenue.opportunities_won') }} as opportunities_won,
        coalesce(revenue.attributed_revenue_usd, 0) as attributed_revenue_usd,
        coalesce(revenue.attributed_gross_margin_usd, 0) as attributed_gross_margin_usd,
        {{ safe_divide_usd(
            'coalesce(revenue.attributed_gross_margin_usd, 0) - paid.mdf_paid_usd',
            'paid.mdf_paid_usd'
        ) }} as romi,
        {{ safe_divide_usd('coalesce(revenue.attributed_revenue_usd, 0)', 'paid.mdf_paid_usd') }}
            as revenue_per_mdf_usd

    from campaigns

    left join revenue
        on campaigns.campaign_id = revenue.campaign_id

    left join claims
        on campaigns.campaign_id = claims.campaign_id

    left join paid
        on campaigns.campaign_id = paid.campaign_id

)

select * from final
