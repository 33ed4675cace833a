"""Finding and reading landing files: every record as received, with provenance.

Files for day D live under ``<landing>/trades/date=D/``. Each record keeps its fields as text
(nothing is coerced away), the record as received (``_raw_record``), where it came from
(``_source_file`` relative to the landing root, ``_source_row``), and ``_parse_error`` when the
record could not be split into fields. A file that cannot be read at all is reported separately
so the caller can dead-letter it without failing the partition.

Files are read in chunks of about ``CHUNK_BYTES`` (text cut at line ends, Parquet by rows), so a
file of any size is read with bounded memory; a file found unreadable part-way raises
``UnreadableFileError`` and the caller discards the chunks it already had. Whatever a parser or
converter raises on a file's content (``PARSE_ERRORS``) makes that record malformed (the readers
decide each record on its own), that Parquet column text, or, failing that, the file unreadable,
with the file's path in the message. A bug of ours fails the run, with a note naming the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl

from trade_platform.core.lake_layout import day_folder
from trade_platform.core.landing.columns import (
    IDENTITY_FIELDS,
    KAFKA_COLUMNS,
    KAFKA_VALUE,
    LANDING_FIELDS,
    PARSE_ERRORS,
    PROVENANCE_COLUMNS,
    TRADE_FIELDS,
    UnreadableFileError,
    collapse_extras,
    free_name,
    text_lines,
)
from trade_platform.core.landing.csv_files import csv_chunks
from trade_platform.core.landing.jsonl_files import jsonl_records
from trade_platform.core.landing.parquet_files import parquet_chunks
from trade_platform.core.landing.text_blocks import compression_of, text_blocks
from trade_platform.core.storage import StorageError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
"""A landing file's format is its last extension (under ``COMPRESSIONS``' for text): ``a.csv.jsonl``
is JSONL; ``.json`` and ``.ndjson`` are JSON Lines too (Kafka Connect's S3 sink writes ``.json``)."""
CHUNK_BYTES = 32 * 1024 * 1024
"""Text read per chunk (Parquet: ``CHUNK_BYTES // PARQUET_BYTES_PER_ROW`` rows); a chunk's
records take a few times this in memory while they are validated."""
PARQUET_BYTES_PER_ROW = 128

RAW_SCHEMA: dict[str, pl.DataType] = {
    **{name: pl.String() for name in (*TRADE_FIELDS, *IDENTITY_FIELDS)},
    "_source_file": pl.String(),
    "_source_row": pl.Int64(),
    "_raw_record": pl.String(),
    "_parse_error": pl.String(),
}
KAFKA_SCHEMA: dict[str, pl.DataType] = dict(
    zip(KAFKA_COLUMNS, (pl.String(), pl.Int64(), pl.Int64(), pl.Datetime("ms", "UTC")), strict=True)
)
"""Types of the Kafka provenance columns, present in raw only when a record carried them."""
NOT_AN_OBJECT = "the Kafka message is not a JSON object"


@dataclass(frozen=True)
class LandingFile:
    url: str
    relative_path: str
    size: int
    version: str = ""
    """``file_version`` when listed: what the run read, for the sensor and the completeness check."""


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
    return f"{landing_url.rstrip('/')}/{dataset}/{day_folder(day)}/"


def landing_format(name: str) -> str | None:
    """``csv``, ``jsonl`` or ``parquet`` from the last extension (text formats may be compressed)."""
    compression = compression_of(name)
    stem = name.rsplit("/", 1)[-1].lower()
    stem = stem.rsplit(".", 1)[0] if compression else stem
    found = FORMATS.get("." + stem.rsplit(".", 1)[-1]) if "." in stem else None
    return None if found == "parquet" and compression else found


def is_hidden(path: str) -> bool:
    """Whether a path below a day's folder has a hidden component (``.``/``_``: writers'
    temporary output such as ``_temporary/`` or ``.staging/``)."""
    return any(part.startswith((".", "_")) for part in path.strip("/").split("/"))


def is_landing_file(path: str) -> bool:
    """Whether a path below a day's folder is read: nothing in it is hidden and the format is known."""
    return not is_hidden(path) and landing_format(path.strip("/").split("/")[-1]) is not None


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

    Raises ``UnreadableFileError`` naming the file (possibly after some chunks) when the file has
    no records to give: a corrupt compressed stream or Parquet, NUL bytes in a text file, a CSV
    without a header, or content its parser or a conversion rejects as a whole. Storage errors
    name the URL.
    """
    kind = landing_format(landing_file.relative_path)
    if kind == "parquet":
        chunks = parquet_chunks(landing_file.url, max(1, chunk_bytes // PARQUET_BYTES_PER_ROW))
    else:
        chunks = text_chunks(
            kind, text_blocks(landing_file.url, compression_of(landing_file.relative_path), chunk_bytes)
        )
    yield from landed(landing_file.relative_path, kind, chunks)


def text_chunks(kind: str | None, blocks: Iterable[tuple[int, bytes, bool]]) -> Iterator[pl.DataFrame]:
    """The records of a text file's blocks (``text_blocks``), by its format."""
    return csv_chunks(blocks) if kind == "csv" else _jsonl_chunks(blocks)


def landed(path: str, kind: str | None, chunks: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Parsed chunks of the file at ``path`` as raw records (``finished``); errors as ``reading``."""
    source = pl.lit(path, pl.String).alias("_source_file")
    with reading(path):
        for chunk in chunks:
            yield finished(chunk.with_columns(source), kind)


def finished(records: pl.DataFrame, kind: str | None) -> pl.DataFrame:
    """Parsed records with ``_source_file`` -> raw records: Kafka values unwrapped, many extras
    collapsed, ``RAW_SCHEMA`` columns first."""
    return order_raw_columns(collapse_extras(_unwrap_kafka_value(records, kind)))


@contextmanager
def reading(path: str) -> Iterator[None]:
    """What reading a file raises, as the landing contract has it: the content's fault is
    ``UnreadableFileError`` naming the file; a storage fault or a bug gets a note naming it."""
    try:
        yield
    except UnreadableFileError as exc:
        raise UnreadableFileError(f"{path}: {exc}") from exc
    except StorageError as exc:
        exc.add_note(f"while reading {path}")
        raise
    except PARSE_ERRORS as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UnreadableFileError(f"{path}: cannot be parsed: {type(exc).__name__}: {cause}") from exc
    except Exception as exc:  # a bug of ours, or out of memory: it fails the run, naming the file
        exc.add_note(f"while reading {path}")
        raise


def _jsonl_chunks(blocks: Iterable[tuple[int, bytes, bool]]) -> Iterator[pl.DataFrame]:
    for first_line, block, _ in blocks:
        lines = text_lines(block, first_line).filter(pl.col("_line").str.strip_chars() != "")
        yield jsonl_records(lines.rename({"_line": "_raw_record"}))


def _unwrap_kafka_value(records: pl.DataFrame, kind: str | None) -> pl.DataFrame:
    """A Kafka message that was not a JSON object is landed as a JSON line ``{"_kafka_...": ...,
    "_kafka_value": text}``: its record is that text, malformed, so ``malformed_record``
    dead-letters it. In another format such a column is an ordinary extra."""
    if KAFKA_VALUE not in records.columns:
        return records
    if kind != "jsonl":  # renamed as column_names would (a made-up name takes no other's)
        return records.rename({KAFKA_VALUE: free_name(f"extra_{KAFKA_VALUE}", records.columns)})
    wrapped = pl.col(KAFKA_VALUE).is_not_null()
    return records.with_columns(
        _raw_record=pl.coalesce(KAFKA_VALUE, "_raw_record"),
        _parse_error=pl.when(wrapped).then(pl.lit(NOT_AN_OBJECT)).otherwise("_parse_error"),
    ).drop(KAFKA_VALUE)


def order_raw_columns(records: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Landing fields first, then unknown extra columns by name, then provenance, then any Kafka
    provenance (then ``date``); missing raw columns are added as nulls. Rows keep their order."""
    schema = records.collect_schema()
    names = schema.names()
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in RAW_SCHEMA.items() if name not in names]
    kafka = [c for c in KAFKA_COLUMNS if c in names]
    extras = sorted(c for c in names if c not in RAW_SCHEMA and c not in KAFKA_SCHEMA and c != "date")
    ordered = [*LANDING_FIELDS, *extras, *PROVENANCE_COLUMNS, *kafka, *(["date"] if "date" in names else [])]
    return records.with_columns(missing).select(_typed(c, schema.get(c)) for c in ordered)


def _typed(name: str, received: pl.DataType | None) -> pl.Expr:
    """The column in its raw type; Kafka provenance from its landed text (a value that is not a
    number or an ISO timestamp is null: the record as received keeps it)."""
    if name == "_kafka_timestamp" and received == pl.String():
        return pl.col(name).str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_unit="ms", time_zone="UTC"
        )
    dtype = RAW_SCHEMA.get(name) or KAFKA_SCHEMA.get(name) or (pl.Date() if name == "date" else pl.String())
    return pl.col(name).cast(dtype, strict=name not in KAFKA_SCHEMA)
