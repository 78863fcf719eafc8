with

source as (

    select * from {{ source('erp', 'classification') }}

),

renamed as (

    select

        ----------  ids
        id as product_line_id,

        ----------  strings
        {{ org_column('classifications', 'product_line_name') }} as product_line_name,

        ----------  dates & timestamps
        _loaded_at as loaded_at

    from source

)

select * from renamed
