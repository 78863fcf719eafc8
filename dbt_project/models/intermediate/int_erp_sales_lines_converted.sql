-- ERP sales lines in USD (grain: transaction_id x transaction_line_id). A sales line is a
-- transaction line with mainline = F and taxline = F of an invoice (CustInvc) or credit
-- memo (CustCred) that is not voided. Credit memos subtract: their amount, quantity and
-- cost of goods are negated here. Amounts convert with the transaction's own exchangerate;
-- cost of goods is units x the item's standard cost (USD). partner_id is NULL for direct
-- sales and for ERP partners that map to no CRM partner.
-- A view: the incremental int_erp_sales_aggregated_to_erp_partner_item_months reads only
-- the months it rebuilds, so the 500k+ lines are not stored twice. loaded_at is the later
-- of the line's and its transaction's landing time (a void re-lands only the transaction).

{{ config(materialized='view') }}

with

transaction_lines as (

    select * from {{ ref('stg_erp__transaction_lines') }}

),

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

items as (

    select * from {{ ref('stg_erp__items') }}

),

erp_partners_mapped as (

    select * from {{ ref('int_erp_partners_mapped') }}

),

sales_transactions as (

    select
        transactions.transaction_id,
        transactions.transaction_number,
        transactions.transaction_type,
        transactions.transaction_date,
        transactions.loaded_at,
        transactions.erp_partner_id,
        transactions.erp_customer_id,
        currencies.currency_code,
        case
            when transactions.usd_per_unit is null and currencies.currency_code = 'USD' then 1
            else transactions.usd_per_unit
        end as usd_per_unit,
        case transactions.transaction_type
            when 'CustCred' then -1
            else 1
        end as sales_sign

    from transactions

    left join currencies
        on transactions.currency_id = currencies.currency_id

    where
        transactions.transaction_type in ('CustInvc', 'CustCred')
        and not transactions.is_voided

),

sales_lines as (

    select
        sales_transactions.transaction_id,
        transaction_lines.transaction_line_id,
        sales_transactions.transaction_number,
        sales_transactions.transaction_type,
        sales_transactions.erp_partner_id,
        erp_partners_mapped.partner_id,
        sales_transactions.erp_customer_id,
        transaction_lines.item_id,
        items.sku,
        items.product_line_id,
        sales_transactions.currency_code,
        sales_transactions.usd_per_unit,
        sales_transactions.sales_sign,
        transaction_lines.quantity,
        transaction_lines.net_amount,
        items.standard_cost_usd,
        sales_transactions.transaction_date,
        {{ month_start('sales_transactions.transaction_date') }} as month_start,
        greatest(transaction_lines.loaded_at, sales_transactions.loaded_at) as loaded_at

    from transaction_lines

    inner join sales_transactions
        on transaction_lines.transaction_id = sales_transactions.transaction_id

    left join items
        on transaction_lines.item_id = items.item_id

    left join erp_partners_mapped
        on sales_transactions.erp_partner_id = erp_partners_mapped.erp_partner_id

    where
        transaction_lines.is_mainline = false
        and transaction_lines.is_taxline = false

),

final as (

    select
        transaction_id,
        transaction_line_id,
        transaction_number,
        transaction_type,
        erp_partner_id,
        partner_id,
        erp_customer_id,
        item_id,
        sku,
        product_line_id,
        currency_code,
        usd_per_unit,
        sales_sign,
        net_amount,
        quantity,
        standard_cost_usd,
        sales_sign * net_amount * usd_per_unit as sales_usd,
        sales_sign * quantity as units,
        sales_sign * quantity * coalesce(standard_cost_usd, 0) as cost_of_goods_usd,
        sales_sign * net_amount * usd_per_unit
            - sales_sign * quantity * coalesce(standard_cost_usd, 0) as gross_margin_usd,
        (item_id is not null and standard_cost_usd is null) as is_missing_item_cost,
        transaction_date,
        month_start,
        loaded_at

    from sales_lines

)

select * from final
