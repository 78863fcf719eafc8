-- Suite parameters: values that expectations name as {"$PARAMETER": "<column>"}, computed
-- from the warehouse before every validation. One row; one column per parameter.

select
    -- currencies the ERP knows (and so has rates for): value set of report currencies
    coalesce(
        (select list(distinct symbol order by symbol) from raw_erp.currency where symbol is not null),
        []
    ) as erp_currencies
