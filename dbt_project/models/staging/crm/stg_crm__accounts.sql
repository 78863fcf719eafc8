with

source as (

    select * from {{ source('crm', 'account') }}

),

renamed as (

    select

        ----------  ids
        id as account_id,
        {{ dbt.safe_cast("nullif(trim(" ~ org_column('accounts', 'erp_partner_id') ~ "), '')", dbt.type_bigint()) }}
            as erp_partner_id,

        ----------  strings
        {{ org_column('accounts', 'account_name') }} as account_name,
        {{ org_column('accounts', 'account_type') }} as account_type,
        {{ org_column('accounts', 'billing_country') }} as billing_country,
        {{ org_value('accounts', 'region') }} as region,
        {{ org_column('accounts', 'industry') }} as industry,
        {{ org_value('accounts', 'partner_tier') }} as partner_tier,
        {{ org_value('accounts', 'partner_type') }} as partner_type,
        {{ org_column('accounts', 'specialization') }} as specialization,
        {{ org_value('accounts', 'partner_status') }} as partner_status,
        nullif(trim({{ org_column('accounts', 'erp_partner_id') }}), '') as erp_partner_id_raw,

        ----------  numerics
        {{ org_column('accounts', 'recruitment_cost_usd') }} as recruitment_cost_usd,

        ----------  booleans
        coalesce({{ org_column('accounts', 'is_partner') }}, false) as is_partner,
        coalesce(isdeleted, false) as is_deleted,

        ----------  dates & timestamps
        {{ org_column('accounts', 'partner_since_date') }} as partner_since_date,
        {{ org_column('accounts', 'terminated_on_date') }} as terminated_on_date,
        {{ org_column('accounts', 'created_at') }} as created_at,
        systemmodstamp as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
