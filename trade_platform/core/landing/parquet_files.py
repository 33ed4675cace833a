"""Parquet landing files as raw records, a row batch at a time, every value as text.

Columns are stored under ``columns.column_names``; zoned timestamps become UTC text, binary
``0x`` hex, durations ISO 8601, nested values JSON (a nested trade or identifying field makes
the record malformed), an extension type (uuid, json, tensors) as its storage type, and a column
polars cannot hold or encode (decimal256, binary inside a struct) is the text of its values (JSON
for nested ones): an odd column never costs its file. Any error pyarrow raises on the bytes is
corruption: the file is unreadable.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from trade_platform.core.landing.columns import (
    LANDING_FIELDS,
    PARSE_ERRORS,
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
            yield _parquet_records(batch, offset)
            offset += batch.num_rows


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


def _parquet_records(batch: pa.RecordBatch, offset: int) -> pl.DataFrame:
    """The batch's rows as text under the stored column names (``column_names``; the last of a
    repeated name counts), each row as received in ``_raw_record`` (JSON)."""
    names = column_names(batch.schema.names)
    columns = {name: _storage(batch.column(position)) for position, name in kept_columns(names)}
    # A landing field holding a list or struct cannot be a value: that record is malformed.
    nested = [
        name for name, column in columns.items() if name in LANDING_FIELDS and pa.types.is_nested(column.type)
    ]
    start = offset + 1
    rows = pl.select(_source_row=pl.int_range(start, start + batch.num_rows, dtype=pl.Int64))
    values = rows.with_columns(_polars(name, column) for name, column in columns.items())
    try:
        return _records(values, nested)
    except PARSE_ERRORS:  # a column polars holds but cannot encode (binary inside a struct)
        odd = [name for name in columns if not _encodes(values.select(name))]
        return _records(values.with_columns(_python_texts(name, columns[name]) for name in odd), nested)


def _records(values: pl.DataFrame, nested: list[str]) -> pl.DataFrame:
    columns = [name for name in values.columns if name != "_source_row"]
    parse_error = pl.lit(None, pl.String)
    if nested:
        held = pl.concat_list([pl.when(pl.col(name).is_not_null()).then(pl.lit(name)) for name in nested])
        held = held.list.drop_nulls().list.join(", ")
        parse_error = pl.when(held != "").then(pl.format("nested value in field(s): {}", held))
    as_json = [_as_json(name, values.schema[name]) for name in columns]
    return values.select(
        "_source_row",
        (pl.struct(as_json).struct.json_encode() if columns else pl.lit("{}")).alias("_raw_record"),
        parse_error.alias("_parse_error"),
        # a nested landing field: the whole record is kept in _raw_record
        *(
            pl.lit(None, pl.String).alias(n) if n in nested else _as_text(n, values.schema[n])
            for n in columns
        ),
    )


def _storage(column: pa.Array) -> pa.Array:
    """Extension types (uuid, json, tensors, custom ones) as their storage; zoned timestamps in UTC,
    as polars rejects fixed offsets such as ``+05:30``."""
    if isinstance(column.type, pa.BaseExtensionType):
        column = column.storage
    if pa.types.is_timestamp(column.type) and column.type.tz:
        column = column.cast(pa.timestamp(column.type.unit, "UTC"))
    return column


def _polars(name: str, column: pa.Array) -> pl.Series:
    """The column in polars, or its values' text when polars cannot hold it (decimal256)."""
    try:
        return pl.Series(name, pl.from_arrow(column))
    except PARSE_ERRORS:
        return _python_texts(name, column)


def _encodes(column: pl.DataFrame) -> bool:
    name, dtype = column.columns[0], column.dtypes[0]
    try:
        column.select(
            _as_text(name, dtype).alias("text"), pl.struct(_as_json(name, dtype)).struct.json_encode()
        )
    except PARSE_ERRORS:
        return False
    return True


def _python_texts(name: str, column: pa.Array) -> pl.Series:
    return pl.Series(name, [_python_text(value) for value in column.to_pylist()], pl.String)


def _python_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_python_text)
    return str(value)


JSON_TYPES = (pl.String, pl.Boolean, pl.Null, pl.Date, pl.Datetime)
"""Types whose values go into ``_raw_record`` as they are; others (binary, durations) as text."""


def _as_json(name: str, dtype: pl.DataType) -> pl.Expr:
    return (
        pl.col(name)
        if dtype.is_nested() or dtype.is_numeric() or dtype in JSON_TYPES
        else _as_text(name, dtype)
    )


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A Parquet column as text: tz-aware timestamps keep their offset, naive ones get none."""
    column = pl.col(name)
    if dtype.is_nested():  # bare JSON of the value: cut the {"<name>": ...} wrapper; null stays null
        prefix = len(json.dumps(name, ensure_ascii=False)) + 2
        as_json = pl.struct(column).struct.json_encode().str.slice(prefix).str.head(-1)
        return pl.when(column.is_not_null()).then(as_json).alias(name)
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
