with

source as (

    select * from {{ source('portal', 'pos_quarantine') }}

),

renamed as (

    select

        ----------  ids
        file_name as pos_file_name,
        row_number as row_number,

        ----------  strings
        raw_row as raw_row,
        reason as quarantine_reason,

        ----------  dates & timestamps
        _loaded_at as loaded_at

    from source

)

select * from renamed
