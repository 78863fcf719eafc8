with

source as (

    select * from {{ source('crm', 'account') }}

),

renamed as (

    select

        ----------  ids
        id as account_id,
        {{ dbt.safe_cast("nullif(trim(erp_partner_id__c), '')", dbt.type_bigint()) }}
            as erp_partner_id,

        ----------  strings
        name as account_name,
        type as account_type,
        billingcountry as billing_country,
        region__c as region,
        industry as industry,
        partner_tier__c as partner_tier,
        partner_type__c as partner_type,
        specialization__c as specialization,
        partner_status__c as partner_status,
        nullif(trim(erp_partner_id__c), '') as erp_partner_id_raw,

        ----------  numerics
        recruitment_cost__c as recruitment_cost_usd,

        ----------  booleans
        coalesce(ispartner, false) as is_partner,
        coalesce(isdeleted, false) as is_deleted,

        ----------  dates & timestamps
        partner_since__c as partner_since_date,
        terminated_on__c as terminated_on_date,
        createddate as created_at,
        systemmodstamp as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
