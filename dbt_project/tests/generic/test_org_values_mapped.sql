{#
    Every value of a picklist column is one the metrics use (var `picklist_values`): a
    value the org's map does not cover (added to the org after its last
    `partnerpulse config check`) passes through staging unchanged, and this test names it
    with its count.
#}
{% test org_values_mapped(model, column_name, picklist) %}

{%- set known = var('picklist_values')[picklist] -%}
select {{ column_name }} as unmapped_value, count(*) as records
from {{ model }}
where {{ column_name }} is not null
    and {{ column_name }} not in (
        {%- for value in known %}{{ _org_literal(value) }}{% if not loop.last %}, {% endif %}{% endfor -%}
    )
group by 1

{% endtest %}
