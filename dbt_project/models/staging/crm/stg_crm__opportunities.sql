with

source as (

    select * from {{ source('crm', 'opportunity') }}

),

renamed as (

    select

        ----------  ids
        id as opportunity_id,
        {{ org_column('opportunities', 'end_customer_account_id') }} as end_customer_account_id,
        {{ org_column('opportunities', 'partner_id') }} as partner_id,
        {{ org_column('opportunities', 'deal_registration_id') }} as deal_registration_id,
        {{ org_column('opportunities', 'campaign_id') }} as campaign_id,

        ----------  strings
        {{ org_column('opportunities', 'opportunity_name') }} as opportunity_name,
        {{ org_value('opportunities', 'partner_role') }} as partner_role,
        {{ org_column('opportunities', 'stage_name') }} as stage_name,
        upper(trim({{ org_column('opportunities', 'currency_code') }})) as currency_code,
        {{ org_column('opportunities', 'product_line') }} as product_line,

        ----------  numerics
        {{ org_column('opportunities', 'amount') }} as amount,
        {{ org_column('opportunities', 'probability') }} as probability,

        ----------  booleans
        coalesce({{ org_column('opportunities', 'is_closed') }}, false) as is_closed,
        coalesce({{ org_column('opportunities', 'is_won') }}, false) as is_won,
        coalesce(isdeleted, false) as is_deleted,

        ----------  dates & timestamps
        {{ org_column('opportunities', 'created_at') }} as created_at,
        {{ org_column('opportunities', 'close_date') }} as close_date,
        systemmodstamp as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
