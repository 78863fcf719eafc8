with

source as (

    select * from {{ source('crm', 'deal_registration') }}

),

renamed as (

    select

        ----------  ids
        id as deal_registration_id,
        partner_account__c as partner_id,
        end_customer__c as end_customer_account_id,
        opportunity__c as opportunity_id,

        ----------  strings
        product_line__c as product_line,
        upper(trim(currencyisocode)) as currency_code,
        status__c as deal_registration_status,

        ----------  numerics
        estimated_amount__c as estimated_amount,

        ----------  booleans
        coalesce(isdeleted, false) as is_deleted,

        ----------  dates & timestamps
        submitted_date__c as submitted_date,
        decision_date__c as decision_date,
        expiration_date__c as expiration_date,
        systemmodstamp as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
