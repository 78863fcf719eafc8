-- ERP sell-in of mapped CRM partners per end customer, product line and month, on the
-- partner's spine (grain: partner_id x erp_customer_id x product_line_id x month_start;
-- product_line_id NULL for items without a classification), with the end customer's
-- industry, region and country (int_erp_customers_matched; 'Unknown' without a match).
-- The base of the segment marts: shares by product line, industry and region, and reach
-- by country. Sales lines as in fct_partner_months (credit memos subtract); months off
-- the spine are left out, as there. invoice_line_count counts invoice (CustInvc) lines
-- only: a partner "sells" a product line, or "reaches" a customer, with an invoice line.

with

sales_lines as (

    select * from {{ ref('int_erp_sales_lines_converted') }}

),

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

customers as (

    select * from {{ ref('int_erp_customers_matched') }}

),

partner_sales_lines as (

    select
        sales_lines.partner_id,
        sales_lines.erp_customer_id,
        sales_lines.product_line_id,
        sales_lines.month_start,
        sales_lines.transaction_type,
        sales_lines.sales_usd,
        sales_lines.units

    from sales_lines

    inner join spine
        on sales_lines.partner_id = spine.partner_id
        and sales_lines.month_start = spine.month_start

),

aggregated as (

    select
        partner_id,
        erp_customer_id,
        product_line_id,
        month_start,
        sum(sales_usd) as sales_volume_usd,
        sum(units) as units_sold,
        count(*) as sales_line_count,
        sum(case when transaction_type = 'CustInvc' then 1 else 0 end) as invoice_line_count

    from partner_sales_lines

    group by
        partner_id,
        erp_customer_id,
        product_line_id,
        month_start

),

final as (

    select
        aggregated.partner_id,
        aggregated.erp_customer_id,
        aggregated.product_line_id,
        aggregated.month_start,
        coalesce(customers.match_status, 'unmatched') as customer_match_status,
        coalesce(customers.industry, 'Unknown') as industry,
        coalesce(customers.region, 'Unknown') as region,
        coalesce(customers.country, 'Unknown') as country,
        aggregated.sales_volume_usd,
        aggregated.units_sold,
        {{ count_or_zero('aggregated.sales_line_count') }} as sales_line_count,
        {{ count_or_zero('aggregated.invoice_line_count') }} as invoice_line_count

    from aggregated

    left join customers
        on aggregated.erp_customer_id = customers.erp_customer_id

)

select * from final
