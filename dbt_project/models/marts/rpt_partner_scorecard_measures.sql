-- The partner scorecard in long form (grain: partner_id x as_of_month x measure_name x
-- window_months): for each active partner, each measure over the trailing 3 and 12 months
-- ending with the scored month (as_of_month: var scorecard_month, by default the latest
-- closed month), with its percentile rank among the active partners of the same tier, the
-- tier average and the tier's top-decile value. rpt_partner_scorecard pivots it.
-- Active: on the spine in the scored month and not terminated by its last day. Tier: the
-- tier held now. Measures (NULL when their denominator is 0):
--   sales_volume_usd          sum of sales_volume_usd;
--   sales_yoy_growth          sales / sales of the same months a year earlier - 1, NULL
--                             unless the partner was on the spine in all of them;
--   revenue_attainment        sales / revenue target, over the months with a plan;
--   win_rate                  opportunities won / (won + lost);
--   deal_reg_conversion_rate  registrations submitted in the window: won / approved;
--   active_certifications     mean of the month-end active certifications;
--   mdf_romi                  (gross margin attributed to the partner's campaigns, closed
--                             in the window - MDF paid to it) / MDF paid to it;
--   reconciliation_accuracy   months matched or timing_difference / months reconciled
--                             (every status but awaiting_report and no_activity);
--   engagement_events         asset downloads + shares + co-brands.
-- percentile_rank = (partners below + half the partners equal, itself included) / partners
-- ranked, among the tier's active partners with a value (0.5 for a partner alone);
-- tier_top_decile = the 90th percentile (continuous) of the tier's values.

{%- set windows = scorecard_windows() %}

with

partner_months as (

    select * from {{ ref('fct_partner_months') }}

),

partners as (

    select * from {{ ref('dim_partners') }}

),

funnel as (

    select * from {{ ref('rpt_deal_registration_funnel') }}

),

reconciliation as (

    select * from {{ ref('rpt_partner_reconciliation') }}

),

campaign_revenue as (

    select * from {{ ref('int_campaign_revenue_aggregated_to_months') }}

),

windows as (

    {% for window in windows -%}
    select
        {{ window }} as window_months,
        {{ add_months(scorecard_month_start(), -(window - 1)) }} as window_start,
        {{ scorecard_month_start() }} as window_end
    {% if not loop.last %}
    union all
    {% endif %}
    {%- endfor %}

),

active_partners as (

    select
        partners.partner_id,
        coalesce(partners.partner_tier, 'Unknown') as partner_tier,
        partner_months.month_start as as_of_month

    from partners

    inner join partner_months
        on partners.partner_id = partner_months.partner_id
        and partner_months.month_start = {{ scorecard_month_start() }}

    where
        partners.terminated_on_date is null
        or partners.terminated_on_date > {{ month_end(scorecard_month_start()) }}

),

partner_windows as (

    select
        active_partners.partner_id,
        active_partners.partner_tier,
        active_partners.as_of_month,
        windows.window_months,
        windows.window_start,
        windows.window_end

    from active_partners

    cross join windows

),

month_sums as (

    select
        partner_windows.partner_id,
        partner_windows.window_months,
        sum(partner_months.sales_volume_usd) as sales_volume_usd,
        sum(
            case
                when partner_months.revenue_target_usd is not null
                    then partner_months.sales_volume_usd
            end
        ) as planned_sales_volume_usd,
        sum(partner_months.revenue_target_usd) as revenue_target_usd,
        sum(partner_months.opportunities_won) as opportunities_won,
        sum(partner_months.opportunities_lost) as opportunities_lost,
        avg(cast(partner_months.active_certifications as {{ type_double() }}))
            as mean_active_certifications,
        sum(partner_months.mdf_paid_usd) as mdf_paid_usd,
        sum(
            partner_months.asset_downloads
            + partner_months.asset_shares
            + partner_months.asset_cobrands
        ) as engagement_events

    from partner_windows

    inner join partner_months
        on partner_windows.partner_id = partner_months.partner_id
        and partner_months.month_start >= partner_windows.window_start
        and partner_months.month_start <= partner_windows.window_end

    group by
        partner_windows.partner_id,
        partner_windows.window_months

),

year_earlier_sums as (

    select
        partner_windows.partner_id,
        partner_windows.window_months,
        count(*) as spine_months,
        sum(partner_months.sales_volume_usd) as sales_volume_usd

    from partner_windows

    inner join partner_months
        on partner_windows.partner_id = partner_months.partner_id
        and partner_months.month_start >= {{ add_months('partner_windows.window_start', -12) }}
        and partner_months.month_start <= {{ add_months('partner_windows.window_end', -12) }}

    group by
        partner_windows.partner_id,
        partner_windows.window_months

),

funnel_sums as (

    select
        partner_windows.partner_id,
        partner_windows.window_months,
        sum(funnel.deal_regs_approved) as deal_regs_approved,
        sum(funnel.deal_regs_won) as deal_regs_won

    from partner_windows

    inner join funnel
        on partner_windows.partner_id = funnel.partner_id
        and funnel.month_start >= partner_windows.window_start
        and funnel.month_start <= partner_windows.window_end

    group by
        partner_windows.partner_id,
        partner_windows.window_months

),

reconciliation_sums as (

    select
        partner_windows.partner_id,
        partner_windows.window_months,
        sum(
            case
                when reconciliation.status not in ('awaiting_report', 'no_activity') then 1
                else 0
            end
        ) as months_reconciled,
        sum(
            case
                when reconciliation.status in ('matched', 'timing_difference') then 1
                else 0
            end
        ) as months_accurate

    from partner_windows

    inner join reconciliation
        on partner_windows.partner_id = reconciliation.partner_id
        and reconciliation.month_start >= partner_windows.window_start
        and reconciliation.month_start <= partner_windows.window_end

    group by
        partner_windows.partner_id,
        partner_windows.window_months

),

campaign_sums as (

    select
        partner_windows.partner_id,
        partner_windows.window_months,
        sum(campaign_revenue.attributed_gross_margin_usd) as attributed_gross_margin_usd

    from partner_windows

    inner join campaign_revenue
        on partner_windows.partner_id = campaign_revenue.campaign_partner_id
        and campaign_revenue.month_start >= partner_windows.window_start
        and campaign_revenue.month_start <= partner_windows.window_end

    group by
        partner_windows.partner_id,
        partner_windows.window_months

),

wide_values as (

    select
        partner_windows.partner_id,
        partner_windows.partner_tier,
        partner_windows.as_of_month,
        partner_windows.window_months,
        month_sums.sales_volume_usd,
        case
            when year_earlier_sums.spine_months = partner_windows.window_months
                then {{ safe_divide_usd('month_sums.sales_volume_usd', 'year_earlier_sums.sales_volume_usd') }} - 1
        end as sales_yoy_growth,
        {{ safe_divide_usd('month_sums.planned_sales_volume_usd', 'month_sums.revenue_target_usd') }}
            as revenue_attainment,
        {{ safe_divide(
            'cast(month_sums.opportunities_won as ' ~ type_double() ~ ')',
            'month_sums.opportunities_won + month_sums.opportunities_lost'
        ) }} as win_rate,
        {{ safe_divide(
            'cast(funnel_sums.deal_regs_won as ' ~ type_double() ~ ')',
            'funnel_sums.deal_regs_approved'
        ) }} as deal_reg_conversion_rate,
        month_sums.mean_active_certifications as active_certifications,
        {{ safe_divide_usd(
            'coalesce(campaign_sums.attributed_gross_margin_usd, 0) - month_sums.mdf_paid_usd',
            'month_sums.mdf_paid_usd'
        ) }} as mdf_romi,
        {{ safe_divide(
            'cast(reconciliation_sums.months_accurate as ' ~ type_double() ~ ')',
            'reconciliation_sums.months_reconciled'
        ) }} as reconciliation_accuracy,
        cast(month_sums.engagement_events as {{ type_double() }}) as engagement_events

    from partner_windows

    inner join month_sums
        on partner_windows.partner_id = month_sums.partner_id
        and partner_windows.window_months = month_sums.window_months

    left join year_earlier_sums
        on partner_windows.partner_id = year_earlier_sums.partner_id
        and partner_windows.window_months = year_earlier_sums.window_months

    left join funnel_sums
        on partner_windows.partner_id = funnel_sums.partner_id
        and partner_windows.window_months = funnel_sums.window_months

    left join reconciliation_sums
        on partner_windows.partner_id = reconciliation_sums.partner_id
        and partner_windows.window_months = reconciliation_sums.window_months

    left join campaign_sums
        on partner_windows.partner_id = campaign_sums.partner_id
        and partner_windows.window_months = campaign_sums.window_months

),

measure_values as (

    select
        partner_id,
        partner_tier,
        as_of_month,
        window_months,
        {% for measure in scorecard_measures() -%}
        cast({{ measure.name }} as {{ type_double() }}) as {{ measure.name }}
        {%- if not loop.last %},{% endif %}
        {% endfor %}
    from wide_values

),

{#- One unpivot, not a union of one select per measure, which reads wide_values once per
    measure on Spark (docs/scaling.md). #}
long_values as (

    select
        partner_id,
        partner_tier,
        as_of_month,
        window_months,
        measure_name,
        measure_value

    from measure_values

    unpivot include nulls (
        measure_value for measure_name in (
            {%- for measure in scorecard_measures() %}
            {{ measure.name }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        )
    )

),

ranked as (

    select
        partner_id,
        window_months,
        measure_name,
        rank() over (
            partition by partner_tier, window_months, measure_name
            order by measure_value
        ) - 1 as partners_below,
        count(*) over (
            partition by partner_tier, window_months, measure_name, measure_value
        ) as partners_equal,
        count(*) over (
            partition by partner_tier, window_months, measure_name
        ) as partners_ranked

    from long_values

    where measure_value is not null

),

tier_statistics as (

    select
        partner_tier,
        window_months,
        measure_name,
        count(*) as tier_active_partners,
        count(measure_value) as tier_partners_ranked,
        avg(measure_value) as tier_average,
        {{ percentile('measure_value', 0.9) }} as tier_top_decile

    from long_values

    group by
        partner_tier,
        window_months,
        measure_name

),

final as (

    select
        long_values.partner_id,
        long_values.as_of_month,
        long_values.measure_name,
        long_values.window_months,
        long_values.partner_tier,
        long_values.measure_value,
        (ranked.partners_below + 0.5 * ranked.partners_equal)
            / cast(ranked.partners_ranked as double)
            as percentile_rank,
        tier_statistics.tier_average,
        tier_statistics.tier_top_decile,
        tier_statistics.tier_partners_ranked,
        tier_statistics.tier_active_partners

    from long_values

    inner join tier_statistics
        on long_values.partner_tier = tier_statistics.partner_tier
        and long_values.window_months = tier_statistics.window_months
        and long_values.measure_name = tier_statistics.measure_name

    left join ranked
        on long_values.partner_id = ranked.partner_id
        and long_values.window_months = ranked.window_months
        and long_values.measure_name = ranked.measure_name

)

select * from final
