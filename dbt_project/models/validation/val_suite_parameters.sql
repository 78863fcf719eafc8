-- The suite parameters (one row; one column per parameter): values the GX suites name as
-- {"$PARAMETER": "<column>"}, decided by the warehouse and read before every validation.

with

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

final as (

    select
        -- The currencies the ERP knows, and so has rates for: the report currencies allowed.
        (
            select {{ sorted_distinct_list('currency_code') }}
            from currencies
        ) as erp_currencies

)

select * from final
