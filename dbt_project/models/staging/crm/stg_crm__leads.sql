with

source as (

    select * from {{ source('crm', 'lead') }}

),

renamed as (

    select

        ----------  ids
        id as lead_id,
        partneraccountid as partner_id,
        campaignid as campaign_id,
        convertedopportunityid as converted_opportunity_id,

        ----------  strings
        status as lead_status,
        leadsource as lead_source,

        ----------  booleans
        coalesce(isdeleted, false) as is_deleted,

        ----------  dates & timestamps
        mql_date__c as mql_date,
        sql_date__c as sql_date,
        converteddate as converted_date,
        createddate as created_at,
        systemmodstamp as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
