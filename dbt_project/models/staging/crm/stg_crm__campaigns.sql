with

source as (

    select * from {{ source('crm', 'campaign') }}

),

renamed as (

    select

        ----------  ids
        id as campaign_id,
        partner_account__c as partner_id,

        ----------  strings
        name as campaign_name,
        type as campaign_type,
        upper(trim(currencyisocode)) as currency_code,

        ----------  numerics
        actualcost as actual_cost,

        ----------  booleans
        coalesce(isdeleted, false) as is_deleted,

        ----------  dates & timestamps
        startdate as start_date,
        enddate as end_date,
        systemmodstamp as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
