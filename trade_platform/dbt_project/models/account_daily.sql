-- Per account (its pseudonymised token as stored) and day; trades without an account are one
-- row with a null account_id.
select
    date,
    account_id,
    count(*) as trade_count,
    sum(price * quantity) as notional,
    coalesce(sum(price * quantity) filter (where side = 'buy'), 0) as buy_notional,
    coalesce(sum(price * quantity) filter (where side = 'sell'), 0) as sell_notional
from {{ source('lake', 'validated_trades') }}
where {{ in_run_days() }}
group by date, account_id
order by account_id nulls first
