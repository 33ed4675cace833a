"""Parquet landing files as raw records, a row batch at a time, every value as text.

Columns are stored under ``columns.column_names``; zoned timestamps become UTC text, binary
``0x`` hex, durations ISO 8601, nested values JSON (a nested trade or identifying field makes
the record malformed). Any error pyarrow raises on the bytes is corruption: the file is unreadable.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from trade_platform.core.landing.columns import (
    LANDING_FIELDS,
    UnreadableFileError,
    column_names,
    kept_columns,
)
from trade_platform.core.storage import storage_errors

T = TypeVar("T")


def parquet_chunks(url: str, rows: int) -> Iterator[pl.DataFrame]:
    """Row batches of a Parquet file; any error pyarrow raises on the (local) bytes is corruption."""
    with _local_copy(url) as path:
        batches = _corrupt_parquet_unreadable(lambda: pq.ParquetFile(path).iter_batches(batch_size=rows))
        offset = 0
        while (batch := _corrupt_parquet_unreadable(lambda: next(batches, None))) is not None:
            table = pl.from_arrow(_polars_ready(batch))
            yield _parquet_records(table, offset)
            offset += table.height


def _polars_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch under the stored column names (``column_names``; the last of a repeated name
    counts), with zoned timestamps in UTC: polars rejects fixed offsets such as ``+05:30``."""
    names = column_names(batch.schema.names)
    columns = []
    for position, name in kept_columns(names):
        column, kind = batch.column(position), batch.schema.field(position).type
        if pa.types.is_timestamp(kind) and kind.tz:
            column = column.cast(pa.timestamp(kind.unit, "UTC"))
        columns.append((name, column))
    return pa.RecordBatch.from_arrays([c for _, c in columns], names=[n for n, _ in columns])


def _corrupt_parquet_unreadable(read: Callable[[], T]) -> T:
    """Run a pyarrow read of local bytes: any error it raises is the file's (corrupt) content."""
    try:
        return read()
    except Exception as exc:  # pyarrow raises several error types for corrupt files
        raise UnreadableFileError(f"corrupt Parquet: {str(exc).splitlines()[0]}") from exc


@contextmanager
def _local_copy(url: str) -> Iterator[str]:
    """A local path to the file: itself, or a temporary download of a remote object, so that
    storage errors (raised here, naming the URL) are never mistaken for corrupt content."""
    fs, path = url_to_fs(url)
    if "file" in fs.protocol:
        with storage_errors("read", url):
            fs.info(path)  # missing or unreadable: a storage fault, not corrupt content
        yield path
        return
    with tempfile.NamedTemporaryFile(suffix=".parquet") as local:
        with storage_errors("read", url):
            fs.get_file(path, local.name)
        yield local.name


def _parquet_records(table: pl.DataFrame, offset: int) -> pl.DataFrame:
    # A landing field holding a list or struct cannot be a value: that record is malformed.
    nested = [name for name, dtype in table.schema.items() if name in LANDING_FIELDS and dtype.is_nested()]
    parse_error = pl.lit(None, pl.String)
    if nested:
        names = (
            pl.concat_list([pl.when(pl.col(name).is_not_null()).then(pl.lit(name)) for name in nested])
            .list.drop_nulls()
            .list.join(", ")
        )
        parse_error = pl.when(names != "").then(pl.format("nested value in field(s): {}", names))
    as_json = [
        pl.col(name)
        if dtype.is_nested() or dtype.is_numeric() or dtype in JSON_TYPES
        else _as_text(name, dtype)
        for name, dtype in table.schema.items()
    ]
    raw_record = pl.struct(as_json).struct.json_encode() if table.width else pl.lit("{}")
    with_provenance = table.with_row_index("_source_row", offset=offset + 1).with_columns(
        pl.col("_source_row").cast(pl.Int64), _raw_record=raw_record, _parse_error=parse_error
    )
    return with_provenance.select(
        "_source_row",
        "_raw_record",
        "_parse_error",
        *(_as_text(name, dtype, nested=name in nested) for name, dtype in table.schema.items()),
    )


JSON_TYPES = (pl.String, pl.Boolean, pl.Null, pl.Date, pl.Datetime)
"""Types whose values go into ``_raw_record`` as they are; others (binary, durations) as text."""


def _as_text(name: str, dtype: pl.DataType, *, nested: bool = False) -> pl.Expr:
    """A Parquet column as text: tz-aware timestamps keep their offset, naive ones get none."""
    column = pl.col(name)
    if nested:  # the whole record is kept in _raw_record
        return pl.lit(None, pl.String).alias(name)
    if dtype.is_nested():  # bare JSON of the value: cut the {"<name>": ...} wrapper
        prefix = len(json.dumps(name, ensure_ascii=False)) + 2
        return pl.struct(column).struct.json_encode().str.slice(prefix).str.head(-1).alias(name)
    if isinstance(dtype, pl.Datetime):
        fmt = "%Y-%m-%dT%H:%M:%S%.f%:z" if dtype.time_zone else "%Y-%m-%dT%H:%M:%S%.f"
        return column.dt.to_string(fmt).alias(name)
    if dtype == pl.String:
        return column
    if dtype == pl.Binary:  # bytes are not text: 0x and their hex digits
        return pl.concat_str(pl.lit("0x"), column.bin.encode("hex")).alias(name)
    if isinstance(dtype, pl.Duration):
        return column.dt.to_string("iso").alias(name)
    return column.cast(pl.String).alias(name)
