"""The jobs: every asset of a day (or a range), and the DLQ replay."""

from dagster import AssetSelection, define_asset_job

from trade_platform.core import names

trades_daily_job = define_asset_job(
    "trades_daily_job",
    # Every asset below what ingest writes (the marts, the dbt models), with every check on them.
    selection=AssetSelection.assets(*names.INGESTED).downstream(),
    description="One day (or a range of days) of every asset and check.",
)

# Re-validates a partition's landing files with the current rules and any corrections under
# <landing>/corrections/date=D/, then rebuilds everything downstream; idempotent.
replay_dlq_job = define_asset_job(
    "replay_dlq",
    selection=AssetSelection.assets(*names.INGESTED).downstream(),
    description="Replay a partition's DLQ after a rule change or with a corrections file.",
)
