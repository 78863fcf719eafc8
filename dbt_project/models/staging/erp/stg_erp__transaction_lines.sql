with

source as (

    select * from {{ source('erp', 'transactionline') }}

),

renamed as (

    select

        ----------  ids
        {{ adapter.quote('transaction') }} as transaction_id,
        id as transaction_line_id,
        item as item_id,

        ----------  numerics
        linesequencenumber as line_sequence_number,
        quantity as quantity,
        rate as unit_rate,
        netamount as net_amount,

        ----------  booleans
        mainline as is_mainline,
        taxline as is_taxline,

        ----------  dates & timestamps
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
