with

source as (

    select * from {{ source('portal', 'sales_report_lines') }}

),

renamed as (

    select

        ----------  ids
        report_id as sales_report_id,
        line_no as line_number,

        ----------  strings
        sku as sku,
        end_customer as end_customer,
        nullif(trim(invoice_ref), '') as invoice_ref,

        ----------  numerics
        quantity as quantity,
        amount as amount,

        ----------  dates & timestamps
        sold_on as sold_on_date,
        _loaded_at as loaded_at

    from source

)

select * from renamed
