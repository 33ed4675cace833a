"""Marts of a big day are computed in passes over groups of symbols (bounded memory): the
result must be the one-pass result to the bit, in the same row order."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from trade_platform.core import marts
from trade_platform.core.generate import generate_day
from trade_platform.core.landing.files import TRADE_FIELDS
from trade_platform.core.validation import split_trades

INTERVALS = ("1m", "5m", "1h")


@pytest.fixture(scope="module")
def validated() -> pl.DataFrame:
    day = date(2026, 11, 20)
    records = generate_day(day, 20_000, seed=11, n_symbols=9).records
    raw = records.select(pl.col(name).cast(pl.String) for name in TRADE_FIELDS).with_columns(
        _source_file=pl.lit("generated.csv"),
        _source_row=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
        _raw_record=pl.lit(None, pl.String),
        _parse_error=pl.lit(None, pl.String),
        date=pl.lit(day),
    )
    split = split_trades(raw, now=datetime.now(UTC), run_id="test")
    assert split.validated.height > 19_000 and split.validated["symbol"].n_unique() == 9
    return split.validated


@pytest.mark.parametrize("rows_per_pass", [2_500, 7_000])
def test_marts_in_symbol_passes_equal_one_pass(validated: pl.DataFrame, rows_per_pass: int):
    assert_frame_equal(
        marts.ohlcv(validated, INTERVALS, rows_per_pass=rows_per_pass),
        marts.ohlcv(validated, INTERVALS),
        check_exact=True,
    )
    assert_frame_equal(
        marts.daily_volume(validated, rows_per_pass=rows_per_pass),
        marts.daily_volume(validated),
        check_exact=True,
    )
    assert marts.daily_volume(validated)["trade_count"].sum() == validated.height


def test_sums_are_added_in_row_order():
    # 1e16 + 1.0 == 1e16 in float64: adding in row order loses every 1.0, while any pairwise or
    # per-thread order would keep some of them. Byte-identical re-runs rest on this order.
    frame = pl.DataFrame({"g": [0] * 100_001, "x": [1e16] + [1.0] * 100_000})
    ordered = frame.group_by("g").agg(s=marts.sum_in_order(pl.col("x")))["s"].item()
    assert ordered == frame["x"].cum_sum().item(-1) == 1e16
    assert frame["x"].sum() != ordered  # the plain sum does differ: the test can fail


def test_a_days_mart_summaries_count_candles_per_interval_symbols_notional_and_trade_times(validated):
    candles = marts.ohlcv(validated, INTERVALS)
    summary = marts.ohlcv_summary(candles, (*INTERVALS, "15m"))
    assert [summary[f"candles_{i}"] for i in INTERVALS] == [
        candles.filter(pl.col("interval") == i).height for i in INTERVALS
    ]
    assert summary["candles_15m"] == 0  # a configured interval without candles says so
    assert summary["candles_1m"] > summary["candles_5m"] > summary["candles_1h"] > 0
    symbols = sorted(validated["symbol"].unique())
    assert (summary["symbols"], summary["symbol_list"]) == (9, symbols)
    volume = marts.daily_volume_summary(marts.daily_volume(validated))
    assert volume["symbols"] == 9 and volume["symbol_list"] == symbols
    assert volume["total_notional"] == pytest.approx((validated["price"] * validated["quantity"]).sum())
    first, last = marts.trade_time_range(validated.lazy())
    assert (first, last) == (validated["timestamp"].min(), validated["timestamp"].max())
    assert first.tzinfo is not None
    assert marts.trade_time_range(validated.lazy().head(0)) == (None, None)
