{#- Per day and symbol, the hours' trade counts and volumes add up to the platform's own
    daily_volume (volumes to a relative 1e-9: sums of floats in another order). -#}
{% test reconciles_with_daily_volume(model) %}
with hourly as (
    select date, symbol, sum(trade_count) as trade_count, sum(volume) as volume
    from {{ model }}
    group by date, symbol
),
daily as (
    select date, symbol, trade_count, total_volume as volume
    from {{ source('lake', 'daily_volume') }}
    where {{ in_run_days() }}
)
select
    coalesce(hourly.date, daily.date) as date,
    coalesce(hourly.symbol, daily.symbol) as symbol,
    hourly.trade_count as hourly_trade_count,
    daily.trade_count as daily_trade_count,
    hourly.volume as hourly_volume,
    daily.volume as daily_volume
from hourly
full outer join daily on hourly.date = daily.date and hourly.symbol = daily.symbol
where hourly.trade_count is distinct from daily.trade_count
    or hourly.volume is null
    or daily.volume is null
    or abs(hourly.volume - daily.volume) > 1e-9 * abs(daily.volume)
{% endtest %}
