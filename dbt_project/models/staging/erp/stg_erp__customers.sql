with

source as (

    select * from {{ source('erp', 'customer') }}

),

renamed as (

    select

        ----------  ids
        id as erp_customer_id,

        ----------  strings
        {{ org_column('customers', 'customer_entity_code') }} as customer_entity_code,
        {{ org_column('customers', 'company_name') }} as company_name,

        ----------  dates & timestamps
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
