"""The record-at-a-time pipeline many teams start with: csv/pyarrow rows, a Pydantic model per
record, a dict of buckets for candles, pyarrow to write Parquet.

Written the way one would write it in earnest: one pass over the records, every rule in the
model's validators, and no work repeated.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from benchmarks.common import (
    EXCHANGE_PATTERN,
    INTERVAL_SECONDS,
    INTERVALS,
    NOW,
    RUN_ID,
    SYMBOL_PATTERN,
    TRADE_FIELDS,
    TRADE_ID_PATTERN,
    Stopwatch,
    landing_files,
)  # fmt: skip

TRADE_ID = re.compile(TRADE_ID_PATTERN)
SYMBOL = re.compile(SYMBOL_PATTERN)
EXCHANGE = re.compile(EXCHANGE_PATTERN)
NUMBER = re.compile(
    r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.ASCII | re.IGNORECASE
)
ISO_AWARE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})", re.ASCII
)
ISO_ZONELESS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?", re.ASCII)
EPOCH_SECONDS = re.compile(r"\d{10}(\.\d+)?", re.ASCII)
EPOCH_MILLIS = re.compile(r"\d{13}", re.ASCII)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fail(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


def parse_instant(text: str) -> datetime | None:
    iso = text.replace(" ", "T", 1)
    match = ISO_AWARE.fullmatch(iso)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        try:
            value = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=UTC)
        except ValueError:
            return None
        if int(hour) > 23 or int(minute) > 59 or int(second) > 60:
            return None
        value += timedelta(seconds=int(second), microseconds=int((fraction or "0")[:6].ljust(6, "0")))
        if zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            value -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return value
    if EPOCH_SECONDS.fullmatch(text):
        return EPOCH + timedelta(microseconds=int(float(text) * 1_000_000))
    if EPOCH_MILLIS.fullmatch(text):
        return EPOCH + timedelta(microseconds=int(float(text) * 1_000))
    return None


def number(text: str) -> float | None:
    return float(text) if NUMBER.fullmatch(text) else None


class Trade(BaseModel):
    """One record; each validator normalizes its field or raises the DLQ code as the error type.

    The validation context carries ``day`` (the partition) and ``now``.
    """

    # A field left out of the input (it was missing) keeps its default and is not validated.
    trade_id: str | None = None
    symbol: str | None = None
    side: str | None = None
    price: float | None = None
    quantity: float | None = None
    timestamp: datetime | None = None
    exchange: str | None = None

    @field_validator("trade_id", mode="plain")
    @classmethod
    def _trade_id(cls, value: str) -> str:
        if not TRADE_ID.fullmatch(value):
            raise fail("invalid_trade_id", f"trade_id '{value}' does not match ^{TRADE_ID_PATTERN}$")
        return value

    @field_validator("symbol", mode="plain")
    @classmethod
    def _symbol(cls, value: str) -> str:
        upper = value.strip().upper()
        if not SYMBOL.fullmatch(upper):
            raise fail("invalid_symbol", f"symbol '{value}' does not match ^{SYMBOL_PATTERN}$")
        return upper

    @field_validator("side", mode="plain")
    @classmethod
    def _side(cls, value: str) -> str:
        lower = value.strip().lower()
        if lower not in ("buy", "sell"):
            raise fail("invalid_side", f"side '{value}' is not buy or sell")
        return lower

    @field_validator("price", "quantity", mode="plain")
    @classmethod
    def _positive(cls, value: str, info: ValidationInfo) -> float:
        parsed = number(value.strip())
        if parsed is None or not (0 < parsed < float("inf")):
            raise fail(
                f"invalid_{info.field_name}", f"{info.field_name} '{value}' is not a finite number > 0"
            )
        return parsed

    @field_validator("timestamp", mode="plain")
    @classmethod
    def _timestamp(cls, value: str, info: ValidationInfo) -> datetime:
        text = value.strip()
        instant = parse_instant(text)
        if instant is None:
            if ISO_ZONELESS.fullmatch(text.replace(" ", "T", 1)):
                raise fail("timestamp_no_timezone", f"timestamp '{value}' has no timezone")
            raise fail("invalid_timestamp", f"timestamp '{value}' is not an ISO-8601 timestamp")
        codes = []
        if instant > info.context["now"]:
            codes.append("timestamp_in_future")
        start = info.context["day_start"]
        if not start <= instant < start + timedelta(days=1):
            codes.append("timestamp_outside_partition")
        if codes:  # one error can carry both codes
            raise fail("+".join(codes), f"timestamp '{value}' is in the future or outside the partition")
        return instant

    @field_validator("exchange", mode="plain")
    @classmethod
    def _exchange(cls, value: str) -> str:
        upper = value.strip().upper()
        if not EXCHANGE.fullmatch(upper):
            raise fail("invalid_exchange", f"exchange '{value}' does not match ^{EXCHANGE_PATTERN}$")
        return upper


def read_records(landing: str, day: date):
    """(source_file, source_row, fields dict or None, raw record, parse error) per record, in order."""
    for landing_file in landing_files(landing, day):
        if landing_file.path.endswith(".parquet"):
            for row_number, row in enumerate(pq.read_table(landing_file.path).to_pylist(), start=1):
                yield landing_file.relative_path, row_number, row, json.dumps(row), None
            continue
        with open(landing_file.path, newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            header = None
            for fields in reader:
                if not fields or not "".join(fields).strip():
                    continue
                line = ",".join(fields)
                if header is None:
                    header = [name.strip() for name in fields]
                    continue
                if len(fields) != len(header):
                    error = f"CSV row has {len(fields)} fields, header has {len(header)}"
                    yield landing_file.relative_path, reader.line_num, None, line, error
                else:
                    row = {
                        name: (value if value != "" else None)
                        for name, value in zip(header, fields, strict=True)
                    }
                    yield landing_file.relative_path, reader.line_num, row, line, None


def validate(landing: str, day: date) -> tuple[list[dict], list[dict]]:
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    context = {"now": NOW, "day_start": day_start}
    accepted_ids: set[str] = set()
    validated, rejected = [], []
    for source_file, source_row, row, raw, parse_error in read_records(landing, day):
        codes: list[str] = []
        trade = None
        trade_id = row.get("trade_id") if row else None
        if parse_error is not None:
            codes.append("malformed_record")
        else:
            missing = [name for name in TRADE_FIELDS if row.get(name) is None or not row[name].strip()]
            if missing:
                codes.append("missing_field")
            present = {name: row[name] for name in TRADE_FIELDS if name not in missing}
            try:
                trade = Trade.model_validate(present, context=context)
            except ValidationError as exc:
                codes.extend(
                    code for error in exc.errors(include_url=False) for code in error["type"].split("+")
                )
            if "trade_id" in present and trade_id in accepted_ids:
                codes.append("duplicate_trade_id")
        if codes:
            rejected.append(
                {
                    "raw_record": raw,
                    "trade_id": trade_id,
                    "error_codes": ordered(codes),
                    "_source_file": source_file,
                    "_source_row": source_row,
                    "date": day,
                }  # fmt: skip
            )
            continue
        accepted_ids.add(trade.trade_id)
        validated.append(
            {**trade.model_dump(), "_source_file": source_file, "_source_row": source_row, "date": day}
        )
    validated.sort(key=lambda t: (t["timestamp"], t["trade_id"]))
    return validated, rejected


def ordered(codes: list[str]) -> list[str]:
    from benchmarks.common import CODES

    return [code for code in CODES if code in codes]


def candles(validated: list[dict]) -> tuple[list[dict], list[dict]]:
    buckets: dict[tuple, dict[str, Any]] = {}
    daily: dict[tuple, dict[str, Any]] = {}
    for trade in validated:
        key = (trade["timestamp"], trade["trade_id"])
        price, quantity = trade["price"], trade["quantity"]
        seconds = int((trade["timestamp"] - EPOCH).total_seconds())
        for interval in INTERVALS:
            width = INTERVAL_SECONDS[interval]
            bucket = (trade["date"], interval, trade["symbol"], seconds - seconds % width)
            candle = buckets.get(bucket)
            if candle is None:
                buckets[bucket] = {
                    "open": price, "open_key": key, "high": price, "low": price, "close": price,
                    "close_key": key, "volume": quantity, "trade_count": 1, "notional": price * quantity,
                }  # fmt: skip
                continue
            if key < candle["open_key"]:
                candle["open"], candle["open_key"] = price, key
            if key > candle["close_key"]:
                candle["close"], candle["close_key"] = price, key
            candle["high"] = max(candle["high"], price)
            candle["low"] = min(candle["low"], price)
            candle["volume"] += quantity
            candle["trade_count"] += 1
            candle["notional"] += price * quantity
        day = daily.setdefault(
            (trade["date"], trade["symbol"]),
            {"n": 0, "q": 0.0, "pq": 0.0, "p": 0.0, "lo": price, "hi": price},
        )
        day["n"] += 1
        day["q"] += quantity
        day["pq"] += price * quantity
        day["p"] += price
        day["lo"] = min(day["lo"], price)
        day["hi"] = max(day["hi"], price)
    ohlcv = [
        {
            "symbol": symbol,
            "interval": interval,
            "timestamp": EPOCH + timedelta(seconds=start),
            "open": c["open"],
            "high": c["high"],
            "low": c["low"],
            "close": c["close"],
            "volume": c["volume"],
            "trade_count": c["trade_count"],
            "vwap": c["notional"] / c["volume"],
            "date": day,
        }  # fmt: skip
        for (day, interval, symbol, start), c in sorted(buckets.items(), key=lambda item: item[0])
    ]
    volume = [
        {
            "symbol": symbol,
            "trade_count": d["n"],
            "total_volume": d["q"],
            "notional": d["pq"],
            "vwap": d["pq"] / d["q"],
            "avg_price": d["p"] / d["n"],
            "low_price": d["lo"],
            "high_price": d["hi"],
            "date": day,
        }  # fmt: skip
        for (day, symbol), d in sorted(daily.items())
    ]
    return ohlcv, volume


def run(landing: str, day: date, out: Path) -> dict[str, float]:
    watch = Stopwatch()
    with watch("read+validate"):
        validated, rejected = validate(landing, day)
        for entry in rejected:
            entry.update(run_id=RUN_ID, rejected_at=NOW)
    with watch("marts"):
        ohlcv, volume = candles(validated)
    with watch("write"):
        for name, rows in (
            ("validated", validated),
            ("dlq", rejected),
            ("ohlcv", ohlcv),
            ("daily_volume", volume),
        ):
            pq.write_table(pa.Table.from_pylist(rows), out / f"{name}.parquet")
    return watch.stages
