{#
    The month the scorecard scores: var scorecard_month ('YYYY-MM' or 'YYYY-MM-DD') when
    set, else the latest closed month (the month before the as_of month), as a DATE.
#}
{% macro scorecard_month_start() -%}
    {%- set chosen = month_var_literal('scorecard_month') -%}
    {%- if chosen is not none -%}
        {{ chosen }}
    {%- else -%}
        {{ add_months(as_of_month_start(), -1) }}
    {%- endif -%}
{%- endmacro %}

{#
    The scorecard's measures, in display order: the column name and the var holding its
    weight in capability_score. Every measure is better when higher.
#}
{% macro scorecard_measures() -%}
    {{ return([
        {'name': 'sales_volume_usd', 'weight_var': 'scorecard_weight_sales_volume'},
        {'name': 'sales_yoy_growth', 'weight_var': 'scorecard_weight_sales_yoy_growth'},
        {'name': 'revenue_attainment', 'weight_var': 'scorecard_weight_revenue_attainment'},
        {'name': 'win_rate', 'weight_var': 'scorecard_weight_win_rate'},
        {'name': 'deal_reg_conversion_rate', 'weight_var': 'scorecard_weight_deal_reg_conversion'},
        {'name': 'active_certifications', 'weight_var': 'scorecard_weight_active_certifications'},
        {'name': 'mdf_romi', 'weight_var': 'scorecard_weight_mdf_romi'},
        {'name': 'reconciliation_accuracy', 'weight_var': 'scorecard_weight_reconciliation_accuracy'},
        {'name': 'engagement_events', 'weight_var': 'scorecard_weight_engagement'},
    ]) }}
{%- endmacro %}

{# The trailing windows of the scorecard, in months. #}
{% macro scorecard_windows() -%}
    {{ return([3, 12]) }}
{%- endmacro %}

{# The rank of a partner tier: Registered 1 < Silver 2 < Gold 3 < Platinum 4; NULL otherwise. #}
{% macro tier_rank(expression) -%}
    case {{ expression }}
        when 'Platinum' then 4
        when 'Gold' then 3
        when 'Silver' then 2
        when 'Registered' then 1
    end
{%- endmacro %}
