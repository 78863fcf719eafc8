-- ERP MDF payments in USD (grain: mdf_payment_id), at the rate of the month they were paid
-- in (a payment with no currency is taken as USD), with the CRM partner the ERP partner
-- maps to (NULL when unmapped) and the campaign of the portal claim the payment settles
-- (NULL when the claim is unknown).

with

mdf_payments as (

    select * from {{ ref('stg_erp__mdf_payments') }}

),

mdf_claims as (

    select * from {{ ref('stg_portal__mdf_claims') }}

),

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

erp_partners_mapped as (

    select * from {{ ref('int_erp_partners_mapped') }}

),

currency_rates as (

    select * from {{ ref('int_currency_rates_filled') }}

),

with_currency as (

    select
        mdf_payments.mdf_payment_id,
        mdf_payments.erp_partner_id,
        mdf_payments.mdf_claim_id,
        mdf_payments.amount,
        mdf_payments.paid_date,
        {{ month_start('mdf_payments.paid_date') }} as paid_month_start,
        case
            when mdf_payments.currency_id is null then 'USD'
            else currencies.currency_code
        end as currency_code

    from mdf_payments

    left join currencies
        on mdf_payments.currency_id = currencies.currency_id

),

final as (

    select
        with_currency.mdf_payment_id,
        with_currency.erp_partner_id,
        erp_partners_mapped.partner_id,
        with_currency.mdf_claim_id,
        mdf_claims.campaign_id,
        mdf_claims.partner_id as claim_partner_id,
        with_currency.currency_code,
        with_currency.amount,
        with_currency.amount * currency_rates.usd_per_unit as amount_usd,
        with_currency.paid_date,
        with_currency.paid_month_start

    from with_currency

    left join erp_partners_mapped
        on with_currency.erp_partner_id = erp_partners_mapped.erp_partner_id

    left join mdf_claims
        on with_currency.mdf_claim_id = mdf_claims.mdf_claim_id

    left join currency_rates
        on with_currency.currency_code = currency_rates.currency_code
        and with_currency.paid_month_start = currency_rates.month_start

)

select * from final
