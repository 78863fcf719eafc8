with

source as (

    select * from {{ source('erp', 'customrecord_mdf_payment') }}

),

renamed as (

    select

        ----------  ids
        id as mdf_payment_id,
        custrecord_mdf_partner as erp_partner_id,
        custrecord_mdf_claim as mdf_claim_id,
        custrecord_mdf_currency as currency_id,

        ----------  numerics
        custrecord_mdf_amount as amount,

        ----------  dates & timestamps
        custrecord_mdf_paid_date as paid_date,
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
