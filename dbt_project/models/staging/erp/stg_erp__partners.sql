with

source as (

    select * from {{ source('erp', 'partner') }}

),

renamed as (

    select

        ----------  ids
        id as erp_partner_id,
        nullif(trim(externalid), '') as external_account_id,

        ----------  strings
        entityid as partner_entity_code,
        companyname as company_name,

        ----------  booleans
        coalesce(isinactive, false) as is_inactive,

        ----------  dates & timestamps
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
