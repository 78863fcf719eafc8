with

source as (

    select * from {{ source('erp', 'item') }}

),

renamed as (

    select

        ----------  ids
        id as item_id,
        {{ org_column('items', 'product_line_id') }} as product_line_id,

        ----------  strings
        {{ org_column('items', 'sku') }} as sku,
        {{ org_column('items', 'item_name') }} as item_name,

        ----------  numerics
        {{ org_column('items', 'standard_cost_usd') }} as standard_cost_usd,

        ----------  dates & timestamps
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
