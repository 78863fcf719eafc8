-- Channel conflicts (grain: opportunity_id x conflicting_opportunity_id, with
-- opportunity_id < conflicting_opportunity_id): two opportunities (not deleted) for the
-- same end customer (AccountId), from two different partners or from a partner and direct
-- sales, whose open periods overlap. An opportunity is open from the date of its CreatedDate
-- to its CloseDate once closed, or to the as_of date while still open (an open deal's
-- CloseDate is only expected). is_open_now marks conflicts whose two opportunities are both
-- still open. Two direct deals, or two deals of one partner, are no conflict.

with

opportunities as (

    select * from {{ ref('int_opportunities_classified') }}

    where end_customer_account_id is not null

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

open_periods as (

    select
        opportunity_id,
        end_customer_account_id,
        partner_id,
        is_closed,
        is_won,
        amount_usd_at_creation,
        created_date as open_from_date,
        case when is_closed then close_date else {{ as_of_date() }} end as open_to_date

    from opportunities

    where created_date is not null

),

pairs as (

    select
        first_opportunity.end_customer_account_id,
        first_opportunity.opportunity_id,
        first_opportunity.partner_id,
        first_opportunity.open_from_date,
        first_opportunity.open_to_date,
        first_opportunity.is_closed,
        first_opportunity.is_won,
        first_opportunity.amount_usd_at_creation,
        second_opportunity.opportunity_id as conflicting_opportunity_id,
        second_opportunity.partner_id as conflicting_partner_id,
        second_opportunity.open_from_date as conflicting_open_from_date,
        second_opportunity.open_to_date as conflicting_open_to_date,
        second_opportunity.is_closed as conflicting_is_closed,
        second_opportunity.is_won as conflicting_is_won,
        second_opportunity.amount_usd_at_creation as conflicting_amount_usd_at_creation

    from open_periods as first_opportunity

    inner join open_periods as second_opportunity
        on first_opportunity.end_customer_account_id = second_opportunity.end_customer_account_id
        and first_opportunity.opportunity_id < second_opportunity.opportunity_id
        and first_opportunity.open_from_date <= second_opportunity.open_to_date
        and second_opportunity.open_from_date <= first_opportunity.open_to_date

    where
        (first_opportunity.partner_id is not null or second_opportunity.partner_id is not null)
        and (
            first_opportunity.partner_id is null
            or second_opportunity.partner_id is null
            or first_opportunity.partner_id <> second_opportunity.partner_id
        )

),

final as (

    select
        pairs.opportunity_id,
        pairs.conflicting_opportunity_id,
        pairs.end_customer_account_id,
        accounts.account_name as end_customer_name,
        case
            when pairs.partner_id is null or pairs.conflicting_partner_id is null
                then 'partner_vs_direct'
            else 'partner_vs_partner'
        end as conflict_type,
        pairs.partner_id,
        pairs.conflicting_partner_id,
        pairs.open_from_date,
        pairs.open_to_date,
        pairs.conflicting_open_from_date,
        pairs.conflicting_open_to_date,
        case
            when pairs.open_from_date > pairs.conflicting_open_from_date then pairs.open_from_date
            else pairs.conflicting_open_from_date
        end as overlap_start_date,
        case
            when pairs.open_to_date < pairs.conflicting_open_to_date then pairs.open_to_date
            else pairs.conflicting_open_to_date
        end as overlap_end_date,
        pairs.is_closed,
        pairs.is_won,
        pairs.conflicting_is_closed,
        pairs.conflicting_is_won,
        pairs.amount_usd_at_creation,
        pairs.conflicting_amount_usd_at_creation,
        (not pairs.is_closed and not pairs.conflicting_is_closed) as is_open_now

    from pairs

    left join accounts
        on pairs.end_customer_account_id = accounts.account_id

)

select * from final
