-- Market development funds per partner and month (grain: partner_id x month_start; only
-- months with activity): portal claims submitted (requested amount at the rate of the
-- submission month), claims decided (approved includes later-paid; approved amount at the
-- rate of the decision month), and ERP MDF payments paid (at the rate of the paid month,
-- for ERP partners that map to a CRM partner; int_mdf_payments_converted).

with

mdf_claims as (

    select * from {{ ref('stg_portal__mdf_claims') }}

    where partner_id is not null

),

mdf_payments as (

    select * from {{ ref('int_mdf_payments_converted') }}

),

currency_rates as (

    select * from {{ ref('int_currency_rates_filled') }}

),

submitted as (

    select
        mdf_claims.partner_id,
        {{ month_start('mdf_claims.submitted_date') }} as month_start,
        1 as mdf_claims_submitted,
        mdf_claims.requested_amount * currency_rates.usd_per_unit as mdf_requested_usd,
        0 as mdf_claims_approved,
        0 as mdf_claims_denied,
        cast(null as {{ type_double() }}) as mdf_approved_usd,
        cast(null as {{ type_double() }}) as mdf_paid_usd

    from mdf_claims

    left join currency_rates
        on mdf_claims.currency_code = currency_rates.currency_code
        and {{ month_start('mdf_claims.submitted_date') }} = currency_rates.month_start

    where mdf_claims.submitted_date is not null

),

decided as (

    select
        mdf_claims.partner_id,
        {{ month_start('mdf_claims.decided_date') }} as month_start,
        0 as mdf_claims_submitted,
        cast(null as {{ type_double() }}) as mdf_requested_usd,
        case when mdf_claims.claim_status in ('approved', 'paid') then 1 else 0 end
            as mdf_claims_approved,
        case when mdf_claims.claim_status = 'denied' then 1 else 0 end as mdf_claims_denied,
        case
            when mdf_claims.claim_status in ('approved', 'paid')
                then mdf_claims.approved_amount * currency_rates.usd_per_unit
        end as mdf_approved_usd,
        cast(null as {{ type_double() }}) as mdf_paid_usd

    from mdf_claims

    left join currency_rates
        on mdf_claims.currency_code = currency_rates.currency_code
        and {{ month_start('mdf_claims.decided_date') }} = currency_rates.month_start

    where
        mdf_claims.decided_date is not null
        and mdf_claims.claim_status in ('approved', 'paid', 'denied')

),

paid as (

    select
        partner_id,
        paid_month_start as month_start,
        0 as mdf_claims_submitted,
        cast(null as {{ type_double() }}) as mdf_requested_usd,
        0 as mdf_claims_approved,
        0 as mdf_claims_denied,
        cast(null as {{ type_double() }}) as mdf_approved_usd,
        amount_usd as mdf_paid_usd

    from mdf_payments

    where
        partner_id is not null
        and paid_date is not null

),

unioned as (

    select * from submitted

    union all

    select * from decided

    union all

    select * from paid

),

final as (

    select
        partner_id,
        month_start,
        sum(mdf_claims_submitted) as mdf_claims_submitted,
        coalesce(sum(mdf_requested_usd), 0) as mdf_requested_usd,
        sum(mdf_claims_approved) as mdf_claims_approved,
        sum(mdf_claims_denied) as mdf_claims_denied,
        coalesce(sum(mdf_approved_usd), 0) as mdf_approved_usd,
        coalesce(sum(mdf_paid_usd), 0) as mdf_paid_usd

    from unioned

    group by
        partner_id,
        month_start

)

select * from final
