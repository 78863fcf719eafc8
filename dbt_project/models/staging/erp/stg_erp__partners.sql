with

source as (

    select * from {{ source('erp', 'partner') }}

),

renamed as (

    select

        ----------  ids
        id as erp_partner_id,
        nullif(trim({{ org_column('partners', 'external_account_id') }}), '') as external_account_id,

        ----------  strings
        {{ org_column('partners', 'partner_entity_code') }} as partner_entity_code,
        {{ org_column('partners', 'company_name') }} as company_name,

        ----------  booleans
        coalesce({{ org_column('partners', 'is_inactive') }}, false) as is_inactive,

        ----------  dates & timestamps
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
