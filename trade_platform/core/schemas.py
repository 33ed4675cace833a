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
_PUBLIC = {"classification": "public"}
_INTERNAL = {"classification": "internal"}
_PII = {"classification": "pii"}

# Every column has a description: the UI's Columns panel, the SQL tables and Glue show it.
_DATE = "partition day, UTC: the day of the trades' timestamp"
_LANDING_DAY = "partition day, UTC: the landing folder date=D the record was read from"
_TOKEN = "HMAC-SHA256 token (64 hex digits, keyed by the PII key) of the {} received; null: none received"
_PRICE = "price per unit, in the instrument's quote currency"


def _as_received(field: str, metadata: dict):
    return pa.Field(
        nullable=True,
        description=f"{field} as received, text (null: missing in the record)",
        metadata=metadata,
    )


def _source_file():
    return pa.Field(
        alias="_source_file",
        description="the landing file it came from, relative to the landing root",
        metadata=_INTERNAL,
    )


def _source_row(**checks):
    where = "its line in that file (CSV/JSONL: where the record starts) or its row (Parquet), from 1"
    unreadable = " (null: the whole file was unreadable)" if checks.get("nullable") else ""
    return pa.Field(alias="_source_row", description=where + unreadable, metadata=_INTERNAL, **checks)


def _from_kafka(alias: str, what: str):
    """Kafka provenance: only records consumed from Kafka carry it (``core.kafka``)."""
    return pa.Field(
        alias=alias, nullable=True, description=f"{what} (null: not from Kafka)", metadata=_INTERNAL
    )


class RawTrades(pa.DataFrameModel):
    """Every landed record as received (text), with provenance; unknown extra columns are kept."""

    trade_id: str = _as_received("trade id", _INTERNAL)
    symbol: str = _as_received("instrument symbol", _PUBLIC)
    side: str = _as_received("buy or sell, any case,", _INTERNAL)
    price: str = _as_received("price per unit", _INTERNAL)
    quantity: str = _as_received("units traded", _INTERNAL)
    timestamp: str = _as_received("trade time (ISO-8601 with any offset, or epoch)", _INTERNAL)
    exchange: str = _as_received("venue code", _PUBLIC)
    account_id: str = pa.Field(
        nullable=True,
        description="account identifier in clear, as received (PII; null: the file has none)",
        metadata=_PII,
    )
    trader_id: str = pa.Field(
        nullable=True,
        description="trader identifier in clear, as received (PII; null: the file has none)",
        metadata=_PII,
    )
    source_file: str = _source_file()
    source_row: pl.Int64 = _source_row(ge=1)
    raw_record: str = pa.Field(
        alias="_raw_record",
        nullable=True,
        description="the record as received, text (PII: may hold identifiers in clear)",
        metadata=_PII,
    )
    parse_error: str = pa.Field(
        alias="_parse_error",
        nullable=True,
        description="why the record could not be split into fields (null: it could)",
        metadata=_INTERNAL,
    )
    kafka_topic: str | None = _from_kafka("_kafka_topic", "the topic the message was read from")
    kafka_partition: pl.Int64 | None = _from_kafka("_kafka_partition", "the topic's partition number")
    kafka_offset: pl.Int64 | None = _from_kafka("_kafka_offset", "the message's offset in its partition")
    kafka_timestamp: KafkaTimestamp | None = pa.Field(
        alias="_kafka_timestamp",
        nullable=True,
        description="the message's Kafka timestamp, UTC, milliseconds (null: not from Kafka, no "
        "timestamp, or outside 1970-9999)",
        metadata=_INTERNAL,
    )
    date: pl.Date = pa.Field(description=_LANDING_DAY, metadata=_PUBLIC)

    class Config:
        name = "RawTrades"
        strict = False


class ValidatedTrades(pa.DataFrameModel):
    """Typed, normalized trades: one row per trade_id per day."""

    trade_id: str = pa.Field(description="trade id, trimmed; one row per id and day", metadata=_INTERNAL)
    symbol: str = pa.Field(
        str_matches=SYMBOL_PATTERN, description="instrument symbol, upper case", metadata=_PUBLIC
    )
    side: str = pa.Field(isin=list(SIDES), description="buy or sell, lower case", metadata=_INTERNAL)
    price: pl.Float64 = pa.Field(gt=0, description=f"{_PRICE}; finite, > 0", metadata=_INTERNAL)
    quantity: pl.Float64 = pa.Field(gt=0, description="units traded; finite, > 0", metadata=_INTERNAL)
    timestamp: UtcTimestamp = pa.Field(description="trade time, UTC, microseconds", metadata=_INTERNAL)
    exchange: str = pa.Field(
        str_matches=EXCHANGE_PATTERN, description="venue code, upper case", metadata=_PUBLIC
    )
    account_id: str = pa.Field(
        nullable=True, str_matches=TOKEN_PATTERN, description=_TOKEN.format("account_id"), metadata=_PII
    )
    trader_id: str = pa.Field(
        nullable=True, str_matches=TOKEN_PATTERN, description=_TOKEN.format("trader_id"), metadata=_PII
    )
    source_file: str = _source_file()
    source_row: pl.Int64 = _source_row(ge=1)
    date: pl.Date = pa.Field(description=_DATE, metadata=_PUBLIC)

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
        description="the record as received, text (PII: may hold identifiers in clear; null for a "
        "whole unreadable file)",
        metadata=_PII,
    )
    trade_id: str = pa.Field(
        nullable=True,
        description="trade id as received (null: missing, or the file was unreadable)",
        metadata=_INTERNAL,
    )
    error_codes: pl.List(pl.String) = pa.Field(
        description=f"every reason it was rejected, a subset of {', '.join(ALL_CODES)}", metadata=_INTERNAL
    )
    error: str = pa.Field(
        description="the reasons in words, one per code (PII: may quote the values received)", metadata=_PII
    )
    source_file: str = _source_file()
    source_row: pl.Int64 = _source_row(nullable=True)
    run_id: str = pa.Field(description="the Dagster run that rejected it", metadata=_INTERNAL)
    rejected_at: UtcTimestamp = pa.Field(
        description="when that run judged it, UTC, microseconds", metadata=_INTERNAL
    )
    date: pl.Date = pa.Field(
        description="partition day, UTC: the landing folder date=D it came from", metadata=_PUBLIC
    )

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

    symbol: str = pa.Field(description="instrument symbol", metadata=_PUBLIC)
    interval: str = pa.Field(
        description="candle length, a polars duration (1m, 5m, 1h: TRADE_PLATFORM_OHLCV_INTERVALS)",
        metadata=_PUBLIC,
    )
    timestamp: UtcTimestamp = pa.Field(
        description="bucket start, UTC, aligned to the interval (the bucket holds [start, start + interval))",
        metadata=_INTERNAL,
    )
    open: pl.Float64 = pa.Field(
        gt=0, description=f"first trade's {_PRICE} (by timestamp, then trade_id)", metadata=_INTERNAL
    )
    high: pl.Float64 = pa.Field(gt=0, description=f"highest {_PRICE}", metadata=_INTERNAL)
    low: pl.Float64 = pa.Field(gt=0, description=f"lowest {_PRICE}", metadata=_INTERNAL)
    close: pl.Float64 = pa.Field(
        gt=0, description=f"last trade's {_PRICE} (by timestamp, then trade_id)", metadata=_INTERNAL
    )
    volume: pl.Float64 = pa.Field(
        gt=0, description="units traded in the bucket (sum of quantity)", metadata=_INTERNAL
    )
    trade_count: pl.Int64 = pa.Field(ge=1, description="validated trades in the bucket", metadata=_INTERNAL)
    vwap: pl.Float64 = pa.Field(
        gt=0, description="volume-weighted average price: sum(price * quantity) / volume", metadata=_INTERNAL
    )
    date: pl.Date = pa.Field(description=_DATE, metadata=_PUBLIC)

    class Config:
        name = "Ohlcv"
        strict = True
        # One candle per (date, interval, symbol, timestamp) holds by construction and is
        # verified over the stored partition by the ``ohlcv_invariants`` check, as uniqueness is
        # for every asset: a big day streams in symbol passes, checked a batch at a time.


class DailyVolume(pa.DataFrameModel):
    """Per symbol and day: activity, volume and prices."""

    symbol: str = pa.Field(description="instrument symbol", metadata=_PUBLIC)
    trade_count: pl.Int64 = pa.Field(
        ge=1, description="validated trades of the symbol that day", metadata=_INTERNAL
    )
    total_volume: pl.Float64 = pa.Field(
        gt=0, description="units traded (sum of quantity)", metadata=_INTERNAL
    )
    notional: pl.Float64 = pa.Field(
        gt=0, description="traded value in the quote currency: sum(price * quantity)", metadata=_INTERNAL
    )
    vwap: pl.Float64 = pa.Field(
        gt=0, description="volume-weighted average price: notional / total_volume", metadata=_INTERNAL
    )
    avg_price: pl.Float64 = pa.Field(gt=0, description="mean trade price, unweighted", metadata=_INTERNAL)
    low_price: pl.Float64 = pa.Field(gt=0, description=f"lowest {_PRICE}", metadata=_INTERNAL)
    high_price: pl.Float64 = pa.Field(gt=0, description=f"highest {_PRICE}", metadata=_INTERNAL)
    date: pl.Date = pa.Field(description=_DATE, metadata=_PUBLIC)

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
