-- Deal registrations per partner and month (grain: partner_id x month_start; only months
-- with activity): submitted in the month (count, estimated amount at the rate of the
-- submission month), and decided in the month (Decision_Date__c) by their status now,
-- Approved or Rejected. Soft-deleted registrations count nowhere.

with

deal_registrations as (

    select * from {{ ref('int_deal_registrations_classified') }}

    where partner_id is not null

),

submitted as (

    select
        partner_id,
        submitted_month_start as month_start,
        1 as deal_regs_submitted,
        estimated_amount_usd as deal_reg_value_submitted_usd,
        0 as deal_regs_approved,
        0 as deal_regs_rejected

    from deal_registrations

    where submitted_month_start is not null

),

decided as (

    select
        partner_id,
        decision_month_start as month_start,
        0 as deal_regs_submitted,
        cast(null as {{ type_double() }}) as deal_reg_value_submitted_usd,
        case when is_approved then 1 else 0 end as deal_regs_approved,
        case when is_rejected then 1 else 0 end as deal_regs_rejected

    from deal_registrations

    where
        decision_month_start is not null
        and (is_approved or is_rejected)

),

unioned as (

    select * from submitted

    union all

    select * from decided

),

final as (

    select
        partner_id,
        month_start,
        sum(deal_regs_submitted) as deal_regs_submitted,
        coalesce(sum(deal_reg_value_submitted_usd), 0) as deal_reg_value_submitted_usd,
        sum(deal_regs_approved) as deal_regs_approved,
        sum(deal_regs_rejected) as deal_regs_rejected

    from unioned

    group by
        partner_id,
        month_start

)

select * from final
