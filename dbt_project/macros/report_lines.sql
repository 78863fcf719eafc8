{#
    What the report suites (`sales_reports`, `pos_reports`) hold against each line of a
    partner's report, API revision or POS file alike: its flags, then their totals per
    report. The frames val_sales_reports and val_pos_reports share them.
#}

{# The flags of a report line `line` (its sku, quantity, amount, sold_on_date), of a report
   for the month `period` ('YYYY-MM'); `erp_sku` is NULL when no ERP item has the SKU. #}
{% macro report_line_flags(line, period, erp_sku) -%}
    ({{ line }}.sku is not null and {{ erp_sku }} is null) as is_unknown_sku,
    (substring(cast({{ line }}.sold_on_date as {{ dbt.type_string() }}), 1, 7) <> {{ period }}) as is_sold_outside_period,
    (
        {{ line }}.quantity = 0
        or ({{ line }}.quantity > 0 and {{ line }}.amount < 0)
        or ({{ line }}.quantity < 0 and {{ line }}.amount > 0)
    ) as is_wrong_sign
{%- endmacro %}


{# Per report, over lines carrying those flags, sku, amount and sold_on_date: how many lines
   each flag marks, their amount, and what the findings show (dates, SKUs). #}
{% macro report_line_flag_totals() -%}
    count(*) filter (where is_wrong_sign) as wrong_sign_lines,
    sum(amount) filter (where is_wrong_sign) as wrong_sign_amount,
    count(*) filter (where is_sold_outside_period) as sold_outside_period_lines,
    sum(amount) filter (where is_sold_outside_period) as sold_outside_period_amount,
    cast(min(sold_on_date) filter (where is_sold_outside_period) as {{ dbt.type_string() }})
    || ' .. '
    || cast(max(sold_on_date) filter (where is_sold_outside_period) as {{ dbt.type_string() }})
        as sold_outside_period_dates,
    count(*) filter (where is_unknown_sku) as unknown_sku_lines,
    sum(amount) filter (where is_unknown_sku) as unknown_sku_amount,
    {{ ordered_string_agg('sku', ', ', distinct=true, where='is_unknown_sku') }} as unknown_skus
{%- endmacro %}
