"""Follow one trade_id through the lake: where each record with that id came from, what
validation made of it, which corrections name it, and the candles and daily-volume row it is in.

A record is one landed line or row, keyed by ``(date, _source_file, _source_row)`` in every
table, so the record's raw, validated and DLQ rows are found by key, not by id: a correction
that fixed a bad trade_id still leads from the validated id back to what was received. Values
are shown as stored (pseudonymised columns stay tokens). With a day, only that day's partition
files are read; without one, every partition of the three trade tables is scanned for the id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl
from upath import UPath

from trade_platform.core.corrections import KEYS as CORRECTION_KEYS
from trade_platform.core.lake_layout import PARTITION_COLUMN, partition_file
from trade_platform.core.landing.files import CORRECTIONS, read_landing_files
from trade_platform.core.landing.listing import list_landing_files
from trade_platform.core.names import DAILY_VOLUME, OHLCV, RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.sql_tables import Catalog, QueryError, query_errors
from trade_platform.core.storage import StorageError, polars_storage_options, storage_errors

if TYPE_CHECKING:
    from trade_platform.core.iceberg.catalog import IcebergTables

KEY = [PARTITION_COLUMN, "_source_file", "_source_row"]
KAFKA = ["_kafka_topic", "_kafka_partition", "_kafka_offset", "_kafka_timestamp"]
LAKE_ONLY = [PARTITION_COLUMN, "_source_file", "_source_row", "_raw_record", "_parse_error", *KAFKA]


class TraceError(Exception):
    """The lake or landing zone could not be read; the message names what."""


@dataclass
class TracedRecord:
    """One record with the traced id, as each table holds it (None: that table has no row)."""

    day: date
    source_file: str
    source_row: int | None
    kafka: dict[str, Any] | None
    raw: dict[str, Any] | None
    validated: dict[str, Any] | None = None
    dead_letter: dict[str, Any] | None = None
    corrections: list[dict[str, Any]] = field(default_factory=list)
    candles: list[dict[str, Any]] = field(default_factory=list)
    daily_volume: dict[str, Any] | None = None

    @property
    def outcome(self) -> str:
        if self.validated is not None:
            return "validated"
        return "dead-lettered" if self.dead_letter is not None else "not in validated_trades or trades_dlq"


def trace(
    lake_url: str | IcebergTables, landing_url: str | None, trade_id: str, day: date | None = None
) -> list[TracedRecord]:
    """Every record of ``trade_id`` in the lake (its Parquet folders, or its Iceberg tables) of
    ``day`` only, when given, in day, file and row order; ``landing_url``'s corrections folders
    are read for the corrections naming them."""
    if isinstance(lake_url, str):
        with _reading(lake_url):
            if not UPath(lake_url).is_dir():  # a mistyped lake is not a trade never seen
                raise TraceError(f"no lake at {lake_url}: not a folder, or nothing stored under it")
    wanted = trade_id.strip()
    received = pl.col("trade_id").str.strip_chars() == wanted
    raw = _matching(lake_url, RAW_TRADES, day, received)
    validated = _matching(lake_url, VALIDATED_TRADES, day, pl.col("trade_id") == wanted)
    dlq = _matching(lake_url, TRADES_DLQ, day, received)
    keys = pl.concat([frame.select(KEY) for frame in (raw, validated, dlq)]).unique().sort(KEY)
    if keys.is_empty():
        return []
    # A validated id may have been received as another (corrected) id: fetch those raw rows too.
    raw = _by_key(lake_url, RAW_TRADES, keys, raw)
    dlq = _by_key(lake_url, TRADES_DLQ, keys, dlq)
    records = []
    for key in keys.iter_rows(named=True):
        raw_row = _row(raw, key)
        kafka = {
            name.removeprefix("_kafka_"): raw_row[name]
            for name in KAFKA
            if raw_row and raw_row.get(name) is not None
        }
        record = TracedRecord(
            day=key[PARTITION_COLUMN],
            source_file=key["_source_file"],
            source_row=key["_source_row"],
            kafka=kafka or None,
            raw={k: v for k, v in raw_row.items() if k not in LAKE_ONLY} if raw_row else None,
            validated=_strip(_row(validated, key)),
            dead_letter=_strip(_row(dlq, key)),
        )
        records.append(record)
    for day_of in sorted({record.day for record in records}):
        of_day = [record for record in records if record.day == day_of]
        if landing_url is not None:
            _add_corrections(landing_url, day_of, of_day)
        _add_marts(lake_url, day_of, of_day)
    return records


def _day_scan(lake_url: str | IcebergTables, asset: str, day: date | None) -> pl.LazyFrame | None:
    """The asset's partition of ``day`` (every partition without one); None: nothing stored."""
    if not isinstance(lake_url, str):
        with _reading(f"{lake_url} {asset}"):
            return _table_scan(lake_url, asset, day)
    if day is None:
        with _reading(f"{lake_url} {asset}"):
            return Catalog.open(lake_url, f"SELECT * FROM {asset}").tables.get(asset)
    path = partition_file(UPath(lake_url) / asset, day)
    with _reading(str(path)):
        if not path.exists():
            return None
    scan = pl.scan_parquet(str(path), storage_options=polars_storage_options(path))
    return scan.with_columns(pl.lit(day).alias(PARTITION_COLUMN))


def _table_scan(tables: IcebergTables, asset: str, day: date | None) -> pl.LazyFrame | None:
    from trade_platform.core.iceberg.reads import scan_as_of, scan_days

    table = tables.existing(asset)
    if table is None:
        return None
    return scan_as_of(table, asset, None) if day is None else scan_days(table, asset, [day.isoformat()])


def _matching(
    lake_url: str | IcebergTables, asset: str, day: date | None, condition: pl.Expr
) -> pl.DataFrame:
    scan = _day_scan(lake_url, asset, day)
    if scan is None:
        return pl.DataFrame(
            schema={PARTITION_COLUMN: pl.Date, "_source_file": pl.String, "_source_row": pl.Int64}
        )
    with _reading(f"{lake_url} {asset}"):
        return scan.filter(condition).collect()


def _by_key(
    lake_url: str | IcebergTables, asset: str, keys: pl.DataFrame, found: pl.DataFrame
) -> pl.DataFrame:
    """``found`` and the rows of ``keys`` it misses, read from each key's day."""
    missing = keys.join(found.select(KEY), on=KEY, how="anti")
    frames = [found]
    for (day_of,), of_day in missing.group_by(PARTITION_COLUMN):
        scan = _day_scan(lake_url, asset, day_of)
        if scan is not None:
            with _reading(f"{lake_url} {asset}"):
                frames.append(scan.join(of_day.lazy(), on=KEY, how="semi").collect())
    return pl.concat(frames, how="diagonal_relaxed")


def _row(frame: pl.DataFrame, key: dict[str, Any]) -> dict[str, Any] | None:
    if frame.is_empty():
        return None
    match = frame.filter(*(pl.col(name) == value for name, value in key.items()))
    return match.row(0, named=True) if match.height else None


def _strip(row: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in row.items() if k not in KEY} if row else None


def _add_corrections(landing_url: str, day: date, records: list[TracedRecord]) -> None:
    """Each corrections file row that names one of ``records`` (its fields to replace)."""
    with _reading(landing_url):
        files = list_landing_files(landing_url, day.isoformat(), CORRECTIONS)
    read = read_landing_files(files).records
    if read.is_empty() or not set(CORRECTION_KEYS) <= set(read.columns):
        return
    for record in records:
        named = read.filter(
            pl.col("source_file").str.strip_chars() == record.source_file,
            pl.col("source_row").str.strip_chars().cast(pl.Int64, strict=False) == record.source_row,
        )
        for row in named.iter_rows(named=True):
            fields = {k: v for k, v in row.items() if v not in (None, "") and not k.startswith("_")}
            record.corrections.append({"file": row["_source_file"], "row": row["_source_row"], **fields})


def _add_marts(lake_url: str | IcebergTables, day: date, records: list[TracedRecord]) -> None:
    """The candles (every interval) and daily-volume row of each validated record's symbol."""
    validated = [record for record in records if record.validated is not None]
    if not validated:
        return
    candles, volume = _day_scan(lake_url, OHLCV, day), _day_scan(lake_url, DAILY_VOLUME, day)
    for record in validated:
        symbol, at = record.validated["symbol"], record.validated["timestamp"]
        if candles is not None:
            with _reading(f"{lake_url} {OHLCV}"):
                record.candles = (
                    candles.filter(
                        pl.col("symbol") == symbol,
                        pl.col("timestamp")
                        == pl.lit(at, pl.Datetime("us", "UTC")).dt.truncate(pl.col("interval")),
                    )
                    .drop(PARTITION_COLUMN)
                    .collect()
                    .to_dicts()
                )
        if volume is not None:
            with _reading(f"{lake_url} {DAILY_VOLUME}"):
                rows = volume.filter(pl.col("symbol") == symbol).drop(PARTITION_COLUMN).collect().to_dicts()
            record.daily_volume = rows[0] if rows else None


@contextmanager
def _reading(what: str) -> Iterator[None]:
    """Any failure to list or read (storage, a corrupt file) names ``what`` was being read."""
    try:
        with query_errors(), storage_errors("read", what):
            yield
    except (StorageError, QueryError) as exc:
        raise TraceError(str(exc) if what in str(exc) else f"Cannot read {what}: {exc}") from None
