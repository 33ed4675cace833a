"""``ohlcv`` and ``daily_volume``: marts computed from validated trades, one day at a time."""

import tempfile
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from trade_platform.core import marts
from trade_platform.core.names import DAILY_VOLUME, OHLCV
from trade_platform.core.storage import storage_errors
from trade_platform.lib.asset_labels import labels
from trade_platform.lib.dagster_types import DAILY_VOLUME_TYPE, OHLCV_TYPE, schema_metadata
from trade_platform.lib.partition_locks import holding_days
from trade_platform.lib.policies import StepSettings
from trade_platform.lib.resources import MartSettings

FIRST_TRADE, LAST_TRADE = "first_trade_time", "last_trade_time"


def build_mart_assets(
    partitions: PartitionsDefinition, backfill_policy: BackfillPolicy, table_format: str
) -> list[AssetsDefinition]:
    @asset(
        name=OHLCV,
        dagster_type=OHLCV_TYPE,
        partitions_def=partitions,
        backfill_policy=backfill_policy,
        group_name="trades",
        metadata=schema_metadata(OHLCV_TYPE),
        **labels(OHLCV, table_format),
    )
    def ohlcv(
        context: AssetExecutionContext,
        mart_settings: MartSettings,
        step_settings: StepSettings,
        validated_trades: pl.LazyFrame,
    ):
        """Candles per symbol for each configured interval (default 1m, 5m, 1h), UTC-aligned."""
        intervals = mart_settings.ohlcv_intervals
        context.log.info(f"Building {', '.join(intervals)} candles")
        yield from _per_day(
            context,
            step_settings,
            validated_trades,
            lambda trades: marts.ohlcv(trades, intervals),
            lambda candles: marts.ohlcv_summary(candles, intervals),
        )

    @asset(
        name=DAILY_VOLUME,
        dagster_type=DAILY_VOLUME_TYPE,
        partitions_def=partitions,
        backfill_policy=backfill_policy,
        group_name="trades",
        metadata=schema_metadata(DAILY_VOLUME_TYPE),
        **labels(DAILY_VOLUME, table_format),
    )
    def daily_volume(
        context: AssetExecutionContext, step_settings: StepSettings, validated_trades: pl.LazyFrame
    ):
        """Per symbol: trade count, volume, notional, VWAP, mean, low and high price for the day."""
        yield from _per_day(
            context, step_settings, validated_trades, marts.daily_volume, marts.daily_volume_summary
        )

    return [ohlcv, daily_volume]


def _per_day(
    context: AssetExecutionContext,
    step_settings: StepSettings,
    validated_trades: pl.LazyFrame,
    compute: Callable[[pl.LazyFrame], pl.DataFrame],
    summarize: Callable[[pl.DataFrame], dict],
) -> Iterator[Output]:
    """``compute`` over each day of the run alone (the scan reads only that day's file), so a
    range run needs the memory of one day; ``marts.sum_in_order`` adds floats in row order, so a
    re-run writes the same bytes. Each day's materialization carries ``summarize`` of its rows
    and its first and last trade time."""
    name = context.assets_def.key.to_python_identifier()
    with (
        step_settings.retry_storage_faults(context.retry_number),
        holding_days(context, context.partition_keys),
        tempfile.TemporaryDirectory(prefix=f"trade-platform-{name}-") as scratch,
    ):
        spill = step_settings.spill(Path(scratch))
        for day in context.partition_keys:
            trades = validated_trades.filter(pl.col("date") == date.fromisoformat(day))
            with storage_errors("read", f"validated_trades of {day}"):
                rows = compute(trades)
                first, last = marts.trade_time_range(trades)
            spill.add(name, rows)
            context.add_asset_metadata(
                {**summarize(rows), FIRST_TRADE: _timestamp(first), LAST_TRADE: _timestamp(last)},
                partition_key=day,
            )
        yield Output(spill.result(name))


def _timestamp(value: datetime | None) -> MetadataValue:
    return MetadataValue.null() if value is None else MetadataValue.timestamp(value)
