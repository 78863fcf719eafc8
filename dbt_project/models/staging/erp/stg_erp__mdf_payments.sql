with

source as (

    select * from {{ source('erp', 'customrecord_mdf_payment') }}

),

renamed as (

    select

        ----------  ids
        id as mdf_payment_id,
        {{ org_column('mdf_payments', 'erp_partner_id') }} as erp_partner_id,
        {{ org_column('mdf_payments', 'mdf_claim_id') }} as mdf_claim_id,
        {{ org_column('mdf_payments', 'currency_id') }} as currency_id,

        ----------  numerics
        {{ org_column('mdf_payments', 'amount') }} as amount,

        ----------  dates & timestamps
        {{ org_column('mdf_payments', 'paid_date') }} as paid_date,
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
