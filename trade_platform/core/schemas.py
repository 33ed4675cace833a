"""pandera models (polars backend) for every asset: the contract each output is checked against.

``dagster_types`` turns them into Dagster types, which run the check on every materialization
and show each asset's columns in the UI. Validation rules that route records to the DLQ live in
``core.validation``; these models are the backstop that no bad row got through.
"""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

from trade_platform.core import names
from trade_platform.core.dlq_codes import ALL_CODES
from trade_platform.core.pseudonymise import TOKEN_PATTERN
from trade_platform.core.validation import EXCHANGE_PATTERN, SIDES, SYMBOL_PATTERN

UtcTimestamp = Annotated[pl.Datetime, "us", "UTC"]
KafkaTimestamp = Annotated[pl.Datetime, "ms", "UTC"]
_KAFKA = {"classification": "internal"}


class RawTrades(pa.DataFrameModel):
    """Every landed record as received (text), with provenance; unknown extra columns are kept."""

    trade_id: str = pa.Field(nullable=True, metadata={"classification": "internal"})
    symbol: str = pa.Field(nullable=True, metadata={"classification": "public"})
    side: str = pa.Field(nullable=True, metadata={"classification": "internal"})
    price: str = pa.Field(nullable=True, metadata={"classification": "internal"})
    quantity: str = pa.Field(nullable=True, metadata={"classification": "internal"})
    timestamp: str = pa.Field(
        nullable=True,
        description="as received: ISO-8601 text or epoch",
        metadata={"classification": "internal"},
    )
    exchange: str = pa.Field(nullable=True, metadata={"classification": "public"})
    account_id: str = pa.Field(
        nullable=True, description="optional; as received", metadata={"classification": "pii"}
    )
    trader_id: str = pa.Field(
        nullable=True, description="optional; as received", metadata={"classification": "pii"}
    )
    source_file: str = pa.Field(
        alias="_source_file",
        description="path relative to the landing root",
        metadata={"classification": "internal"},
    )
    source_row: pl.Int64 = pa.Field(
        alias="_source_row",
        ge=1,
        description="line (CSV/JSONL) or row (Parquet)",
        metadata={"classification": "internal"},
    )
    raw_record: str = pa.Field(
        alias="_raw_record",
        nullable=True,
        description="the record as received",
        metadata={"classification": "pii"},
    )
    parse_error: str = pa.Field(
        alias="_parse_error",
        nullable=True,
        description="why it could not be split",
        metadata={"classification": "internal"},
    )
    # Kafka provenance: only records consumed from Kafka carry it (``streaming``).
    kafka_topic: str | None = pa.Field(alias="_kafka_topic", nullable=True, metadata=_KAFKA)
    kafka_partition: pl.Int64 | None = pa.Field(alias="_kafka_partition", nullable=True, metadata=_KAFKA)
    kafka_offset: pl.Int64 | None = pa.Field(alias="_kafka_offset", nullable=True, metadata=_KAFKA)
    kafka_timestamp: KafkaTimestamp | None = pa.Field(
        alias="_kafka_timestamp", nullable=True, description="the message's timestamp", metadata=_KAFKA
    )
    date: pl.Date = pa.Field(description="partition day (UTC)", metadata={"classification": "public"})

    class Config:
        name = "RawTrades"
        strict = False


class ValidatedTrades(pa.DataFrameModel):
    """Typed, normalized trades: one row per trade_id per day."""

    trade_id: str = pa.Field(metadata={"classification": "internal"})
    symbol: str = pa.Field(str_matches=SYMBOL_PATTERN, metadata={"classification": "public"})
    side: str = pa.Field(isin=list(SIDES), metadata={"classification": "internal"})
    price: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    quantity: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    timestamp: UtcTimestamp = pa.Field(metadata={"classification": "internal"})
    exchange: str = pa.Field(str_matches=EXCHANGE_PATTERN, metadata={"classification": "public"})
    account_id: str = pa.Field(
        nullable=True,
        str_matches=TOKEN_PATTERN,
        description="HMAC-SHA256 token of the account_id received (null: none)",
        metadata={"classification": "pii"},
    )
    trader_id: str = pa.Field(
        nullable=True,
        str_matches=TOKEN_PATTERN,
        description="HMAC-SHA256 token of the trader_id received (null: none)",
        metadata={"classification": "pii"},
    )
    source_file: str = pa.Field(alias="_source_file", metadata={"classification": "internal"})
    source_row: pl.Int64 = pa.Field(alias="_source_row", ge=1, metadata={"classification": "internal"})
    date: pl.Date = pa.Field(metadata={"classification": "public"})

    class Config:
        name = "ValidatedTrades"
        strict = True
        # One row per (date, trade_id) holds by construction (``split_trades``) and is verified
        # by the blocking ``unique_trade_id`` check over the stored partition. Not repeated here:
        # a streamed partition is checked a batch at a time, so a model-level ``unique`` could not
        # see a repeat across batches anyway, and on an in-memory day it was half pandera's cost.

    @pa.dataframe_check(description="price and quantity are finite")
    @classmethod
    def finite_numbers(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("price").is_finite() & pl.col("quantity").is_finite())

    @pa.dataframe_check(description="timestamp falls on the partition day")
    @classmethod
    def timestamp_in_partition(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("timestamp").dt.date() == pl.col("date"))


class TradesDlq(pa.DataFrameModel):
    """Rejected records with every reason, where they came from and which run rejected them."""

    raw_record: str = pa.Field(
        nullable=True,
        description="the record as received (null for unreadable files)",
        metadata={"classification": "pii"},
    )
    trade_id: str = pa.Field(nullable=True, metadata={"classification": "internal"})
    error_codes: pl.List(pl.String) = pa.Field(
        description=f"subset of {', '.join(ALL_CODES)}", metadata={"classification": "internal"}
    )
    error: str = pa.Field(metadata={"classification": "pii"})
    source_file: str = pa.Field(alias="_source_file", metadata={"classification": "internal"})
    source_row: pl.Int64 = pa.Field(
        alias="_source_row", nullable=True, metadata={"classification": "internal"}
    )
    run_id: str = pa.Field(metadata={"classification": "internal"})
    rejected_at: UtcTimestamp = pa.Field(metadata={"classification": "internal"})
    date: pl.Date = pa.Field(metadata={"classification": "public"})

    class Config:
        name = "TradesDlq"
        strict = True

    @pa.dataframe_check(description="every entry has at least one known code")
    @classmethod
    def known_codes(cls, data: pa.PolarsData) -> pl.LazyFrame:
        codes = pl.col("error_codes")
        return data.lazyframe.select(
            (codes.list.len() > 0) & codes.list.eval(pl.element().is_in(ALL_CODES)).list.all()
        )


class Ohlcv(pa.DataFrameModel):
    """Candles per symbol, interval and UTC-aligned bucket start."""

    symbol: str = pa.Field(metadata={"classification": "public"})
    interval: str = pa.Field(metadata={"classification": "public"})
    timestamp: UtcTimestamp = pa.Field(description="bucket start", metadata={"classification": "internal"})
    open: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    high: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    low: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    close: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    volume: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    trade_count: pl.Int64 = pa.Field(ge=1, metadata={"classification": "internal"})
    vwap: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    date: pl.Date = pa.Field(metadata={"classification": "public"})

    class Config:
        name = "Ohlcv"
        strict = True
        # One candle per (date, interval, symbol, timestamp) holds by construction and is
        # verified over the stored partition by the ``ohlcv_invariants`` check, as uniqueness is
        # for every asset: a big day streams in symbol passes, checked a batch at a time.


class DailyVolume(pa.DataFrameModel):
    """Per symbol and day: activity, volume and prices."""

    symbol: str = pa.Field(metadata={"classification": "public"})
    trade_count: pl.Int64 = pa.Field(ge=1, metadata={"classification": "internal"})
    total_volume: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    notional: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    vwap: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    avg_price: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    low_price: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    high_price: pl.Float64 = pa.Field(gt=0, metadata={"classification": "internal"})
    date: pl.Date = pa.Field(metadata={"classification": "public"})

    class Config:
        name = "DailyVolume"
        strict = True
        # One row per (date, symbol): verified by the ``daily_volume_totals`` check (see Ohlcv).


ASSET_MODELS: dict[str, type[pa.DataFrameModel]] = {
    names.RAW_TRADES: RawTrades,
    names.VALIDATED_TRADES: ValidatedTrades,
    names.TRADES_DLQ: TradesDlq,
    names.OHLCV: Ohlcv,
    names.DAILY_VOLUME: DailyVolume,
}
"""The model of each asset's stored partitions."""
