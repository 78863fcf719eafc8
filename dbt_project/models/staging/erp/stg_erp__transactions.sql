with

source as (

    select * from {{ source('erp', 'transaction') }}

),

renamed as (

    select

        ----------  ids
        id as transaction_id,
        entity as erp_customer_id,
        partner as erp_partner_id,
        currency as currency_id,

        ----------  strings
        tranid as transaction_number,
        type as transaction_type,
        status as transaction_status,
        memo as memo,

        ----------  numerics
        exchangerate as usd_per_unit,

        ----------  booleans
        coalesce(lower(trim(status)) = 'voided', false) as is_voided,

        ----------  dates & timestamps
        trandate as transaction_date,
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
