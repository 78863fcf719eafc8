with

source as (

    select * from {{ source('erp', 'item') }}

),

renamed as (

    select

        ----------  ids
        id as item_id,
        {{ adapter.quote('class') }} as product_line_id,

        ----------  strings
        itemid as sku,
        displayname as item_name,

        ----------  numerics
        cost as standard_cost_usd,

        ----------  dates & timestamps
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
