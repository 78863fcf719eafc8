with

source as (

    select * from {{ source('erp', 'transaction') }}

),

renamed as (

    select

        ----------  ids
        id as transaction_id,
        {{ org_column('transactions', 'erp_customer_id') }} as erp_customer_id,
        {{ org_column('transactions', 'erp_partner_id') }} as erp_partner_id,
        {{ org_column('transactions', 'currency_id') }} as currency_id,

        ----------  strings
        {{ org_column('transactions', 'transaction_number') }} as transaction_number,
        {{ org_column('transactions', 'transaction_type') }} as transaction_type,
        {{ org_column('transactions', 'transaction_status') }} as transaction_status,
        {{ org_column('transactions', 'memo') }} as memo,

        ----------  numerics
        {{ org_column('transactions', 'usd_per_unit') }} as usd_per_unit,

        ----------  booleans
        coalesce(lower(trim({{ org_column('transactions', 'transaction_status') }})) = 'voided', false) as is_voided,

        ----------  dates & timestamps
        {{ org_column('transactions', 'transaction_date') }} as transaction_date,
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
