{#
    The org's mapping (var `org`, connectors/org.py): staging reads source fields and
    picklist values through these macros only, so that no org's field name or value is
    written in a model.
#}

{% macro _org_object(object) -%}
    {%- set org = var('org') -%}
    {%- set mapping = org.get('crm', {}).get(object) or org.get('erp', {}).get(object) -%}
    {%- if mapping is none -%}
        {{ exceptions.raise_compiler_error("the org mapping (var org) has no object " ~ object) }}
    {%- endif -%}
    {{ return(mapping) }}
{%- endmacro %}


{% macro org_column(object, field) -%}
    {#- The raw column holding a logical field: the org's field name, lower-cased, quoted
        as the engine quotes identifiers (on Spark a double-quoted name is a string). -#}
    {%- set fields = _org_object(object)['fields'] -%}
    {%- if field not in fields -%}
        {{ exceptions.raise_compiler_error("the org mapping of " ~ object ~ " has no field " ~ field) }}
    {%- endif -%}
    {{ adapter.quote(fields[field] | lower) }}
{%- endmacro %}


{% macro org_value(object, field) -%}
    {#- A picklist field with the org's values mapped to the metrics' values. A value the
        map does not cover passes through unchanged (`partnerpulse config check` reports
        the org's uncovered values before a run). -#}
    {%- set column = org_column(object, field) -%}
    {%- set values = _org_object(object).get('values', {}).get(field, {}) -%}
    {%- set changed = [] -%}
    {%- for org_value, value in values.items() if org_value != value -%}
        {%- do changed.append((org_value, value)) -%}
    {%- endfor -%}
    {%- if changed -%}
        case {{ column }}
        {%- for org_value, value in changed %}
            when {{ _org_literal(org_value) }} then {{ _org_literal(value) }}
        {%- endfor %}
            else {{ column }}
        end
    {%- else -%}
        {{ column }}
    {%- endif -%}
{%- endmacro %}


{% macro _org_literal(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}
