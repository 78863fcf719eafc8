with

source as (

    select * from {{ source('portal', 'sales_reports') }}

),

renamed as (

    select

        ----------  ids
        id as sales_report_id,
        partner_id as partner_id,

        ----------  strings
        period as period,
        lower(trim(status)) as report_status,
        upper(trim(currency)) as currency_code,

        ----------  numerics
        revision as revision,

        ----------  booleans
        coalesce(lower(trim(status)) = 'withdrawn', false) as is_withdrawn,

        ----------  dates & timestamps
        {{ period_month_start('period') }} as period_month_start,
        submitted_at as submitted_at,
        updated_at as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
