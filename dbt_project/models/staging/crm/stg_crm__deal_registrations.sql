with

source as (

    select * from {{ source('crm', 'deal_registration') }}

),

renamed as (

    select

        ----------  ids
        id as deal_registration_id,
        {{ org_column('deal_registrations', 'partner_id') }} as partner_id,
        {{ org_column('deal_registrations', 'end_customer_account_id') }} as end_customer_account_id,
        {{ org_column('deal_registrations', 'opportunity_id') }} as opportunity_id,

        ----------  strings
        {{ org_column('deal_registrations', 'product_line') }} as product_line,
        upper(trim({{ org_column('deal_registrations', 'currency_code') }})) as currency_code,
        {{ org_value('deal_registrations', 'deal_registration_status') }} as deal_registration_status,

        ----------  numerics
        {{ org_column('deal_registrations', 'estimated_amount') }} as estimated_amount,

        ----------  booleans
        coalesce(isdeleted, false) as is_deleted,

        ----------  dates & timestamps
        {{ org_column('deal_registrations', 'submitted_date') }} as submitted_date,
        {{ org_column('deal_registrations', 'decision_date') }} as decision_date,
        {{ org_column('deal_registrations', 'expiration_date') }} as expiration_date,
        systemmodstamp as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
