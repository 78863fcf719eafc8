-- Opportunities that count (not soft-deleted), with the partner's role, the months they are
-- counted under and their amount in USD (grain: opportunity_id). Sourced: Partner_Role__c =
-- 'Sourced', or Deal_Registration__c names a deal registration that is Approved now and not
-- deleted. Influenced: a partner opportunity that is not Sourced (a NULL role is not
-- Sourced). Revenue converts at the rate of the CloseDate month, pipeline at the rate of
-- the CreatedDate month. gross_margin_usd_at_close is the amount at close times the
-- gross-margin ratio of the opportunity's product line in the ERP (of the whole ERP when
-- the product line has no ERP sales; int_product_lines_margined): the CRM has no cost.

with

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

deal_registrations as (

    select * from {{ ref('stg_crm__deal_registrations') }}

),

currency_rates as (

    select * from {{ ref('int_currency_rates_filled') }}

),

product_line_margins as (

    select * from {{ ref('int_product_lines_margined') }}

),

whole_erp_margin as (

    select gross_margin_ratio from product_line_margins where product_line_id is null

),

approved_deal_registrations as (

    select deal_registration_id

    from deal_registrations

    where
        deal_registration_status = 'Approved'
        and not is_deleted

),

classified as (

    select
        opportunities.opportunity_id,
        opportunities.partner_id,
        opportunities.end_customer_account_id,
        opportunities.campaign_id,
        opportunities.deal_registration_id,
        opportunities.partner_role,
        opportunities.product_line,
        opportunities.currency_code,
        opportunities.amount,
        opportunities.is_closed,
        opportunities.is_won,
        (opportunities.is_closed and opportunities.is_won) as is_closed_won,
        (opportunities.is_closed and not opportunities.is_won) as is_closed_lost,
        (
            coalesce(opportunities.partner_role = 'Sourced', false)
            or approved_deal_registrations.deal_registration_id is not null
        ) as is_partner_sourced,
        opportunities.created_at,
        cast(opportunities.created_at as date) as created_date,
        opportunities.close_date,
        {{ month_start('opportunities.created_at') }} as created_month_start,
        {{ month_start('opportunities.close_date') }} as close_month_start

    from opportunities

    left join approved_deal_registrations
        on opportunities.deal_registration_id = approved_deal_registrations.deal_registration_id

    where not opportunities.is_deleted

),

final as (

    select
        classified.opportunity_id,
        classified.partner_id,
        classified.end_customer_account_id,
        classified.campaign_id,
        classified.deal_registration_id,
        classified.partner_role,
        classified.product_line,
        classified.is_partner_sourced,
        (classified.partner_id is not null and not classified.is_partner_sourced)
            as is_partner_influenced,
        classified.is_closed,
        classified.is_won,
        classified.is_closed_won,
        classified.is_closed_lost,
        classified.currency_code,
        classified.amount,
        classified.amount * close_rates.usd_per_unit as amount_usd_at_close,
        classified.amount * created_rates.usd_per_unit as amount_usd_at_creation,
        coalesce(
            product_line_margins.gross_margin_ratio, whole_erp_margin.gross_margin_ratio
        ) as gross_margin_ratio,
        classified.amount * close_rates.usd_per_unit * coalesce(
            product_line_margins.gross_margin_ratio, whole_erp_margin.gross_margin_ratio
        ) as gross_margin_usd_at_close,
        {{ dbt.datediff('classified.created_date', 'classified.close_date', 'day') }}
            as days_to_close,
        classified.created_at,
        classified.created_date,
        classified.close_date,
        classified.created_month_start,
        classified.close_month_start

    from classified

    left join currency_rates as close_rates
        on classified.currency_code = close_rates.currency_code
        and classified.close_month_start = close_rates.month_start

    left join currency_rates as created_rates
        on classified.currency_code = created_rates.currency_code
        and classified.created_month_start = created_rates.month_start

    left join product_line_margins
        on classified.product_line = product_line_margins.product_line_name
        and product_line_margins.product_line_id is not null

    cross join whole_erp_margin

)

select * from final
