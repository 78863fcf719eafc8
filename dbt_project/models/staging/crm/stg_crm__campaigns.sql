with

source as (

    select * from {{ source('crm', 'campaign') }}

),

renamed as (

    select

        ----------  ids
        id as campaign_id,
        {{ org_column('campaigns', 'partner_id') }} as partner_id,

        ----------  strings
        {{ org_column('campaigns', 'campaign_name') }} as campaign_name,
        {{ org_column('campaigns', 'campaign_type') }} as campaign_type,
        upper(trim({{ org_column('campaigns', 'currency_code') }})) as currency_code,

        ----------  numerics
        {{ org_column('campaigns', 'actual_cost') }} as actual_cost,

        ----------  booleans
        coalesce(isdeleted, false) as is_deleted,

        ----------  dates & timestamps
        {{ org_column('campaigns', 'start_date') }} as start_date,
        {{ org_column('campaigns', 'end_date') }} as end_date,
        systemmodstamp as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
