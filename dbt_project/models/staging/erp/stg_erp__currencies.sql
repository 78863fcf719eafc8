with

source as (

    select * from {{ source('erp', 'currency') }}

),

renamed as (

    select

        ----------  ids
        id as currency_id,

        ----------  strings
        upper(trim({{ org_column('currencies', 'currency_code') }})) as currency_code,

        ----------  dates & timestamps
        _loaded_at as loaded_at

    from source

)

select * from renamed
