"""Checks of ``ohlcv`` and ``daily_volume`` against ``validated_trades``, one evaluation per partition."""

import polars as pl
from dagster import AssetCheckExecutionContext, AssetIn, asset_check

from trade_platform.defs.marts.assets import daily_volume, ohlcv
from trade_platform.defs.shared.partitioned_checks import (
    RELATIVE_TOLERANCE,
    SAMPLE_SIZE,
    Verdict,
    by_day,
    close,
    evaluate_per_partition,
    is_day,
)
from trade_platform.defs.shared.partitions import daily_partitions
from trade_platform.defs.shared.resources import MartSettings


@asset_check(
    asset=ohlcv,
    additional_ins={"validated_trades": AssetIn("validated_trades")},
    partitions_def=daily_partitions,
    description="Every configured interval is present; one candle per symbol, interval and bucket; "
    "low <= open, close <= high; volume > 0; trade counts and volume per interval sum to the "
    "validated totals.",
)
def ohlcv_invariants(
    context: AssetCheckExecutionContext,
    mart_settings: MartSettings,
    ohlcv: pl.LazyFrame,
    validated_trades: pl.LazyFrame,
):
    bad_candle = (
        (pl.col("low") > pl.min_horizontal("open", "close"))
        | (pl.col("high") < pl.max_horizontal("open", "close"))
        | ~(pl.col("volume") > 0)
    )
    candles = by_day(
        ohlcv,
        bad_candles=bad_candle.sum(),
        examples=pl.struct("symbol", "interval", "timestamp").filter(bad_candle).head(SAMPLE_SIZE),
    )
    repeated = by_day(
        ohlcv.group_by("date", "interval", "symbol", "timestamp").agg(n=pl.len()).filter(pl.col("n") > 1),
        duplicated_candles=pl.len(),
    )
    totals = (
        ohlcv.group_by("date", "interval")
        .agg(trades=pl.col("trade_count").sum(), volume=pl.col("volume").sum())
        .collect()
    )
    validated = by_day(validated_trades, n=pl.len(), volume=pl.col("quantity").sum())
    configured = mart_settings.intervals()

    def judge(key: str) -> Verdict:
        expected = validated.get(key, {}).get("n", 0)
        expected_volume = validated.get(key, {}).get("volume") or 0.0
        per_interval = {row["interval"]: row for row in totals.filter(is_day(key)).iter_rows(named=True)}
        # A configured interval with no candles holds 0 trades: wrong unless the day has none.
        wrong = {
            interval: "not a configured interval" for interval in per_interval if interval not in configured
        }
        for interval in configured:
            row = per_interval.get(interval, {"trades": 0, "volume": 0.0})
            if row["trades"] != expected or not close(row["volume"], expected_volume):
                wrong[interval] = f"{row['trades']} trades, volume {row['volume']}"
        bad = candles.get(key, {}).get("bad_candles", 0)
        duplicated = repeated.get(key, {}).get("duplicated_candles", 0)
        return Verdict(
            passed=bad == 0 and duplicated == 0 and not wrong,
            description=f"{bad} candles break low <= open, close <= high or volume > 0; "
            f"{duplicated} candles appear more than once; "
            f"{len(wrong)} intervals disagree with {expected} validated trades",
            metadata={
                "bad_candles": bad,
                "bad_candle_examples": [str(e) for e in candles.get(key, {}).get("examples", [])],
                "duplicated_candles": duplicated,
                "validated_trades": expected,
                "validated_volume": expected_volume,
                "configured_intervals": list(configured),
                "trade_count_by_interval": {i: row["trades"] for i, row in per_interval.items()},
                "disagreeing_intervals": wrong,
            },
        )

    yield from evaluate_per_partition(context, judge)


@asset_check(
    asset=daily_volume,
    additional_ins={"validated_trades": AssetIn("validated_trades")},
    partitions_def=daily_partitions,
    description="One row per symbol; per symbol, trade_count, total_volume, notional, low and high "
    "agree with validated_trades, and low_price <= vwap, avg_price <= high_price.",
)
def daily_volume_totals(
    context: AssetCheckExecutionContext, daily_volume: pl.LazyFrame, validated_trades: pl.LazyFrame
):
    expected = validated_trades.group_by("date", "symbol").agg(
        trade_count=pl.len().cast(pl.Int64),
        total_volume=pl.col("quantity").sum(),
        notional=(pl.col("price") * pl.col("quantity")).sum(),
        low_price=pl.col("price").min(),
        high_price=pl.col("price").max(),
    )
    compared = ["trade_count", "total_volume", "notional", "low_price", "high_price"]
    joined = daily_volume.join(expected, on=["date", "symbol"], how="full", coalesce=True, suffix="_expected")
    differs = [
        (pl.col(name) - pl.col(f"{name}_expected")).abs()
        > RELATIVE_TOLERANCE
        * pl.max_horizontal(pl.lit(1.0), pl.col(name).abs(), pl.col(f"{name}_expected").abs())
        for name in compared
    ]
    missing = pl.any_horizontal(
        pl.col(name).is_null() | pl.col(f"{name}_expected").is_null() for name in compared
    )
    broken_order = (pl.col("low_price") > pl.min_horizontal("vwap", "avg_price")) | (
        pl.col("high_price") < pl.max_horizontal("vwap", "avg_price")
    )
    bad = (
        joined.with_columns(
            _bad=missing | pl.any_horizontal(differs).fill_null(True) | broken_order.fill_null(False)
        )
        .filter("_bad")
        .select("date", "symbol", *[c for name in compared for c in (name, f"{name}_expected")])
        .sort("date", "symbol")
        .collect()
    )
    totals = by_day(
        daily_volume,
        symbols=pl.len(),
        repeated_symbols=pl.col("symbol").is_duplicated().sum(),
        trades=pl.col("trade_count").sum(),
    )
    validated = by_day(validated_trades, n=pl.len())

    def judge(key: str) -> Verdict:
        on_day = bad.filter(is_day(key))
        day = totals.get(key, {})
        repeated = day.get("repeated_symbols", 0)
        return Verdict(
            passed=on_day.is_empty() and repeated == 0,
            description=f"{on_day.height} of {day.get('symbols', 0)} symbols disagree with validated_trades"
            + (f"; {repeated} rows repeat a symbol" if repeated else ""),
            metadata={
                "symbols": day.get("symbols", 0),
                "rows_repeating_a_symbol": repeated,
                "trade_count_total": day.get("trades", 0),
                "validated_trades": validated.get(key, {}).get("n", 0),
                "disagreeing_symbols": on_day.height,
                "examples": [str(row) for row in on_day.drop("date").head(SAMPLE_SIZE).iter_rows(named=True)],
            },
        )

    yield from evaluate_per_partition(context, judge)


MART_CHECKS = [ohlcv_invariants, daily_volume_totals]
