with

source as (

    select * from {{ source('portal', 'pos_report_lines') }}

),

renamed as (

    select

        ----------  ids
        file_name as pos_file_name,
        row_number as row_number,
        partner_id as partner_id,

        ----------  strings
        period as period,
        sku as sku,
        upper(trim(currency)) as currency_code,
        end_customer as end_customer,
        nullif(trim(invoice_ref), '') as invoice_ref,

        ----------  numerics
        coalesce(revision, 1) as revision,
        quantity as quantity,
        amount as amount,

        ----------  dates & timestamps
        sold_on as sold_on_date,
        _loaded_at as loaded_at

    from source

)

select * from renamed
