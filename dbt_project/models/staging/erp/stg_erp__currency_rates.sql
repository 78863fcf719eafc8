with

source as (

    select * from {{ source('erp', 'currencyrate') }}

),

renamed as (

    select

        ----------  ids
        id as currency_rate_id,
        {{ org_column('currency_rates', 'base_currency_id') }} as base_currency_id,
        {{ org_column('currency_rates', 'currency_id') }} as currency_id,

        ----------  numerics
        {{ org_column('currency_rates', 'usd_per_unit') }} as usd_per_unit,

        ----------  dates & timestamps
        {{ org_column('currency_rates', 'effective_date') }} as effective_date,
        _loaded_at as loaded_at

    from source

)

select * from renamed
