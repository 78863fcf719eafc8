{#
    Every row satisfies a boolean SQL expression (optionally only the rows matching
    `where`); a small stand-in for dbt_utils.expression_is_true.
#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
