"""What the checks of ``ohlcv`` and ``daily_volume`` compute against ``validated_trades``, per day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from trade_platform.core import marts
from trade_platform.core.quality.per_day import RELATIVE_TOLERANCE, SAMPLE_SIZE, by_day, close, is_day

CANDLE_KEY = ("interval", "symbol", "timestamp")
CANDLE_VALUES = ("open", "high", "low", "close", "volume", "trade_count", "vwap")


@dataclass(frozen=True)
class CandleReport:
    validated_trades: int = 0
    validated_volume: float = 0.0
    bad_candles: int = 0
    """Candles breaking low <= open, close <= high or volume > 0."""
    bad_candle_examples: list[str] = field(default_factory=list)
    duplicated_candles: int = 0
    """(interval, symbol, timestamp) keys with more than one candle."""
    trade_count_by_interval: dict[str, int] = field(default_factory=dict)
    disagreeing_intervals: dict[str, str] = field(default_factory=dict)
    """Intervals whose candles miss or add trades or volume, or that are not configured."""
    differing_candles: int = 0
    """Candles that differ from those computed again from validated_trades, or that only one side has."""
    differing_candle_examples: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (
            self.bad_candles
            or self.duplicated_candles
            or self.disagreeing_intervals
            or self.differing_candles
        )


def candle_reports(
    ohlcv: pl.LazyFrame, validated: pl.LazyFrame, intervals: Sequence[str], days: Sequence[str]
) -> dict[str, CandleReport]:
    """Per day: every configured interval present, each candle sane and unique, each
    interval's trade counts and volume summing to the validated totals, and every candle the one
    ``marts.ohlcv`` computes again from the day's validated trades."""
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
    validated_totals = by_day(validated, n=pl.len(), volume=pl.col("quantity").sum())

    def report(day: str) -> CandleReport:
        expected = validated_totals.get(day, {}).get("n", 0)
        expected_volume = validated_totals.get(day, {}).get("volume") or 0.0
        per_interval = {row["interval"]: row for row in totals.filter(is_day(day)).iter_rows(named=True)}
        # A configured interval with no candles holds 0 trades: wrong unless the day has none.
        wrong = {
            interval: "not a configured interval" for interval in per_interval if interval not in intervals
        }
        for interval in intervals:
            row = per_interval.get(interval, {"trades": 0, "volume": 0.0})
            if row["trades"] != expected or not close(row["volume"], expected_volume):
                wrong[interval] = f"{row['trades']} trades, volume {row['volume']}"
        differing = differing_candles(ohlcv.filter(is_day(day)), validated.filter(is_day(day)), intervals)
        return CandleReport(
            differing_candles=differing.height,
            differing_candle_examples=[str(row) for row in differing.head(SAMPLE_SIZE).iter_rows(named=True)],
            validated_trades=expected,
            validated_volume=expected_volume,
            bad_candles=candles.get(day, {}).get("bad_candles", 0),
            bad_candle_examples=[str(e) for e in candles.get(day, {}).get("examples", [])],
            duplicated_candles=repeated.get(day, {}).get("duplicated_candles", 0),
            trade_count_by_interval={i: row["trades"] for i, row in per_interval.items()},
            disagreeing_intervals=wrong,
        )

    return {day: report(day) for day in days}


def differing_candles(ohlcv: pl.LazyFrame, validated: pl.LazyFrame, intervals: Sequence[str]) -> pl.DataFrame:
    """One day's stored candles that differ from ``marts.ohlcv`` of its validated trades (any
    value beyond ``RELATIVE_TOLERANCE``), or that only one side has: their keys, sorted."""
    expected = marts.ohlcv(validated, intervals).lazy()
    joined = ohlcv.select(*CANDLE_KEY, *CANDLE_VALUES).join(
        expected.select(*CANDLE_KEY, *CANDLE_VALUES),
        on=CANDLE_KEY,
        how="full",
        coalesce=True,
        suffix="_expected",
    )
    return (
        joined.filter(pl.any_horizontal(_differs(name) for name in CANDLE_VALUES).fill_null(True))
        .select(*CANDLE_KEY)
        .sort(*CANDLE_KEY)
        .collect()
    )


def _differs(name: str) -> pl.Expr:
    """Whether ``name`` and ``<name>_expected`` differ beyond the relative tolerance (a side
    without the row: null on both)."""
    value, expected = pl.col(name), pl.col(f"{name}_expected")
    return (value.is_null() | expected.is_null()) | (
        (value - expected).abs()
        > RELATIVE_TOLERANCE * pl.max_horizontal(pl.lit(1.0), value.abs(), expected.abs())
    )


DAILY_TOTALS = (
    "trade_count", "total_volume", "notional", "low_price", "high_price", "avg_price", "vwap",
)  # fmt: skip


@dataclass(frozen=True)
class VolumeReport:
    symbols: int = 0
    rows_repeating_a_symbol: int = 0
    trade_count_total: int = 0
    validated_trades: int = 0
    disagreeing: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Symbols whose totals, mean and vwap (``DAILY_TOTALS``, each beside its ``*_expected``
    value) differ from validated_trades, are missing on either side, or whose vwap or mean lies
    outside low..high."""

    @property
    def passed(self) -> bool:
        return self.disagreeing.is_empty() and not self.rows_repeating_a_symbol


def volume_reports(
    daily_volume: pl.LazyFrame, validated: pl.LazyFrame, days: Sequence[str]
) -> dict[str, VolumeReport]:
    """Per day: one row per symbol, each agreeing with the totals recomputed from validated_trades."""
    expected = (
        validated.group_by("date", "symbol")
        .agg(
            trade_count=pl.len().cast(pl.Int64),
            total_volume=pl.col("quantity").sum(),
            notional=(pl.col("price") * pl.col("quantity")).sum(),
            low_price=pl.col("price").min(),
            high_price=pl.col("price").max(),
            avg_price=pl.col("price").mean(),
        )
        .with_columns(vwap=pl.col("notional") / pl.col("total_volume"))
    )
    joined = daily_volume.join(expected, on=["date", "symbol"], how="full", coalesce=True, suffix="_expected")
    broken_order = (pl.col("low_price") > pl.min_horizontal("vwap", "avg_price")) | (
        pl.col("high_price") < pl.max_horizontal("vwap", "avg_price")
    )
    bad = (
        joined.with_columns(
            _bad=pl.any_horizontal(_differs(name) for name in DAILY_TOTALS).fill_null(True)
            | broken_order.fill_null(False)
        )
        .filter("_bad")
        .select("date", "symbol", *[c for name in DAILY_TOTALS for c in (name, f"{name}_expected")])
        .sort("date", "symbol")
        .collect()
    )
    totals = by_day(
        daily_volume,
        symbols=pl.len(),
        repeated_symbols=pl.col("symbol").is_duplicated().sum(),
        trades=pl.col("trade_count").sum(),
    )
    validated_rows = by_day(validated, n=pl.len())
    return {
        day: VolumeReport(
            symbols=totals.get(day, {}).get("symbols", 0),
            rows_repeating_a_symbol=totals.get(day, {}).get("repeated_symbols", 0),
            trade_count_total=totals.get(day, {}).get("trades", 0),
            validated_trades=validated_rows.get(day, {}).get("n", 0),
            disagreeing=bad.filter(is_day(day)).drop("date"),
        )
        for day in days
    }
