{#- No two rows share the values of `columns`; a null is a value too (dbt's `unique` skips nulls,
    and account_daily's one row without an account must stay one). -#}
{% test unique_columns(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
