"""Finding and reading landing files: every record as received, with provenance.

Files for day D live under ``<landing>/trades/date=D/``. Each record keeps its fields as text
(nothing is coerced away), the record as received (``_raw_record``), where it came from
(``_source_file`` relative to the landing root, ``_source_row``), and ``_parse_error`` when the
record could not be split into fields. A file that cannot be read at all is reported separately
so the caller can dead-letter it without failing the partition.

Files are read in chunks of about ``CHUNK_BYTES`` (text cut at line ends, Parquet by rows), so a
file of any size is read with bounded memory; a file found unreadable part-way raises
``UnreadableFileError`` and the caller discards the chunks it already had.
"""

from __future__ import annotations

import csv
import gzip
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from trade_platform.landing_columns import (
    PROVENANCE_COLUMNS,
    TRADE_FIELDS,
    UnreadableFileError,
    column_names,
    kept_columns,
    line_breaks,
    text_lines,
)
from trade_platform.landing_csv import csv_chunks
from trade_platform.landing_jsonl import jsonl_records
from trade_platform.storage_errors import StorageError, storage_errors

# What a parser raises on content it cannot make sense of. Such a file becomes one
# ``unreadable_file`` entry, so one file never blocks a day; storage faults are not among them.
PARSE_ERRORS = (pl.exceptions.PolarsError, pa.ArrowException, ValueError, UnicodeError, csv.Error)

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
"""A landing file's format is its last extension (under ``.gz`` for text): ``a.csv.jsonl`` is JSONL."""
CHUNK_BYTES = 32 * 1024 * 1024
"""Text read per chunk (Parquet: ``CHUNK_BYTES // PARQUET_BYTES_PER_ROW`` rows); a chunk's
records take a few times this in memory while they are validated."""
PARQUET_BYTES_PER_ROW = 128
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)
T = TypeVar("T")

RAW_SCHEMA: dict[str, pl.DataType] = {
    **{name: pl.String() for name in TRADE_FIELDS},
    "_source_file": pl.String(),
    "_source_row": pl.Int64(),
    "_raw_record": pl.String(),
    "_parse_error": pl.String(),
}


@dataclass(frozen=True)
class LandingFile:
    url: str
    relative_path: str
    size: int


@dataclass(frozen=True)
class LandingRead:
    records: pl.DataFrame
    """One row per record with ``RAW_SCHEMA`` columns plus any unknown extra columns as text."""
    unreadable: pl.DataFrame
    """``_source_file`` and ``error`` of each file that could not be read at all."""
    files: tuple[LandingFile, ...]


TRADES = "trades"
CORRECTIONS = "corrections"


def day_prefix(landing_url: str, day: str, dataset: str = TRADES) -> str:
    """``<landing>/<dataset>/date=D/``: ``trades`` as landed, ``corrections`` for DLQ replays."""
    return f"{landing_url.rstrip('/')}/{dataset}/date={day}/"


def landing_format(name: str) -> str | None:
    """``csv``, ``jsonl`` or ``parquet`` from the last extension (text formats may be gzipped)."""
    name = name.rsplit("/", 1)[-1].lower()
    gzipped = name.endswith(".gz")
    stem = name.removesuffix(".gz")
    found = FORMATS.get("." + stem.rsplit(".", 1)[-1]) if "." in stem else None
    return None if found == "parquet" and gzipped else found


def is_landing_file(path: str) -> bool:
    """Whether a path below a day's folder is read: no component is hidden (``.``/``_``: writers'
    temporary output such as ``_temporary/`` or ``.staging/``) and the format is known."""
    parts = path.strip("/").split("/")
    return not any(part.startswith((".", "_")) for part in parts) and landing_format(parts[-1]) is not None


def list_landing_files(landing_url: str, day: str, dataset: str = TRADES) -> list[LandingFile]:
    """The day's landing files in name order; hidden and unsupported paths are skipped."""
    fs, root = url_to_fs(landing_url)
    prefix = f"{root.rstrip('/')}/{dataset}/date={day}"
    if not fs.exists(prefix):
        return []
    fs.invalidate_cache(prefix)
    files = []
    for path, info in sorted(fs.find(prefix, detail=True).items()):
        if not is_landing_file(path[len(prefix) :]):
            continue
        relative = path[len(root.rstrip("/")) + 1 :]
        files.append(
            LandingFile(
                url=fs.unstrip_protocol(path), relative_path=relative, size=int(info.get("size") or 0)
            )
        )
    return files


def read_landing_files(files: Iterable[LandingFile]) -> LandingRead:
    """Read whole files into memory (corrections files, small inputs); see ``iter_landing_file``."""
    files = tuple(files)
    frames: list[pl.DataFrame] = []
    unreadable: list[dict[str, str]] = []
    for landing_file in files:
        try:
            frames.extend(list(iter_landing_file(landing_file)))  # all of a file or none of it
        except UnreadableFileError as exc:
            unreadable.append({"_source_file": landing_file.relative_path, "error": str(exc)})
    records = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=RAW_SCHEMA)
    return LandingRead(
        records=order_raw_columns(records),
        unreadable=pl.DataFrame(unreadable, schema={"_source_file": pl.String, "error": pl.String}),
        files=files,
    )


def iter_landing_file(landing_file: LandingFile, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pl.DataFrame]:
    """The file's records in row order, a chunk at a time, with ``RAW_SCHEMA`` columns first.

    Raises ``UnreadableFileError`` (possibly after some chunks) when the file has no records to
    give: corrupt gzip or Parquet, NUL bytes in a text file, a CSV without a header, or content
    its parser rejects as a whole. Storage errors name the URL.
    """
    kind = landing_format(landing_file.relative_path)
    if kind == "parquet":
        chunks = _parquet_chunks(landing_file, max(1, chunk_bytes // PARQUET_BYTES_PER_ROW))
    else:
        blocks = _text_blocks(landing_file, chunk_bytes)
        chunks = csv_chunks(blocks) if kind == "csv" else _jsonl_chunks(blocks)
    source = pl.lit(landing_file.relative_path, pl.String).alias("_source_file")
    try:
        for chunk in chunks:
            yield order_raw_columns(chunk.with_columns(source))
    except (UnreadableFileError, StorageError):
        raise
    except PARSE_ERRORS as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UnreadableFileError(f"cannot be parsed: {type(exc).__name__}: {cause}") from exc


def _text_blocks(landing_file: LandingFile, chunk_bytes: int) -> Iterator[tuple[int, bytes, bool]]:
    """(line number of its first line, block of whole lines, is the last) of the text, gunzipped."""
    with storage_errors("read", landing_file.url):
        handle = fsspec.open(landing_file.url, "rb").open()
    with handle:
        gzipped = landing_file.relative_path.lower().endswith(".gz")
        stream: BinaryIO = gzip.GzipFile(fileobj=handle) if gzipped else handle
        line, carry = 1, b""
        while True:
            data = _read_block(stream, chunk_bytes, landing_file.url)
            block = carry + data
            cut = block.rfind(b"\n") + 1 if data else len(block)  # at the end, the last line too
            block, carry = block[:cut], block[cut:]
            if b"\x00" in block:
                raise UnreadableFileError("binary content (NUL bytes) in a text file")
            yield line, block, not data
            if not data:
                return
            line += line_breaks(block)


def _read_block(stream: BinaryIO, size: int, url: str) -> bytes:
    """Storage errors name the URL (and may be retried); a bad gzip stream is the file's fault."""
    with storage_errors("read", url):
        try:
            return stream.read(size)
        except GZIP_ERRORS as exc:
            error = exc
    raise UnreadableFileError(f"corrupt gzip stream: {error}") from error


def _jsonl_chunks(blocks: Iterable[tuple[int, bytes, bool]]) -> Iterator[pl.DataFrame]:
    for first_line, block, _ in blocks:
        lines = text_lines(block, first_line).filter(pl.col("_line").str.strip_chars() != "")
        yield jsonl_records(lines.rename({"_line": "_raw_record"}))


def _parquet_chunks(landing_file: LandingFile, rows: int) -> Iterator[pl.DataFrame]:
    """Row batches of a Parquet file; any error pyarrow raises on the (local) bytes is corruption."""
    with _local_copy(landing_file) as path:
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
def _local_copy(landing_file: LandingFile) -> Iterator[str]:
    """A local path to the file: itself, or a temporary download of a remote object, so that
    storage errors (raised here, naming the URL) are never mistaken for corrupt content."""
    fs, path = url_to_fs(landing_file.url)
    if "file" in fs.protocol:
        yield path
        return
    with tempfile.NamedTemporaryFile(suffix=".parquet") as local:
        with storage_errors("read", landing_file.url):
            fs.get_file(path, local.name)
        yield local.name


def _parquet_records(table: pl.DataFrame, offset: int) -> pl.DataFrame:
    # A trade field holding a list or struct cannot be a value: that record is malformed.
    nested = [name for name, dtype in table.schema.items() if name in TRADE_FIELDS and dtype.is_nested()]
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
    if dtype.is_nested():
        return pl.struct(column).struct.json_encode().alias(name)
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


def order_raw_columns(records: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Trade fields first, then unknown extra columns by name, then provenance (then ``date``);
    missing raw columns are added as nulls. Rows keep their order."""
    names = records.collect_schema().names()
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in RAW_SCHEMA.items() if name not in names]
    extras = sorted(c for c in names if c not in RAW_SCHEMA and c != "date")
    ordered = [*TRADE_FIELDS, *extras, *PROVENANCE_COLUMNS, *(["date"] if "date" in names else [])]
    return records.with_columns(missing).select(
        pl.col(c).cast(RAW_SCHEMA.get(c, pl.Date() if c == "date" else pl.String())) for c in ordered
    )
