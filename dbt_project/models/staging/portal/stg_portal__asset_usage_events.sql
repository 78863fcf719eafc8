with

source as (

    select * from {{ source('portal', 'asset_usage') }}

),

renamed as (

    select

        ----------  ids
        id as asset_usage_event_id,
        partner_id as partner_id,
        asset_id as asset_id,

        ----------  strings
        asset_type as asset_type,
        lower(trim(action)) as usage_action,

        ----------  dates & timestamps
        occurred_at as occurred_at,
        updated_at as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
