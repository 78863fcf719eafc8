-- The partner scorecard (grain: partner_id x as_of_month, one scored month per build: var
-- scorecard_month, by default the latest closed month, i.e. the month before the as_of
-- month): one row per active partner with every measure of rpt_partner_scorecard_measures
-- over the trailing 3 and 12 months (t3m_*, t12m_*), each as value, percentile rank among
-- the active partners of its tier, tier average and tier top-decile value.
--   capability_score: the weighted mean of the trailing-12-month percentile ranks, with
--     the weights of the scorecard_weight_* vars; a measure without a rank is left out
--     and the others count in proportion (NULL when no measure has a rank);
--   eligible_tier: the highest tier whose thresholds the partner meets: trailing-12-month
--     sales >= tier_<tier>_min_sales_usd and active certifications at the end of the
--     scored month >= tier_<tier>_min_active_certifications; Registered needs nothing;
--   tier_eligibility: upgrade_candidate / meets_tier / below_tier, eligible tier against
--     the tier held now (a tier outside the four is below_tier);
--   next_tier and its gaps: the tier above the eligible one (NULL at Platinum), its two
--     thresholds, and how far the partner is from each (0 when met);
--   lifetime_value_to_date_usd: gross margin of every spine month up to the scored month,
--     minus the MDF paid to the partner in those months, minus its recruitment cost (0
--     when unknown).

{%- set measures = scorecard_measures() %}
{%- set windows = scorecard_windows() %}
{%- set tiers = [
    {'name': 'Platinum', 'var': 'platinum'},
    {'name': 'Gold', 'var': 'gold'},
    {'name': 'Silver', 'var': 'silver'},
] %}
{#- Each tier and the one above it, from the bottom: the next tier's thresholds. #}
{%- set climbs = [
    {'from': 'Registered', 'to': tiers[2]},
    {'from': 'Silver', 'to': tiers[1]},
    {'from': 'Gold', 'to': tiers[0]},
] %}

with

scorecard_measures as (

    select * from {{ ref('rpt_partner_scorecard_measures') }}

),

partners as (

    select * from {{ ref('dim_partners') }}

),

partner_months as (

    select * from {{ ref('fct_partner_months') }}

),

pivoted as (

    select
        partner_id,
        as_of_month,
        {%- for measure in measures %}
        {%- for window in windows %}
        {%- set column = 't' ~ window ~ 'm_' ~ measure.name %}
        max(
            case
                when measure_name = '{{ measure.name }}' and window_months = {{ window }}
                    then measure_value
            end
        ) as {{ column }},
        max(
            case
                when measure_name = '{{ measure.name }}' and window_months = {{ window }}
                    then percentile_rank
            end
        ) as {{ column }}_percentile_rank,
        max(
            case
                when measure_name = '{{ measure.name }}' and window_months = {{ window }}
                    then tier_average
            end
        ) as {{ column }}_tier_average,
        max(
            case
                when measure_name = '{{ measure.name }}' and window_months = {{ window }}
                    then tier_top_decile
            end
        ) as {{ column }}_tier_top_decile{{ ',' if not (loop.last and measure == measures[-1]) }}
        {%- endfor %}
        {%- endfor %}

    from scorecard_measures

    group by
        partner_id,
        as_of_month

),

lifetime as (

    select
        partner_months.partner_id,
        sum(partner_months.gross_margin_usd) as gross_margin_to_date_usd,
        sum(partner_months.mdf_paid_usd) as mdf_paid_to_date_usd,
        max(
            case
                when partner_months.month_start = {{ scorecard_month_start() }}
                    then partner_months.active_certifications
            end
        ) as active_certifications

    from partner_months

    where partner_months.month_start <= {{ scorecard_month_start() }}

    group by partner_months.partner_id

),

scored as (

    select
        pivoted.*,
        partners.partner_name,
        partners.partner_tier,
        partners.region,
        lifetime.active_certifications,
        lifetime.gross_margin_to_date_usd,
        lifetime.mdf_paid_to_date_usd,
        coalesce(partners.recruitment_cost_usd, 0) as recruitment_cost_usd,
        case
            {%- for tier in tiers %}
            when pivoted.t12m_sales_volume_usd
                    >= {{ var('tier_' ~ tier.var ~ '_min_sales_usd') }}
                and lifetime.active_certifications
                    >= {{ var('tier_' ~ tier.var ~ '_min_active_certifications') }}
                then '{{ tier.name }}'
            {%- endfor %}
            else 'Registered'
        end as eligible_tier,
        (
            {%- for measure in measures %}
            {{ var(measure.weight_var) }} * coalesce(pivoted.t12m_{{ measure.name }}_percentile_rank, 0)
            {{- ' +' if not loop.last }}
            {%- endfor %}
        ) as weighted_rank_sum,
        (
            {%- for measure in measures %}
            case
                when pivoted.t12m_{{ measure.name }}_percentile_rank is not null
                    then {{ var(measure.weight_var) }}
                else 0
            end
            {{- ' +' if not loop.last }}
            {%- endfor %}
        ) as ranked_weight_sum

    from pivoted

    inner join partners
        on pivoted.partner_id = partners.partner_id

    inner join lifetime
        on pivoted.partner_id = lifetime.partner_id

),

final as (

    select
        partner_id,
        as_of_month,
        partner_name,
        partner_tier,
        region,
        eligible_tier,
        case
            when {{ tier_rank('eligible_tier') }} > coalesce({{ tier_rank('partner_tier') }}, 0)
                then 'upgrade_candidate'
            when eligible_tier = partner_tier then 'meets_tier'
            else 'below_tier'
        end as tier_eligibility,
        case eligible_tier
            {%- for climb in climbs %}
            when '{{ climb.from }}' then '{{ climb.to.name }}'
            {%- endfor %}
        end as next_tier,
        {%- for threshold, value in [
            ('min_sales_usd', 't12m_sales_volume_usd'),
            ('min_active_certifications', 'active_certifications'),
        ] %}
        {%- set threshold_column = 'next_tier_' ~ threshold %}
        case eligible_tier
            {%- for climb in climbs %}
            when '{{ climb.from }}' then {{ var('tier_' ~ climb.to.var ~ '_' ~ threshold) }}
            {%- endfor %}
        end as {{ threshold_column }},
        case eligible_tier
            {%- for climb in climbs %}
            when '{{ climb.from }}' then greatest(
                {{ var('tier_' ~ climb.to.var ~ '_' ~ threshold) }} - coalesce({{ value }}, 0), 0
            )
            {%- endfor %}
        end as {{ 'next_tier_sales_gap_usd' if threshold == 'min_sales_usd' else 'next_tier_certifications_gap' }},
        {%- endfor %}
        -- A double, as weighted_rank_sum is: Spark divides by a decimal (the weights'
        -- sum) to 6 decimal places.
        {{ safe_divide('weighted_rank_sum', 'cast(ranked_weight_sum as double)') }} as capability_score,
        gross_margin_to_date_usd - mdf_paid_to_date_usd - recruitment_cost_usd
            as lifetime_value_to_date_usd,
        active_certifications,
        {%- for measure in measures %}
        {%- for window in windows %}
        {%- set column = 't' ~ window ~ 'm_' ~ measure.name %}
        {{ column }},
        {{ column }}_percentile_rank,
        {{ column }}_tier_average,
        {{ column }}_tier_top_decile{{ ',' if not (loop.last and measure == measures[-1]) }}
        {%- endfor %}
        {%- endfor %}

    from scored

)

select * from final
