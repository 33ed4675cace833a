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
    texts, members, nested = [], [], []
    for position, name in kept_columns(names):
        column = batch.column(position)
        if isinstance(column.type, pa.ExtensionType):  # uuid, json, tensors...: their storage type
            column = column.storage
        # A landing field holding a list or struct cannot be a value: that record is malformed.
        if name in LANDING_FIELDS and pa.types.is_nested(column.type):
            nested.append(name)
        text, member = _column(name, column)
        texts.append(text)
        members.append(member)
    parse_error = pl.lit(None, pl.String)
    if nested:
        held = pl.concat_list([pl.when(pl.col(name).is_not_null()).then(pl.lit(name)) for name in nested])
        held = held.list.drop_nulls().list.join(", ")
        parse_error = pl.when(held != "").then(pl.format("nested value in field(s): {}", held))
    raw_record = (
        pl.concat_str(pl.lit("{"), pl.concat_str(members, separator=","), pl.lit("}"))
        if members
        else pl.lit("{}")
    )
    start = offset + 1
    return (
        pl.select(_source_row=pl.int_range(start, start + batch.num_rows, dtype=pl.Int64))
        .with_columns(texts)
        .select(
            "_source_row",
            raw_record.alias("_raw_record"),
            parse_error.alias("_parse_error"),
            # a nested landing field: the whole record is kept in _raw_record
            *(pl.lit(None, pl.String).alias(t.name) if t.name in nested else t.name for t in texts),
        )
    )


def _column(name: str, column: pa.Array) -> tuple[pl.Series, pl.Series]:
    """(the column as text, its ``"name":value`` JSON members for ``_raw_record``). A column that
    polars cannot hold or encode (decimal256, binary inside a struct) is its values' Python text."""
    try:
        if pa.types.is_timestamp(column.type) and column.type.tz:  # polars rejects offsets like +05:30
            column = column.cast(pa.timestamp(column.type.unit, "UTC"))
        values = pl.select(pl.Series(name, pl.from_arrow(column)))
        dtype = values.schema[name]
        as_json = (
            pl.col(name)
            if dtype.is_nested() or dtype.is_numeric() or dtype in JSON_TYPES
            else _as_text(name, dtype)
        )
        return tuple(values.select(_as_text(name, dtype), _member(as_json)))  # type: ignore[return-value]
    except PARSE_ERRORS:
        text = pl.Series(name, [_python_text(value) for value in column.to_pylist()], pl.String)
        return text, text.to_frame().select(_member(pl.col(name))).to_series()


def _member(value: pl.Expr) -> pl.Expr:
    """``"name":value``: a one-field struct's JSON without its braces."""
    return pl.struct(value).struct.json_encode().str.slice(1).str.head(-1).alias("_member")


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
