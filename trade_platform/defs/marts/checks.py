"""Checks of ``ohlcv`` and ``daily_volume`` against ``validated_trades``, one evaluation per partition.

What they compute is in ``core/quality/marts.py``; here each day's result becomes a verdict.
"""

from collections.abc import Iterator

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetChecksDefinition,
    AssetIn,
    PartitionsDefinition,
    asset_check,
)

from trade_platform.core.names import DAILY_VOLUME, OHLCV, VALIDATED_TRADES
from trade_platform.core.quality.marts import candle_reports, volume_reports
from trade_platform.core.quality.per_day import SAMPLE_SIZE
from trade_platform.lib.partitioned_checks import Verdict, evaluate_per_partition
from trade_platform.lib.resources import MartSettings


def build_mart_checks(partitions: PartitionsDefinition) -> list[AssetChecksDefinition]:
    @asset_check(
        asset=OHLCV,
        additional_ins={VALIDATED_TRADES: AssetIn(VALIDATED_TRADES)},
        partitions_def=partitions,
        description="Every configured interval is present; one candle per symbol, interval and bucket; "
        "low <= open, close <= high; volume > 0; trade counts and volume per interval sum to the "
        "validated totals; every candle equals the one computed again from validated_trades.",
    )
    def ohlcv_invariants(
        context: AssetCheckExecutionContext,
        mart_settings: MartSettings,
        ohlcv: pl.LazyFrame,
        validated_trades: pl.LazyFrame,
    ) -> Iterator:
        configured = mart_settings.ohlcv_intervals
        reports = candle_reports(ohlcv, validated_trades, configured, context.partition_keys)

        def judge(day: str) -> Verdict:
            r = reports[day]
            return Verdict(
                passed=r.passed,
                description=f"{r.bad_candles} candles break low <= open, close <= high or volume > 0; "
                f"{r.duplicated_candles} candles appear more than once; "
                f"{len(r.disagreeing_intervals)} intervals disagree with {r.validated_trades} validated trades; "
                f"{r.differing_candles} candles differ from those computed again from them",
                metadata={
                    "bad_candles": r.bad_candles,
                    "bad_candle_examples": r.bad_candle_examples,
                    "duplicated_candles": r.duplicated_candles,
                    "validated_trades": r.validated_trades,
                    "validated_volume": r.validated_volume,
                    "configured_intervals": configured,
                    "trade_count_by_interval": r.trade_count_by_interval,
                    "disagreeing_intervals": r.disagreeing_intervals,
                    "differing_candles": r.differing_candles,
                    "differing_candle_examples": r.differing_candle_examples,
                },
            )

        yield from evaluate_per_partition(context, judge)

    @asset_check(
        asset=DAILY_VOLUME,
        additional_ins={VALIDATED_TRADES: AssetIn(VALIDATED_TRADES)},
        partitions_def=partitions,
        description="One row per symbol; per symbol, trade_count, total_volume, notional, low, high, "
        "avg_price and vwap agree with validated_trades, and low_price <= vwap, avg_price <= high_price.",
    )
    def daily_volume_totals(
        context: AssetCheckExecutionContext, daily_volume: pl.LazyFrame, validated_trades: pl.LazyFrame
    ) -> Iterator:
        reports = volume_reports(daily_volume, validated_trades, context.partition_keys)

        def judge(day: str) -> Verdict:
            r = reports[day]
            repeated = r.rows_repeating_a_symbol
            return Verdict(
                passed=r.passed,
                description=f"{r.disagreeing.height} of {r.symbols} symbols disagree with validated_trades"
                + (f"; {repeated} rows repeat a symbol" if repeated else ""),
                metadata={
                    "symbols": r.symbols,
                    "rows_repeating_a_symbol": repeated,
                    "trade_count_total": r.trade_count_total,
                    "validated_trades": r.validated_trades,
                    "disagreeing_symbols": r.disagreeing.height,
                    "examples": [str(row) for row in r.disagreeing.head(SAMPLE_SIZE).iter_rows(named=True)],
                },
            )

        yield from evaluate_per_partition(context, judge)

    return [ohlcv_invariants, daily_volume_totals]
