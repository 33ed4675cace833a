"""Vectorized, idiomatic pandas 2 with pyarrow-backed strings: the same rules as column operations."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks.common import (
    EXCHANGE_PATTERN,
    INTERVALS,
    NOW,
    RUN_ID,
    SYMBOL_PATTERN,
    TRADE_FIELDS,
    TRADE_ID_PATTERN,
    Stopwatch,
    landing_files,
)  # fmt: skip

STRING = pd.ArrowDtype(pa.string())
UTC_MICROS = pd.ArrowDtype(pa.timestamp("us", tz="UTC"))
FREQ = {"1m": "1min", "5m": "5min", "1h": "1h"}


def read_csv_file(path: str, relative: str) -> pd.DataFrame:
    lines = pd.read_csv(
        path, sep="\x1f", header=None, names=["_raw_record"], dtype=STRING, quoting=csv.QUOTE_NONE,
        skip_blank_lines=False, keep_default_na=False, engine="c",
    )  # fmt: skip
    lines["_source_row"] = np.arange(1, len(lines) + 1)
    lines = lines[lines["_raw_record"].fillna("").str.strip() != ""]
    header = [name.strip() for name in lines["_raw_record"].iloc[0].split(",")]
    body = lines.iloc[1:].copy()
    n_fields = body["_raw_record"].str.count(",") + 1
    good = n_fields == len(header)
    fields = body["_raw_record"].str.split(",", n=len(header) - 1, expand=True)
    fields.columns = header[: fields.shape[1]]
    fields = fields.reindex(columns=header)  # a file whose lines are all short still has every column
    fields = fields.mask(~good, axis=0).replace("", None)
    body = pd.concat([body, fields], axis=1)
    body["_parse_error"] = pd.Series(
        np.where(good, None, "CSV row has " + n_fields.astype(str) + f" fields, header has {len(header)}"),
        index=body.index, dtype=STRING,
    )  # fmt: skip
    body["_source_file"] = relative
    return body


def read_parquet_file(path: str, relative: str) -> pd.DataFrame:
    frame = pd.read_parquet(path).astype(STRING)
    frame["_raw_record"] = frame.to_json(orient="records", lines=True).splitlines()
    frame["_source_row"] = np.arange(1, len(frame) + 1)
    frame["_parse_error"] = pd.Series(None, index=frame.index, dtype=STRING)
    frame["_source_file"] = relative
    return frame


def read(landing: str, day: date) -> pd.DataFrame:
    frames = [
        read_parquet_file(f.path, f.relative_path)
        if f.path.endswith(".parquet")
        else read_csv_file(f.path, f.relative_path)
        for f in landing_files(landing, day)
    ]
    raw = pd.concat(frames, ignore_index=True)
    for name in TRADE_FIELDS:
        raw[name] = raw[name].astype(STRING)
    return raw.sort_values(["_source_file", "_source_row"], ignore_index=True)


def to_instant(iso: pd.Series) -> pd.Series:
    """ISO-8601 text with a zone as UTC microseconds (pandas' own datetime64[ns] ends in 2262)."""
    try:
        return iso.astype(UTC_MICROS)
    except (pa.ArrowInvalid, ValueError):  # an impossible date such as month 13: element by element

        def one(value):
            try:
                return pd.Series([value], dtype=STRING).astype(UTC_MICROS).iloc[0]
            except (pa.ArrowInvalid, ValueError):
                return None

        return pd.Series([one(v) if pd.notna(v) else None for v in iso], index=iso.index, dtype=UTC_MICROS)


def to_float(text: pd.Series) -> pd.Series:
    """Decimal text as float64, correctly rounded (pyarrow's cast; ``pd.to_numeric`` is not)."""
    number = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
    valid = text.str.fullmatch(number).fillna(False)
    return text.where(valid).astype(pd.ArrowDtype(pa.float64())).astype("float64")


def parse_instant(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    iso = text.str.replace(" ", "T", n=1, regex=False)
    aware_shape = iso.str.fullmatch(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})"
    ).fillna(False)
    instant = to_instant(iso.where(aware_shape))
    seconds = text.str.fullmatch(r"\d{10}(\.\d+)?").fillna(False)
    millis = text.str.fullmatch(r"\d{13}").fillna(False)
    as_float = to_float(text.where(seconds | millis))
    epoch_micros = np.where(seconds, as_float * 1e6, as_float * 1e3)
    epoch = pd.Series(epoch_micros, index=text.index).where(seconds | millis).astype("Int64")
    instant = instant.fillna(epoch.astype(pd.ArrowDtype(pa.int64())).astype(UTC_MICROS))
    zoneless = instant.isna() & iso.str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?").fillna(
        False
    )
    return instant, zoneless


def validate(raw: pd.DataFrame, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    t = {name: raw[name].str.strip() for name in TRADE_FIELDS}
    malformed = raw["_parse_error"].notna()
    missing = {name: ~malformed & (t[name].isna() | (t[name] == "")).fillna(True) for name in TRADE_FIELDS}
    present = {name: ~malformed & ~flag for name, flag in missing.items()}
    symbol, exchange, side = t["symbol"].str.upper(), t["exchange"].str.upper(), t["side"].str.lower()
    price, quantity = to_float(t["price"]), to_float(t["quantity"])
    instant, zoneless = parse_instant(t["timestamp"])
    start = pd.Timestamp(day, tz="UTC")
    has_time = present["timestamp"] & instant.notna()
    positive = lambda x: x.notna() & np.isfinite(x.fillna(0)) & (x > 0)  # noqa: E731
    flags = pd.DataFrame(
        {
            "malformed_record": malformed,
            "missing_field": pd.concat(missing, axis=1).any(axis=1),
            "invalid_trade_id": present["trade_id"]
            & ~raw["trade_id"].str.fullmatch(TRADE_ID_PATTERN).fillna(False),
            "invalid_symbol": present["symbol"] & ~symbol.str.fullmatch(SYMBOL_PATTERN).fillna(False),
            "invalid_side": present["side"] & ~side.isin(["buy", "sell"]).fillna(False),
            "invalid_price": present["price"] & ~positive(price),
            "invalid_quantity": present["quantity"] & ~positive(quantity),
            "invalid_timestamp": present["timestamp"] & instant.isna() & ~zoneless,
            "timestamp_no_timezone": present["timestamp"] & zoneless,
            "timestamp_in_future": has_time & (instant > pd.Timestamp(NOW)).fillna(False),
            "timestamp_outside_partition": has_time
            & ((instant < start) | (instant >= start + pd.Timedelta(days=1))).fillna(False),
            "invalid_exchange": present["exchange"] & ~exchange.str.fullmatch(EXCHANGE_PATTERN).fillna(False),
        }
    ).astype(bool)
    clean = ~flags.any(axis=1)
    first_clean = raw.index.to_series().where(clean).groupby(raw["trade_id"]).transform("min")
    flags["duplicate_trade_id"] = (
        present["trade_id"] & first_clean.notna() & (raw.index.to_series() > first_clean)
    ).astype(bool)
    accepted = clean & ~flags["duplicate_trade_id"]
    validated = pd.DataFrame(
        {
            "trade_id": raw["trade_id"],
            "symbol": symbol,
            "side": side,
            "price": price,
            "quantity": quantity,
            "timestamp": instant,
            "exchange": exchange,
            "_source_file": raw["_source_file"],
            "_source_row": raw["_source_row"],
        }  # fmt: skip
    )[accepted].sort_values(["timestamp", "trade_id"], ignore_index=True)
    validated["date"] = day
    bad = flags[~accepted]
    codes = bad.apply(lambda column: np.where(column, column.name, None)).to_numpy()
    dlq = raw.loc[~accepted, ["_raw_record", "trade_id", "_source_file", "_source_row"]].rename(
        columns={"_raw_record": "raw_record"}
    )
    dlq["error_codes"] = [[code for code in row if code is not None] for row in codes]
    dlq["run_id"], dlq["rejected_at"], dlq["date"] = RUN_ID, NOW, day
    return validated, dlq.reset_index(drop=True)


def marts(validated: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    ordered = validated.sort_values(["symbol", "timestamp", "trade_id"])
    ordered = ordered.assign(notional=ordered["price"] * ordered["quantity"])
    candles = []
    for interval in INTERVALS:
        grouped = ordered.groupby(["symbol", ordered["timestamp"].dt.floor(FREQ[interval])], sort=True)
        candle = grouped.agg(
            open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
            volume=("quantity", "sum"), trade_count=("price", "size"), notional=("notional", "sum"),
        ).reset_index()  # fmt: skip
        candle["vwap"] = candle.pop("notional") / candle["volume"]
        candle["interval"] = interval
        candles.append(candle)
    ohlcv = pd.concat(candles, ignore_index=True).sort_values(
        ["interval", "symbol", "timestamp"], ignore_index=True
    )
    ohlcv["date"] = validated["date"].iloc[0] if len(validated) else None
    daily = ordered.groupby("symbol", sort=True).agg(
        trade_count=("price", "size"), total_volume=("quantity", "sum"), notional=("notional", "sum"),
        avg_price=("price", "mean"), low_price=("price", "min"), high_price=("price", "max"),
    ).reset_index()  # fmt: skip
    daily["vwap"] = daily["notional"] / daily["total_volume"]
    daily["date"] = validated["date"].iloc[0] if len(validated) else None
    return ohlcv, daily


def run(landing: str, day: date, out: Path) -> dict[str, float]:
    watch = Stopwatch()
    with watch("read"):
        raw = read(landing, day)
    with watch("validate"):
        validated, dlq = validate(raw, day)
    with watch("marts"):
        ohlcv, daily = marts(validated)
    with watch("write"):
        for name, frame in (
            ("validated", validated),
            ("dlq", dlq),
            ("ohlcv", ohlcv),
            ("daily_volume", daily),
        ):
            frame.to_parquet(out / f"{name}.parquet", index=False)
    return watch.stages
