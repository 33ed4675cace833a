-- Per symbol and UTC hour of the day: activity, volume, notional, VWAP and price range.
-- Its reconciling test reads daily_volume, which must be built first:
-- depends_on: {{ source('lake', 'daily_volume') }}
select
    date,
    date_trunc('hour', timestamp) as hour,
    symbol,
    count(*) as trade_count,
    sum(quantity) as volume,
    sum(price * quantity) as notional,
    sum(price * quantity) / sum(quantity) as vwap,
    max(price) as high,
    min(price) as low
from {{ source('lake', 'validated_trades') }}
where {{ in_run_days() }}
group by date, hour, symbol
order by hour, symbol
