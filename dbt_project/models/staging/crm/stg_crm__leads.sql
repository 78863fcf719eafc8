with

source as (

    select * from {{ source('crm', 'lead') }}

),

renamed as (

    select

        ----------  ids
        id as lead_id,
        {{ org_column('leads', 'partner_id') }} as partner_id,
        {{ org_column('leads', 'campaign_id') }} as campaign_id,
        {{ org_column('leads', 'converted_opportunity_id') }} as converted_opportunity_id,

        ----------  strings
        {{ org_column('leads', 'lead_status') }} as lead_status,
        {{ org_column('leads', 'lead_source') }} as lead_source,

        ----------  booleans
        coalesce(isdeleted, false) as is_deleted,

        ----------  dates & timestamps
        {{ org_column('leads', 'mql_date') }} as mql_date,
        {{ org_column('leads', 'sql_date') }} as sql_date,
        {{ org_column('leads', 'converted_date') }} as converted_date,
        {{ org_column('leads', 'created_at') }} as created_at,
        systemmodstamp as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
