with

source as (

    select * from {{ source('portal', 'business_plans') }}

),

renamed as (

    select

        ----------  ids
        id as business_plan_id,
        partner_id as partner_id,

        ----------  strings
        period as period,
        upper(trim(currency)) as currency_code,

        ----------  numerics
        revenue_target as revenue_target,
        deal_reg_target as deal_reg_target,
        mdf_target as mdf_target,
        certifications_target as certifications_target,

        ----------  dates & timestamps
        {{ quarter_period_month_start('period') }} as quarter_start_date,
        updated_at as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
