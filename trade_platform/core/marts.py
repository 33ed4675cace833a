"""Validated trades -> OHLCV candles and daily volume, as polars aggregations."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

import polars as pl

OHLCV_COLUMNS = (
    "symbol", "interval", "timestamp", "open", "high", "low", "close",
    "volume", "trade_count", "vwap", "date",
)  # fmt: skip
DAILY_VOLUME_COLUMNS = (
    "symbol", "trade_count", "total_volume", "notional", "vwap",
    "avg_price", "low_price", "high_price", "date",
)  # fmt: skip


OHLCV_ORDER = ("date", "interval", "symbol", "timestamp")
DAILY_VOLUME_ORDER = ("date", "symbol")
ROWS_PER_PASS = 2_000_000


def ohlcv(
    validated: pl.DataFrame | pl.LazyFrame, intervals: Sequence[str], rows_per_pass: int = ROWS_PER_PASS
) -> pl.DataFrame:
    """Candles per symbol and UTC-aligned bucket for each interval (a polars duration string).

    Open and close are the first and last trade by (timestamp, trade_id), so ties are stable.
    """
    return _in_symbol_passes(validated, partial(ohlcv_plan, intervals=intervals), OHLCV_ORDER, rows_per_pass)


def daily_volume(validated: pl.DataFrame | pl.LazyFrame, rows_per_pass: int = ROWS_PER_PASS) -> pl.DataFrame:
    """Per symbol and day: counts, volume, notional, VWAP, mean, low and high price."""
    return _in_symbol_passes(validated, daily_volume_plan, DAILY_VOLUME_ORDER, rows_per_pass)


def _in_symbol_passes(
    validated: pl.DataFrame | pl.LazyFrame,
    plan: Callable[[pl.LazyFrame], pl.LazyFrame],
    order: Sequence[str],
    rows_per_pass: int,
) -> pl.DataFrame:
    """``plan`` collected at once, or past ``rows_per_pass`` trades in passes over groups of
    symbols (no mart row spans symbols): a pass then holds one group's trades, not the day's,
    and each row sees its trades in the same order, so the result is the same to the bit. The
    joined passes are put in the plan's ``order``."""
    lazy = validated.lazy()
    rows = lazy.select(pl.len()).collect().item()
    if rows <= rows_per_pass:
        return plan(lazy).collect(engine="in-memory")
    symbols = lazy.select(pl.col("symbol").unique().sort()).collect().to_series()
    size = math.ceil(symbols.len() / math.ceil(rows / rows_per_pass))
    groups = [symbols.slice(start, size) for start in range(0, symbols.len(), size)]
    passes = [
        plan(lazy.filter(pl.col("symbol").is_in(group.implode()))).collect(engine="in-memory")
        for group in groups
    ]
    return pl.concat(passes).sort(order)


def sum_in_order(values: pl.Expr) -> pl.Expr:
    """A group's float sum computed from its values as one list, so the same rows give the same
    bits in every process: polars' ``sum`` aggregation adds partial sums per thread and data
    chunk, which changed the last bit between runs (seen on daily notional), and a re-run must
    write identical files. ``list.sum`` adding strictly in row order is observed polars 2.1
    behaviour, not documented; ``test_marts`` pins it. (``cum_sum().last()`` is as stable and
    3x slower.)"""
    return values.implode().list.sum()


def ohlcv_plan(validated: pl.DataFrame | pl.LazyFrame, intervals: Sequence[str]) -> pl.LazyFrame:
    """``ohlcv`` as a lazy plan: a filter on ``date`` reaches the scan, so days compute alone.

    Rows are put in (timestamp, trade_id) order; grouping keeps that order inside each candle,
    which is all that open and close need (a sort led by date and symbol costs more for nothing).
    Polars' in-memory engine sorts about three times faster than the streaming one here.
    """
    ordered = (
        validated.lazy()
        .select("date", "symbol", "timestamp", "trade_id", "price", "quantity")
        .sort("timestamp", "trade_id")
        .with_columns(_notional=pl.col("price") * pl.col("quantity"))
    )
    per_interval = [
        ordered.group_by(
            "date", "symbol", pl.col("timestamp").dt.truncate(interval), maintain_order=True
        ).agg(
            interval=pl.lit(interval),
            open=pl.col("price").first(),
            high=pl.col("price").max(),
            low=pl.col("price").min(),
            close=pl.col("price").last(),
            volume=sum_in_order(pl.col("quantity")),
            trade_count=pl.len().cast(pl.Int64),
            vwap=sum_in_order(pl.col("_notional")) / sum_in_order(pl.col("quantity")),
        )
        for interval in intervals
    ]
    return pl.concat(per_interval).select(OHLCV_COLUMNS).sort(OHLCV_ORDER)


def daily_volume_plan(validated: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """``daily_volume`` as a lazy plan (see ``ohlcv_plan``)."""
    return (
        validated.lazy()
        .group_by("date", "symbol")
        .agg(
            trade_count=pl.len().cast(pl.Int64),
            total_volume=sum_in_order(pl.col("quantity")),
            notional=sum_in_order(pl.col("price") * pl.col("quantity")),
            avg_price=sum_in_order(pl.col("price")) / pl.len(),
            low_price=pl.col("price").min(),
            high_price=pl.col("price").max(),
        )
        .with_columns(vwap=pl.col("notional") / pl.col("total_volume"))
        .select(DAILY_VOLUME_COLUMNS)
        .sort(DAILY_VOLUME_ORDER)
    )


SYMBOLS_LISTED = 50
"""How many symbols a mart's materialization lists by name (all of them are counted)."""


def ohlcv_summary(candles: pl.DataFrame, intervals: Sequence[str]) -> dict:
    """A day's candles at a glance: how many per configured interval (``candles_1m``: one
    number per key, so the UI plots each over the partitions), and the symbols."""
    counts = dict(candles.group_by("interval").len().iter_rows())
    return {**{f"candles_{i}": counts.get(i, 0) for i in intervals}, **_symbols(candles)}


def daily_volume_summary(rows: pl.DataFrame) -> dict:
    """A day's volume at a glance: the symbols and the day's notional over all of them."""
    return {**_symbols(rows), "total_notional": float(rows["notional"].sum())}


def _symbols(frame: pl.DataFrame) -> dict:
    symbols = frame["symbol"].unique().sort()
    return {"symbols": symbols.len(), "symbol_list": symbols.head(SYMBOLS_LISTED).to_list()}


def trade_time_range(validated: pl.LazyFrame) -> tuple[datetime | None, datetime | None]:
    """The first and last trade time (UTC) of ``validated``; None for a day without trades.
    One column of the day's file: a cheap read beside the aggregation."""
    row = validated.select(pl.col("timestamp").min().alias("first"), pl.col("timestamp").max().alias("last"))
    return row.collect().row(0)
