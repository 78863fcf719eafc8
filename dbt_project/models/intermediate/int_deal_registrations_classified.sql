-- Deal registrations that count (not soft-deleted), one row per registration (grain:
-- deal_registration_id), with the months they are counted under, the estimated amount in
-- USD at the rate of the submission month, their status now, and whether they were won:
-- a closed-won opportunity that is not deleted names the registration in
-- Deal_Registration__c (the link the opportunity attribution uses).

with

deal_registrations as (

    select * from {{ ref('stg_crm__deal_registrations') }}

    where not is_deleted

),

opportunities as (

    select * from {{ ref('int_opportunities_classified') }}

),

currency_rates as (

    select * from {{ ref('int_currency_rates_filled') }}

),

won_opportunities as (

    select
        deal_registration_id,
        count(*) as won_opportunity_count,
        sum(amount_usd_at_close) as won_amount_usd

    from opportunities

    where
        is_closed_won
        and deal_registration_id is not null

    group by deal_registration_id

),

final as (

    select
        deal_registrations.deal_registration_id,
        deal_registrations.partner_id,
        deal_registrations.end_customer_account_id,
        deal_registrations.deal_registration_status,
        coalesce(deal_registrations.deal_registration_status = 'Approved', false) as is_approved,
        coalesce(deal_registrations.deal_registration_status = 'Rejected', false) as is_rejected,
        coalesce(deal_registrations.deal_registration_status = 'Expired', false) as is_expired,
        coalesce(deal_registrations.deal_registration_status = 'Submitted', false) as is_pending,
        (won_opportunities.deal_registration_id is not null) as is_won,
        coalesce(won_opportunities.won_amount_usd, 0) as won_amount_usd,
        deal_registrations.currency_code,
        deal_registrations.estimated_amount,
        deal_registrations.estimated_amount * currency_rates.usd_per_unit
            as estimated_amount_usd,
        deal_registrations.submitted_date,
        deal_registrations.decision_date,
        {{ dbt.datediff('deal_registrations.submitted_date', 'deal_registrations.decision_date', 'day') }}
            as days_to_decision,
        {{ month_start('deal_registrations.submitted_date') }} as submitted_month_start,
        {{ month_start('deal_registrations.decision_date') }} as decision_month_start

    from deal_registrations

    left join currency_rates
        on deal_registrations.currency_code = currency_rates.currency_code
        and {{ month_start('deal_registrations.submitted_date') }} = currency_rates.month_start

    left join won_opportunities
        on deal_registrations.deal_registration_id = won_opportunities.deal_registration_id

)

select * from final
