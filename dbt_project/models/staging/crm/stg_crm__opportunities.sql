with

source as (

    select * from {{ source('crm', 'opportunity') }}

),

renamed as (

    select

        ----------  ids
        id as opportunity_id,
        accountid as end_customer_account_id,
        partneraccountid as partner_id,
        deal_registration__c as deal_registration_id,
        campaignid as campaign_id,

        ----------  strings
        name as opportunity_name,
        partner_role__c as partner_role,
        stagename as stage_name,
        upper(trim(currencyisocode)) as currency_code,
        product_line__c as product_line,

        ----------  numerics
        amount as amount,
        probability as probability,

        ----------  booleans
        coalesce(isclosed, false) as is_closed,
        coalesce(iswon, false) as is_won,
        coalesce(isdeleted, false) as is_deleted,

        ----------  dates & timestamps
        createddate as created_at,
        closedate as close_date,
        systemmodstamp as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
