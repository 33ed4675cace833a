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

import gzip
import io
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

import fsspec
import polars as pl
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from trade_platform.storage_errors import storage_errors

TRADE_FIELDS: tuple[str, ...] = (
    "trade_id",
    "symbol",
    "side",
    "price",
    "quantity",
    "timestamp",
    "exchange",
)
PROVENANCE_COLUMNS: tuple[str, ...] = ("_source_file", "_source_row", "_raw_record", "_parse_error")
SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet")
CHUNK_BYTES = 32 * 1024 * 1024
"""Text read per chunk (Parquet: ``CHUNK_BYTES // PARQUET_BYTES_PER_ROW`` rows); a chunk's
records take a few times this in memory while they are validated."""
PARQUET_BYTES_PER_ROW = 128
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)
UTF8_BOM = b"\xef\xbb\xbf"
T = TypeVar("T")

RAW_SCHEMA: dict[str, pl.DataType] = {
    **{name: pl.String() for name in TRADE_FIELDS},
    "_source_file": pl.String(),
    "_source_row": pl.Int64(),
    "_raw_record": pl.String(),
    "_parse_error": pl.String(),
}

# A flat JSON object whose values are scalars: checked with one linear-time regex per line so
# that a malformed line is set aside without Python looping over the good ones.
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_JSON_SCALAR = rf"(?:{_JSON_STRING}|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)"
_JSON_MEMBER = rf"\s*{_JSON_STRING}\s*:\s*{_JSON_SCALAR}\s*"
FLAT_JSON_OBJECT = rf"^\s*\{{(?:{_JSON_MEMBER}(?:,{_JSON_MEMBER})*|\s*)\}}\s*$"
# Quoted CSV fields may hold commas; they are removed before counting separators.
_CSV_QUOTED = r'"(?:[^"]|"")*"'


class UnreadableFileError(Exception):
    """The file as a whole cannot be decoded (corrupt gzip or Parquet, unknown layout)."""


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


def list_landing_files(landing_url: str, day: str, dataset: str = TRADES) -> list[LandingFile]:
    """The day's landing files in name order; hidden and unsupported files are skipped."""
    fs, root = url_to_fs(landing_url)
    prefix = f"{root.rstrip('/')}/{dataset}/date={day}"
    if not fs.exists(prefix):
        return []
    fs.invalidate_cache(prefix)
    files = []
    for path, info in sorted(fs.find(prefix, detail=True).items()):
        name = path.rsplit("/", 1)[-1]
        if name.startswith((".", "_")) or not name.lower().endswith(SUPPORTED_SUFFIXES):
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
    give: corrupt gzip or Parquet, NUL bytes in a text file. Storage errors name the URL.
    """
    name = landing_file.relative_path.lower()
    if name.endswith(".parquet"):
        chunks = _parquet_chunks(landing_file, max(1, chunk_bytes // PARQUET_BYTES_PER_ROW))
    else:
        blocks = _text_blocks(landing_file, chunk_bytes)
        chunks = _csv_chunks(blocks) if ".csv" in name else _jsonl_chunks(blocks)
    source = pl.lit(landing_file.relative_path, pl.String).alias("_source_file")
    for chunk in chunks:
        yield order_raw_columns(chunk.with_columns(source))


def _text_blocks(landing_file: LandingFile, chunk_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(line number of its first line, block) for blocks of whole lines, decompressing gzip."""
    with storage_errors("read", landing_file.url):
        handle = fsspec.open(landing_file.url, "rb").open()
    with handle:
        stream: BinaryIO = (
            gzip.GzipFile(fileobj=handle) if landing_file.relative_path.lower().endswith(".gz") else handle
        )
        line, carry, data = 1, b"", b"start"
        while data:
            data = _read_block(stream, chunk_bytes, landing_file.url)
            block = carry + data
            cut = block.rfind(b"\n") + 1 if data else len(block)  # at the end, the last line too
            block, carry = block[:cut], block[cut:]
            if block:
                if b"\x00" in block:
                    raise UnreadableFileError("binary content (NUL bytes) in a text file")
                yield line, block
                line += block.count(b"\n")


def _read_block(stream: BinaryIO, size: int, url: str) -> bytes:
    """Storage errors name the URL (and may be retried); a bad gzip stream is the file's fault."""
    with storage_errors("read", url):
        try:
            return stream.read(size)
        except GZIP_ERRORS as exc:
            error = exc
    raise UnreadableFileError(f"corrupt gzip stream: {error}") from error


def _csv_chunks(blocks: Iterable[tuple[int, bytes]]) -> Iterator[pl.DataFrame]:
    """Each block is parsed with the file's header line put in front of it."""
    header = b""
    for first_line, block in blocks:
        if not header:
            block = block.removeprefix(UTF8_BOM) if first_line == 1 else block
            header = next((line + b"\n" for line in block.split(b"\n") if line.strip()), b"")
            payload, offset = block, first_line - 1
        else:
            payload, offset = header + block, first_line - 2  # the header stands at line 1
        if payload.strip():
            frame = _plain_csv_records(payload)
            frame = _csv_records(_text_lines(payload)) if frame is None else frame
            yield frame.with_columns(pl.col("_source_row") + offset)


def _jsonl_chunks(blocks: Iterable[tuple[int, bytes]]) -> Iterator[pl.DataFrame]:
    for first_line, block in blocks:
        frame = _jsonl_records(_text_lines(block))
        yield frame.with_columns(pl.col("_source_row") + (first_line - 1))


def _text_lines(payload: bytes) -> pl.DataFrame:
    """Non-blank lines with their 1-based line numbers; bad UTF-8 bytes become U+FFFD."""
    text = payload.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = pl.Series("_raw_record", text.split("\n"), pl.String).str.strip_suffix("\r")
    return (
        pl.DataFrame([lines])
        .with_row_index("_source_row", offset=1)
        .with_columns(pl.col("_source_row").cast(pl.Int64))
        .filter(pl.col("_raw_record").str.strip_chars() != "")
    )


def _csv_records(lines: pl.DataFrame) -> pl.DataFrame:
    if lines.is_empty():
        return pl.DataFrame(schema=RAW_SCHEMA)
    header_line = lines["_raw_record"][0]
    header = [
        name.strip().strip('"').strip()
        for name in pl.read_csv(io.StringIO(header_line), has_header=False, infer_schema=False).row(0)
    ]
    body = lines.slice(1).with_columns(
        _fields=pl.col("_raw_record").str.replace_all(_CSV_QUOTED, "").str.count_matches(",") + 1
    )
    expected = len(header)
    good = body.filter(pl.col("_fields") == expected)
    parsed = (
        pl.read_csv(
            io.StringIO("\n".join(good["_raw_record"].to_list())),
            has_header=False,
            new_columns=header,
            infer_schema=False,
            quote_char='"',
        )
        if good.height
        else pl.DataFrame(schema={name: pl.String for name in header})
    )
    if parsed.height != good.height:  # a quoted newline or stray quote: keep nothing ambiguous
        raise UnreadableFileError("CSV quoting could not be resolved line by line")
    parsed = parsed.with_columns(pl.col(name).replace("", None) for name in header)
    good_records = pl.concat(
        [good.select("_source_row", "_raw_record"), parsed], how="horizontal"
    ).with_columns(_parse_error=pl.lit(None, pl.String))
    bad_records = body.filter(pl.col("_fields") != expected).select(
        "_source_row",
        "_raw_record",
        _parse_error=pl.format(f"CSV row has {{}} fields, header has {expected}", "_fields"),
    )
    return pl.concat([good_records, bad_records], how="diagonal_relaxed").sort("_source_row")


def _plain_csv_records(payload: bytes) -> pl.DataFrame | None:
    """The records of a plain CSV file, read by polars' native reader; None if the file is not plain.

    Plain means valid UTF-8 with no quote, carriage return, unit separator or blank line: then
    every physical line is one record whose fields are separated by commas, and reading it with
    the native reader gives exactly what ``_csv_records`` gives line by line, many times faster.
    """
    payload = payload.removeprefix(b"\xef\xbb\xbf")
    if not payload or any(byte in payload for byte in (b'"', b"\r", b"\x1f")):
        return None
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    n_lines = payload.count(b"\n") + (not payload.endswith(b"\n"))
    options = {"has_header": False, "quote_char": None, "infer_schema": False}
    lines = pl.read_csv(payload, separator="\x1f", new_columns=["_raw_record"], **options)
    if lines.height != n_lines or (lines["_raw_record"].str.strip_chars().fill_null("") == "").any():
        return None
    header = [name.strip() for name in lines["_raw_record"][0].split(",")]
    reserved = {"", "_source_row", "_raw_record", "_parse_error", "_fields"}
    if len(set(header)) != len(header) or reserved & set(header):
        return None
    values = pl.read_csv(payload, truncate_ragged_lines=True, **options)
    if values.height != n_lines or values.width != len(header):
        return None
    expected = len(header)
    ok = pl.col("_fields") == expected
    return (
        pl.concat([lines, values], how="horizontal")
        .lazy()
        .with_row_index("_source_row", offset=1)
        .slice(1)
        .with_columns(_fields=pl.col("_raw_record").str.count_matches(",", literal=True) + 1)
        .select(
            pl.col("_source_row").cast(pl.Int64),
            "_raw_record",
            *[
                pl.when(ok).then(pl.col(column).replace("", None)).alias(name)
                for column, name in zip(values.columns, header, strict=True)
            ],
            _parse_error=pl.when(~ok).then(
                pl.format(f"CSV row has {{}} fields, header has {expected}", "_fields")
            ),
        )
        .collect(engine="in-memory")
    )


def _jsonl_records(lines: pl.DataFrame) -> pl.DataFrame:
    lines = lines.with_columns(_ok=pl.col("_raw_record").str.contains(FLAT_JSON_OBJECT))
    good = lines.filter("_ok").drop("_ok")
    bad = lines.filter(~pl.col("_ok")).select(
        "_source_row", "_raw_record", _parse_error=pl.lit("not a flat JSON object")
    )
    decoded, undecodable = _decode_json_lines(good)
    return pl.concat([decoded, undecodable, bad], how="diagonal_relaxed").sort("_source_row")


def _decode_json_lines(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decode in bulk; on the rare line polars rejects (say 1e400), bisect to isolate it."""
    if lines.is_empty():
        return pl.DataFrame(schema=RAW_SCHEMA), pl.DataFrame(schema=RAW_SCHEMA)
    keys = _json_keys(lines)
    dtype = pl.Struct({key: pl.String for key in keys})
    try:
        decoded = lines.with_columns(pl.col("_raw_record").str.json_decode(dtype).alias("_record")).unnest(
            "_record"
        )
    except pl.exceptions.ComputeError as exc:
        if lines.height == 1:
            bad = lines.with_columns(_parse_error=pl.lit(f"invalid JSON: {str(exc).splitlines()[0]}"))
            return pl.DataFrame(schema=RAW_SCHEMA), bad
        half = lines.height // 2
        left_ok, left_bad = _decode_json_lines(lines.slice(0, half))
        right_ok, right_bad = _decode_json_lines(lines.slice(half))
        return (
            pl.concat([left_ok, right_ok], how="diagonal_relaxed"),
            pl.concat([left_bad, right_bad], how="diagonal_relaxed"),
        )
    return decoded.with_columns(_parse_error=pl.lit(None, pl.String)), pl.DataFrame(schema=RAW_SCHEMA)


def _json_keys(lines: pl.DataFrame) -> list[str]:
    """Every key seen in the lines, the trade fields first, so extra fields are kept too."""
    seen = (
        lines["_raw_record"]
        .str.extract_all(r'"((?:[^"\\]|\\.)*)"\s*:')
        .explode()
        .drop_nulls()
        .str.replace(r'^"(.*)"\s*:$', "$1")
        .unique(maintain_order=True)
        .to_list()
    )
    reserved = set(PROVENANCE_COLUMNS)
    return list(TRADE_FIELDS) + [key for key in seen if key not in TRADE_FIELDS and key not in reserved]


def _parquet_chunks(landing_file: LandingFile, rows: int) -> Iterator[pl.DataFrame]:
    """Row batches of a Parquet file; any error pyarrow raises on the (local) bytes is corruption."""
    with _local_copy(landing_file) as path:
        batches = _corrupt_parquet_unreadable(lambda: pq.ParquetFile(path).iter_batches(batch_size=rows))
        offset = 0
        while (batch := _corrupt_parquet_unreadable(lambda: next(batches, None))) is not None:
            table = pl.from_arrow(batch)
            yield _parquet_records(table, offset)
            offset += table.height


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
    raw_record = pl.struct(table.columns).struct.json_encode() if table.width else pl.lit("{}")
    with_provenance = table.with_row_index("_source_row", offset=offset + 1).with_columns(
        pl.col("_source_row").cast(pl.Int64), _raw_record=raw_record, _parse_error=parse_error
    )
    return with_provenance.select(
        "_source_row",
        "_raw_record",
        "_parse_error",
        *(_as_text(name, dtype, nested=name in nested) for name, dtype in table.schema.items()),
    )


def _as_text(name: str, dtype: pl.DataType, *, nested: bool) -> pl.Expr:
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
