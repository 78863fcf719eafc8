-- USD per unit of each currency for every month (grain: currency_code x month_start).
-- The rate of a month is the ERP currencyrate effective in that month (the latest one when
-- a month has several); a month without a rate takes the last earlier one (carried
-- forward, flagged). USD converts at 1 in every month.

with

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

currency_rates as (

    select * from {{ ref('stg_erp__currency_rates') }}

),

months as (

    select * from {{ ref('int_months_enumerated') }}

),

rates_with_codes as (

    select
        currencies.currency_code,
        currency_rates.currency_rate_id,
        currency_rates.usd_per_unit,
        currency_rates.effective_date,
        {{ month_start('currency_rates.effective_date') }} as rate_month_start

    from currency_rates

    inner join currencies
        on currency_rates.currency_id = currencies.currency_id

    where
        currencies.currency_code <> 'USD'
        and currency_rates.usd_per_unit is not null
        and currency_rates.effective_date is not null

),

ranked_in_month as (

    select
        *,
        row_number() over (
            partition by currency_code, rate_month_start
            order by effective_date desc, currency_rate_id desc
        ) as rank_in_month

    from rates_with_codes

),

monthly_rates as (

    select
        currency_code,
        rate_month_start,
        usd_per_unit,
        lead(rate_month_start) over (
            partition by currency_code
            order by rate_month_start
        ) as next_rate_month_start

    from ranked_in_month

    where rank_in_month = 1

),

filled as (

    select
        monthly_rates.currency_code,
        months.month_start,
        monthly_rates.usd_per_unit,
        monthly_rates.rate_month_start as rate_effective_month_start,
        (months.month_start <> monthly_rates.rate_month_start) as is_carried_forward

    from monthly_rates

    inner join months
        on months.month_start >= monthly_rates.rate_month_start
        and (
            monthly_rates.next_rate_month_start is null
            or months.month_start < monthly_rates.next_rate_month_start
        )

),

usd as (

    select
        cast('USD' as {{ dbt.type_string() }}) as currency_code,
        month_start,
        cast(1 as {{ type_double() }}) as usd_per_unit,
        month_start as rate_effective_month_start,
        false as is_carried_forward

    from months

),

final as (

    select * from filled

    union all

    select * from usd

)

select * from final
