with

source as (

    select * from {{ source('portal', 'pos_files') }}

),

renamed as (

    select

        ----------  ids
        file_name as pos_file_name,
        partner_id as partner_id,

        ----------  strings
        period as period,
        lower(trim(status)) as file_status,
        content_sha256 as content_sha256,
        reason as rejection_reason,

        ----------  numerics
        coalesce(revision, 1) as revision,
        rows_read as rows_read,
        rows_loaded as rows_loaded,
        rows_quarantined as rows_quarantined,

        ----------  booleans
        coalesce(lower(trim(status)) = 'loaded', false) as is_loaded,

        ----------  dates & timestamps
        {{ period_month_start('period') }} as period_month_start,
        file_modified_at as file_modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
