{#- `column` falls on the run's days: the var `date` (the partition day), up to the var `end_date`
    when Dagster runs a range of days at once (a backfill). -#}
{% macro in_run_days(column='date') -%}
    {{ column }} between cast('{{ var("date") }}' as date) and cast('{{ var("end_date", var("date")) }}' as date)
{%- endmacro %}
