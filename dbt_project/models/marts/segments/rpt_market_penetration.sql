-- The channel's reach per market, product line and month (grain: region x country x
-- product_line_id x month_start): every region and country of the CRM's end-customer
-- Accounts (Type 'Customer', not soft-deleted; 'Unknown' where the Account has none, and
-- for sales to ERP customers that match no Account), every product line, every month
-- from the first month of any partner's spine to the as_of month, so that a market, line
-- and month nobody sold in is a row of zeros: the gaps in coverage show.
--   active_partners: partners with an invoice line to an end customer of the market for
--     the line in the month (ERP sell-in of mapped partners in their spine months);
--   end_customers_reached: end customers (ERP customers) of the market with such a line;
--   sales_volume_usd, units_sold: their ERP sell-in (credit memos subtract);
--   end_customer_accounts: the market's end-customer Accounts in the CRM now, the same
--     every month (reached / accounts reads as the month's penetration).
-- A market is the end customer's, not the partner's: a partner based elsewhere that
-- sells into it counts here. Items without a product line are in no row.

with

customer_months as (

    select * from {{ ref('int_erp_sales_aggregated_to_partner_customer_months') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

product_lines as (

    select * from {{ ref('stg_erp__classifications') }}

),

months as (

    select * from {{ ref('int_months_enumerated') }}

),

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

customer_accounts as (

    select
        coalesce(region, 'Unknown') as region,
        coalesce(billing_country, 'Unknown') as country,
        count(*) as end_customer_accounts

    from accounts

    where
        account_type = 'Customer'
        and not is_deleted

    group by
        coalesce(region, 'Unknown'),
        coalesce(billing_country, 'Unknown')

),

markets as (

    select
        region,
        country

    from customer_accounts

    union

    select
        region,
        country

    from customer_months

),

market_sales as (

    select
        region,
        country,
        product_line_id,
        month_start,
        count(distinct case when invoice_line_count > 0 then partner_id end)
            as active_partners,
        count(distinct case when invoice_line_count > 0 then erp_customer_id end)
            as end_customers_reached,
        sum(sales_volume_usd) as sales_volume_usd,
        sum(units_sold) as units_sold

    from customer_months

    where product_line_id is not null

    group by
        region,
        country,
        product_line_id,
        month_start

),

market_months as (

    select
        markets.region,
        markets.country,
        product_lines.product_line_id,
        product_lines.product_line_name,
        months.month_start

    from markets

    cross join product_lines

    cross join months

    where
        months.month_start >= (select min(month_start) from spine)
        and months.month_start <= {{ as_of_month_start() }}

),

final as (

    select
        market_months.region,
        market_months.country,
        market_months.product_line_id,
        market_months.product_line_name,
        market_months.month_start,
        {{ count_or_zero('market_sales.active_partners') }} as active_partners,
        {{ count_or_zero('market_sales.end_customers_reached') }} as end_customers_reached,
        coalesce(market_sales.sales_volume_usd, 0) as sales_volume_usd,
        coalesce(market_sales.units_sold, 0) as units_sold,
        {{ count_or_zero('customer_accounts.end_customer_accounts') }} as end_customer_accounts

    from market_months

    left join market_sales
        on market_months.region = market_sales.region
        and market_months.country = market_sales.country
        and market_months.product_line_id = market_sales.product_line_id
        and market_months.month_start = market_sales.month_start

    left join customer_accounts
        on market_months.region = customer_accounts.region
        and market_months.country = customer_accounts.country

)

select * from final
