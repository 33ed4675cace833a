"""The jobs: every asset of a day (or a range), and the DLQ replay."""

from dagster import AssetSelection, define_asset_job

from trade_platform.defs.ingest.assets import ingest_trades
from trade_platform.defs.marts.assets import daily_volume, ohlcv

ASSETS = [ingest_trades, ohlcv, daily_volume]

trades_daily_job = define_asset_job(
    "trades_daily_job",
    selection=AssetSelection.assets(*ASSETS),  # with every check on them
    description="One day (or a range of days) of every asset and check.",
)

# Re-validates a partition's landing files with the current rules and any corrections under
# <landing>/corrections/date=D/, then rebuilds everything downstream; idempotent.
replay_dlq_job = define_asset_job(
    "replay_dlq",
    selection=AssetSelection.assets(ingest_trades).downstream(),
    description="Replay a partition's DLQ after a rule change or with a corrections file.",
)
