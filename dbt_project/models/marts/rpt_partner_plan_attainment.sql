-- Business-plan attainment per partner and quarter (grain: partner_id x quarter_start_date;
-- one row per plan of a CRM partner, the one updated last when a quarter has several).
-- Actuals are fct_partner_months over the quarter's spine months up to the as_of month:
-- revenue = sales_volume_usd, deal-registration value submitted, MDF approved, and active
-- certifications at the end of the quarter's last spine month so far (NULL when the
-- quarter has no spine month yet). Targets are the plan's, money in USD at the rate of the
-- quarter's first month. attainment = actual / target, NULL when the target is 0 or NULL.
-- A quarter still running (is_quarter_complete false) shows attainment to date.

with

business_plans as (

    select * from {{ ref('int_business_plans_converted') }}

),

partners as (

    select * from {{ ref('dim_partners') }}

),

partner_months as (

    select * from {{ ref('fct_partner_months') }}

),

quarter_months as (

    select
        business_plans.partner_id,
        business_plans.quarter_start_date,
        partner_months.month_start,
        partner_months.sales_volume_usd,
        partner_months.deal_reg_value_submitted_usd,
        partner_months.mdf_approved_usd,
        partner_months.active_certifications,
        row_number() over (
            partition by business_plans.partner_id, business_plans.quarter_start_date
            order by partner_months.month_start desc
        ) as recency_rank

    from business_plans

    inner join partner_months
        on business_plans.partner_id = partner_months.partner_id
        and partner_months.month_start >= business_plans.quarter_start_date
        and partner_months.month_start < {{ add_months('business_plans.quarter_start_date', 3) }}

),

actuals as (

    select
        partner_id,
        quarter_start_date,
        count(*) as months_on_spine,
        sum(sales_volume_usd) as revenue_actual_usd,
        sum(deal_reg_value_submitted_usd) as deal_reg_value_actual_usd,
        sum(mdf_approved_usd) as mdf_approved_actual_usd,
        max(case when recency_rank = 1 then active_certifications end)
            as active_certifications_actual

    from quarter_months

    group by
        partner_id,
        quarter_start_date

),

final as (

    select
        business_plans.partner_id,
        business_plans.quarter_start_date,
        business_plans.period as quarter,
        business_plans.business_plan_id,
        {{ count_or_zero('actuals.months_on_spine') }} as months_on_spine,
        ({{ add_months('business_plans.quarter_start_date', 3) }} <= {{ as_of_month_start() }})
            as is_quarter_complete,
        coalesce(actuals.revenue_actual_usd, 0) as revenue_actual_usd,
        business_plans.revenue_target_usd,
        {{ safe_divide_usd(
            'coalesce(actuals.revenue_actual_usd, 0)', 'business_plans.revenue_target_usd'
        ) }} as revenue_attainment,
        coalesce(actuals.deal_reg_value_actual_usd, 0) as deal_reg_value_actual_usd,
        business_plans.deal_reg_target_usd as deal_reg_value_target_usd,
        {{ safe_divide_usd(
            'coalesce(actuals.deal_reg_value_actual_usd, 0)', 'business_plans.deal_reg_target_usd'
        ) }} as deal_reg_value_attainment,
        coalesce(actuals.mdf_approved_actual_usd, 0) as mdf_approved_actual_usd,
        business_plans.mdf_target_usd as mdf_approved_target_usd,
        {{ safe_divide_usd(
            'coalesce(actuals.mdf_approved_actual_usd, 0)', 'business_plans.mdf_target_usd'
        ) }} as mdf_approved_attainment,
        actuals.active_certifications_actual,
        business_plans.certifications_target as active_certifications_target,
        {{ safe_divide(
            'cast(actuals.active_certifications_actual as ' ~ type_double() ~ ')',
            'business_plans.certifications_target'
        ) }} as active_certifications_attainment

    from business_plans

    inner join partners
        on business_plans.partner_id = partners.partner_id

    left join actuals
        on business_plans.partner_id = actuals.partner_id
        and business_plans.quarter_start_date = actuals.quarter_start_date

)

select * from final
