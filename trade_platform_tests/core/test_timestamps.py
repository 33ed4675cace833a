"""Clock fields in range: hours 00-23, minutes and seconds 00-59, in every accepted ISO form."""

from datetime import UTC, date, datetime

import polars as pl
import pytest

from trade_platform.core.landing.files import TRADE_FIELDS
from trade_platform.core.timestamps import canonical_instant, parse_timestamp
from trade_platform.core.validation import split_trades

DAY = date(2026, 11, 20)


def codes(stamp: str) -> list[str]:
    """The DLQ codes of one otherwise clean trade stamped ``stamp`` (none: it was validated)."""
    trade = {"trade_id": "T1", "symbol": "ABC", "side": "buy", "price": "10", "quantity": "1"}
    raw = pl.DataFrame([trade | {"timestamp": stamp, "exchange": "XNAS"}]).select(TRADE_FIELDS)
    raw = raw.with_columns(
        _source_file=pl.lit("t.csv"),
        _source_row=pl.lit(1, pl.Int64),
        _raw_record=pl.lit(None, pl.String),
        _parse_error=pl.lit(None, pl.String),
        date=pl.lit(DAY),
    )
    split = split_trades(raw, now=datetime(2026, 11, 21, 12, tzinfo=UTC), run_id="test")
    return split.dlq["error_codes"].item().to_list() if split.dlq.height else []


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-20T10:00:60Z",
        "2026-11-20T10:00:60.5Z",
        "2026-11-20T10:00:60.000000001Z",
        "2026-11-20T23:59:60+00:00",
        "2026-11-20 10:00:60+0100",
        "2026-11-20T10:60:00Z",
        "2026-11-20T10:60Z",
        "2026-11-20T24:00:00Z",
        "2026-11-20T24:00Z",
        "2026-11-20T10:00:99Z",
        "2026-11-20T10:00:60",  # not even a zoneless timestamp
    ],
)
def test_a_clock_field_out_of_range_is_an_invalid_timestamp(stamp: str):
    assert codes(stamp) == ["invalid_timestamp"]


@pytest.mark.parametrize(
    "stamp",
    ["2026-11-20T10:00:59.999999Z", "2026-11-20T23:59:59+00:00", "2026-11-20T00:00Z", "1795168860"],
)
def test_the_last_second_of_a_minute_and_epochs_are_accepted(stamp: str):
    assert codes(stamp) == []


def test_both_parsers_agree_that_a_60th_second_is_no_instant():
    text = pl.col("t")
    stamps = pl.DataFrame({"t": ["2026-11-20T10:00:60Z", "2026-11-20T10:00:60.5Z"]})
    instant, zoneless = parse_timestamp(text)
    parsed = stamps.select(instant=instant, zoneless=zoneless, canonical=canonical_instant(text))
    assert parsed.null_count().row(0) == (2, 0, 2) and not parsed["zoneless"].any()
