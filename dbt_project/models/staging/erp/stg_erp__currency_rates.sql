with

source as (

    select * from {{ source('erp', 'currencyrate') }}

),

renamed as (

    select

        ----------  ids
        id as currency_rate_id,
        basecurrency as base_currency_id,
        transactioncurrency as currency_id,

        ----------  numerics
        exchangerate as usd_per_unit,

        ----------  dates & timestamps
        effectivedate as effective_date,
        _loaded_at as loaded_at

    from source

)

select * from renamed
