"""``ohlcv`` and ``daily_volume``: marts computed from validated trades."""


import polars as pl
from dagster import AssetExecutionContext, asset

from trade_platform.assets.ingest import column_schema
from trade_platform.dagster_types import DAILY_VOLUME_TYPE, OHLCV_TYPE
from trade_platform.partitions import daily_partitions
from trade_platform.policies import backfill_policy, retry_policy
from trade_platform.resources import MartSettings
from trade_platform.transforms import marts


@asset(
    dagster_type=OHLCV_TYPE,
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy,
    retry_policy=retry_policy,
    group_name="trades",
    compute_kind="polars",
    metadata=column_schema(OHLCV_TYPE),
)
def ohlcv(context: AssetExecutionContext, mart_settings: MartSettings, validated_trades: pl.LazyFrame) -> pl.LazyFrame:
    """Candles per symbol for each configured interval (default 1m, 5m, 1h), UTC-aligned.

    Returned as a lazy plan: the I/O manager computes and writes one partition at a time.
    """
    intervals = mart_settings.intervals()
    context.log.info(f"Building {', '.join(intervals)} candles")
    return marts.ohlcv_plan(validated_trades, intervals)


@asset(
    dagster_type=DAILY_VOLUME_TYPE,
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy,
    retry_policy=retry_policy,
    group_name="trades",
    compute_kind="polars",
    metadata=column_schema(DAILY_VOLUME_TYPE),
)
def daily_volume(validated_trades: pl.LazyFrame) -> pl.LazyFrame:
    """Per symbol: trade count, volume, notional, VWAP, mean, low and high price for the day."""
    return marts.daily_volume_plan(validated_trades)
