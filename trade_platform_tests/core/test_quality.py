"""The checks' computations on tiny frames: each day judged alone, days without rows included."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from trade_platform.core.quality.columns import compare_columns
from trade_platform.core.quality.ingest import dlq_split, duplicated_trade_ids, price_ranges
from trade_platform.core.quality.marts import candle_reports, volume_reports
from trade_platform.core.quality.per_day import close, row_counts

D1, D2, EMPTY = "2024-03-01", "2024-03-02", "2024-03-03"
DAYS = [D1, D2, EMPTY]


def frame(rows: list[dict]) -> pl.LazyFrame:
    return pl.DataFrame(rows).with_columns(pl.col("date").str.to_date()).lazy()


def dlq_entries(*codes: list[str], day: str = D1) -> list[dict]:
    return [{"date": day, "error_codes": c} for c in codes]


def test_row_counts_name_every_day_asked_for():
    rows = frame([{"date": D1}, {"date": D1}, {"date": D2}])
    assert row_counts(rows, DAYS) == {D1: 2, D2: 1, EMPTY: 0}


def test_dlq_split_separates_records_from_unreadable_files_and_reconciles():
    raw = frame([{"date": D1}] * 4 + [{"date": D2}] * 2)
    validated = frame([{"date": D1}] * 2 + [{"date": D2}] * 2)
    dlq = frame(
        dlq_entries(["bad_price"], ["bad_price", "bad_side"], ["unreadable_file"])
        + dlq_entries(["unreadable_file"], day=D2)
    )
    split = dlq_split(raw, dlq, DAYS, validated=validated)
    assert (split[D1].dlq_records, split[D1].unreadable_files, split[D1].unaccounted_rows) == (2, 1, 0)
    assert split[D1].dlq_rate == 0.5
    assert split[D1].top_error_codes == {"bad_price": 2, "bad_side": 1, "unreadable_file": 1}
    assert (split[D2].dlq_records, split[D2].unaccounted_rows, split[D2].dlq_rate) == (0, 0, 0.0)
    assert split[EMPTY].raw_rows == split[EMPTY].unaccounted_rows == 0


def test_a_lost_or_extra_row_is_unaccounted_for():
    raw = frame([{"date": D1}] * 3)
    assert (
        dlq_split(raw, frame(dlq_entries(["x"])), [D1], validated=frame([{"date": D1}]))[D1].unaccounted_rows
        == 1
    )
    extra = frame([{"date": D1}] * 3)
    assert dlq_split(raw, frame(dlq_entries(["x"])), [D1], validated=extra)[D1].unaccounted_rows == -1


def test_a_day_whose_every_file_is_unreadable_has_lost_everything():
    split = dlq_split(frame([{"date": D2}]), frame(dlq_entries(["unreadable_file"])), [D1])
    assert split[D1].raw_rows == 0 and split[D1].dlq_rate == 1.0


def test_duplicated_trade_ids_are_found_per_day_most_copies_first():
    ids = ["A", "B", "A", "C", "B", "A"]
    validated = frame([{"date": D1, "trade_id": i} for i in ids] + [{"date": D2, "trade_id": "A"}])
    found = duplicated_trade_ids(validated, DAYS)
    assert found[D1].rows() == [("A", 3), ("B", 2)]
    assert found[D2].is_empty() and found[EMPTY].is_empty()


def test_price_range_names_the_worst_offenders_on_both_sides():
    prices = {"LOW1": 0.001, "LOW2": 0.0001, "OK": 10.0, "HIGH1": 1_000_000.0, "HIGH2": 5e6}
    validated = frame([{"date": D1, "trade_id": t, "price": p} for t, p in prices.items()])
    ranges = price_ranges(validated, DAYS)
    assert ranges[D1].out_of_range == 4
    assert list(ranges[D1].lowest_offenders) == ["LOW2", "LOW1"]
    assert list(ranges[D1].highest_offenders) == ["HIGH2", "HIGH1"]
    assert (ranges[D1].min_price, ranges[D1].max_price) == (0.0001, 5e6)
    assert ranges[D2].out_of_range == 0 and ranges[D2].min_price is None


MIDNIGHT = datetime(2024, 3, 1, tzinfo=UTC)


def trades(*quantities: float, day: str = D1, prices: tuple[float, ...] = ()) -> pl.LazyFrame:
    """Trades of symbol S at midnight of ``D1``, at price 10 unless ``prices`` are given."""
    prices = prices or (10.0,) * len(quantities)
    return frame([
        {"date": day, "symbol": "S", "price": p, "quantity": q, "timestamp": MIDNIGHT, "trade_id": f"T-{i}"}
        for i, (p, q) in enumerate(zip(prices, quantities, strict=True))
    ])  # fmt: skip


def candle(interval: str, trades: int, volume: float, **prices: float) -> dict:
    ohlc = {"open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0, "vwap": 10.0} | prices
    return {
        "date": D1,
        "interval": interval,
        "symbol": "S",
        "timestamp": MIDNIGHT,
        "trade_count": trades,
        "volume": volume,
    } | ohlc


def test_candles_that_add_up_pass():
    ohlcv = frame([candle("1m", 2, 3.0), candle("1h", 2, 3.0)])
    reports = candle_reports(ohlcv, trades(1.0, 2.0), ("1m", "1h"), DAYS)
    assert reports[D1].passed and reports[D1].trade_count_by_interval == {"1m": 2, "1h": 2}
    assert reports[EMPTY].passed  # no trades, no candles


def test_missing_unconfigured_broken_and_repeated_candles_fail():
    ohlcv = frame(
        [candle("1m", 2, 3.0), candle("1m", 2, 3.0), candle("5m", 4, 6.0, low=11.0), candle("2m", 2, 3.0)]
    )
    report = candle_reports(ohlcv, trades(1.0, 2.0), ("1m", "5m", "1h"), [D1])[D1]
    assert not report.passed
    assert report.duplicated_candles == 1 and report.bad_candles == 1
    assert set(report.disagreeing_intervals) == {"1m", "5m", "1h", "2m"}
    assert report.disagreeing_intervals["2m"] == "not a configured interval"


def test_a_day_with_trades_and_no_candles_fails():
    assert not candle_reports(
        frame([candle("1m", 1, 1.0)]).filter(pl.lit(False)), trades(1.0), ("1m",), [D1]
    )[D1].passed


@pytest.mark.parametrize(
    "tampered",
    [
        {"high": 100.0},  # still low <= open, close <= high, and the totals still add up
        {"open": 9.0, "close": 9.0, "low": 9.0},
        {"vwap": -1.0},
        {"timestamp": MIDNIGHT + timedelta(hours=3)},  # the candle moved: one missing, one extra
        {"symbol": "T"},  # another symbol's candle
    ],
)
def test_a_candle_that_differs_from_the_one_computed_again_fails(tampered):
    good = [candle("1m", 2, 3.0), candle("1h", 2, 3.0)]
    assert candle_reports(frame(good), trades(1.0, 2.0), ("1m", "1h"), [D1])[D1].passed
    report = candle_reports(frame([good[0] | tampered, good[1]]), trades(1.0, 2.0), ("1m", "1h"), [D1])[D1]
    assert not report.passed and report.differing_candles >= 1
    assert "'interval': '1m'" in report.differing_candle_examples[0]


def volume_row(symbol: str = "S", **changes) -> dict:
    row = {"date": D1, "symbol": symbol, "trade_count": 2, "total_volume": 3.0, "notional": 30.0}
    return row | {"low_price": 10.0, "high_price": 10.0, "vwap": 10.0, "avg_price": 10.0} | changes


def test_daily_volume_that_agrees_passes_and_each_disagreement_is_named():
    assert volume_reports(frame([volume_row()]), trades(1.0, 2.0), DAYS)[D1].passed
    wrong = volume_reports(frame([volume_row(trade_count=3), volume_row("T")]), trades(1.0, 2.0), [D1])[D1]
    assert not wrong.passed and wrong.disagreeing["symbol"].to_list() == ["S", "T"]  # T has no trades
    repeated = volume_reports(frame([volume_row(), volume_row()]), trades(1.0, 2.0), [D1])[D1]
    assert not repeated.passed and repeated.rows_repeating_a_symbol == 2
    outside = volume_reports(frame([volume_row(vwap=12.0)]), trades(1.0, 2.0), [D1])[D1]
    assert not outside.passed
    # Prices 10 and 20: mean 15, vwap 17.5; a wrong mean or vwap inside low..high fails too.
    spread = trades(1.0, 3.0, prices=(10.0, 20.0))
    right = volume_row(trade_count=2, total_volume=4.0, notional=70.0, low_price=10.0, high_price=20.0)
    assert volume_reports(frame([right | {"vwap": 17.5, "avg_price": 15.0}]), spread, [D1])[D1].passed
    for wrong_field in ({"vwap": 10.0, "avg_price": 15.0}, {"vwap": 17.5, "avg_price": 20.0}):
        assert not volume_reports(frame([right | wrong_field]), spread, [D1])[D1].passed


@pytest.mark.parametrize(
    ("stored", "added", "removed", "retyped", "breaking"),
    [
        ({"a": "String", "b": "Float64"}, [], [], {}, False),
        ({"a": "String", "b": "Float64", "c": "Int64"}, ["c: Int64"], [], {}, False),
        ({"a": "String"}, [], ["b: Float64"], {}, True),
        ({"a": "String", "b": "String"}, [], [], {"b": "Float64 -> String"}, True),
    ],
)
def test_column_differences(stored, added, removed, retyped, breaking):
    diff = compare_columns({"a": "String", "b": "Float64"}, stored)
    assert (diff.added, diff.removed, diff.retyped, diff.breaking) == (added, removed, retyped, breaking)


def test_close_is_relative_for_large_numbers_and_absolute_near_zero():
    assert close(1e12, 1e12 + 1) and not close(1e12, 1e12 + 1e4)
    assert close(0.0, 1e-10) and not close(0.0, 1e-8)


def test_an_optional_declared_column_may_be_absent_but_not_retyped():
    declared = {"a": "String", "_kafka_offset": "Int64"}
    assert not compare_columns(declared, {"a": "String"}, optional={"_kafka_offset"}).breaking
    assert compare_columns(declared, {"a": "String"}).removed == ["_kafka_offset: Int64"]
    retyped = compare_columns(
        declared, {"a": "String", "_kafka_offset": "String"}, optional={"_kafka_offset"}
    )
    assert retyped.retyped == {"_kafka_offset": "Int64 -> String"}
