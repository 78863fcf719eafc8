-- Partner business plans in USD (grain: partner_id x quarter_start_date). Money targets
-- convert at the rate of the plan's first month. When a partner has several plans for one
-- quarter, the one updated last counts.

with

business_plans as (

    select * from {{ ref('stg_portal__business_plans') }}

    where
        partner_id is not null
        and quarter_start_date is not null

),

currency_rates as (

    select * from {{ ref('int_currency_rates_filled') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by partner_id, quarter_start_date
            order by updated_at desc nulls last, business_plan_id desc
        ) as plan_rank

    from business_plans

),

final as (

    select
        ranked.partner_id,
        ranked.quarter_start_date,
        ranked.business_plan_id,
        ranked.period,
        ranked.currency_code,
        ranked.revenue_target * currency_rates.usd_per_unit as revenue_target_usd,
        ranked.deal_reg_target * currency_rates.usd_per_unit as deal_reg_target_usd,
        ranked.mdf_target * currency_rates.usd_per_unit as mdf_target_usd,
        ranked.certifications_target

    from ranked

    left join currency_rates
        on ranked.currency_code = currency_rates.currency_code
        and ranked.quarter_start_date = currency_rates.month_start

    where ranked.plan_rank = 1

)

select * from final
