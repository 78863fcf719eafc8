-- Deal registrations per partner and month (grain: partner_id x month_start; only months
-- with activity): submitted in the month (count, estimated amount at the rate of the
-- submission month), and decided in the month (Decision_Date__c) by their status now,
-- Approved or Rejected. Soft-deleted registrations count nowhere.

with

deal_registrations as (

    select * from {{ ref('stg_crm__deal_registrations') }}

    where
        not is_deleted
        and partner_id is not null

),

currency_rates as (

    select * from {{ ref('int_currency_rates_filled') }}

),

submitted as (

    select
        deal_registrations.partner_id,
        {{ month_start('deal_registrations.submitted_date') }} as month_start,
        1 as deal_regs_submitted,
        deal_registrations.estimated_amount * currency_rates.usd_per_unit
            as deal_reg_value_submitted_usd,
        0 as deal_regs_approved,
        0 as deal_regs_rejected

    from deal_registrations

    left join currency_rates
        on deal_registrations.currency_code = currency_rates.currency_code
        and {{ month_start('deal_registrations.submitted_date') }} = currency_rates.month_start

    where deal_registrations.submitted_date is not null

),

decided as (

    select
        partner_id,
        {{ month_start('decision_date') }} as month_start,
        0 as deal_regs_submitted,
        cast(null as {{ type_double() }}) as deal_reg_value_submitted_usd,
        case when deal_registration_status = 'Approved' then 1 else 0 end as deal_regs_approved,
        case when deal_registration_status = 'Rejected' then 1 else 0 end as deal_regs_rejected

    from deal_registrations

    where
        decision_date is not null
        and deal_registration_status in ('Approved', 'Rejected')

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
