-- DLQ rows per error code: a row carrying several codes counts once for each.
select
    date,
    error_code,
    count(*) as records
from (
    select date, unnest(list_distinct(error_codes)) as error_code
    from {{ source('lake', 'trades_dlq') }}
    where {{ in_run_days() }}
)
group by date, error_code
order by error_code
