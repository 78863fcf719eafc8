-- The suite parameters (one row; one column per parameter): values the GX suites name as
-- {"$PARAMETER": "<column>"}, decided by the warehouse and read before every validation.

with

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

final as (

    select
        -- The currencies the ERP knows, and so has rates for: the report currencies allowed.
        coalesce(
            (
                select list(distinct currency_code order by currency_code)
                from currencies
                where currency_code is not null
            ),
            []
        ) as erp_currencies

)

select * from final
