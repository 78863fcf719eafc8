with

source as (

    select * from {{ source('erp', 'transactionline') }}

),

renamed as (

    select

        ----------  ids
        {{ adapter.quote('transaction') }} as transaction_id,
        id as transaction_line_id,
        {{ org_column('transaction_lines', 'item_id') }} as item_id,

        ----------  numerics
        {{ org_column('transaction_lines', 'line_sequence_number') }} as line_sequence_number,
        {{ org_column('transaction_lines', 'quantity') }} as quantity,
        {{ org_column('transaction_lines', 'unit_rate') }} as unit_rate,
        {{ org_column('transaction_lines', 'net_amount') }} as net_amount,

        ----------  booleans
        {{ org_column('transaction_lines', 'is_mainline') }} as is_mainline,
        {{ org_column('transaction_lines', 'is_taxline') }} as is_taxline,

        ----------  dates & timestamps
        lastmodifieddate as modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
