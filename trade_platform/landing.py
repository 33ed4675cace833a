"""Finding and reading landing files: every record as received, with provenance.

Files for day D live under ``<landing>/trades/date=D/``. Each record keeps its fields as text
(nothing is coerced away), the record as received (``_raw_record``), where it came from
(``_source_file`` relative to the landing root, ``_source_row``), and ``_parse_error`` when the
record could not be split into fields. A file that cannot be read at all is reported separately
so the caller can dead-letter it without failing the partition.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import fsspec
import polars as pl
from fsspec.core import url_to_fs

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
        files.append(LandingFile(url=fs.unstrip_protocol(path), relative_path=relative, size=int(info.get("size") or 0)))
    return files


def read_landing_day(landing_url: str, day: str) -> LandingRead:
    files = list_landing_files(landing_url, day)
    return read_landing_files(files)


def read_landing_files(files: Iterable[LandingFile]) -> LandingRead:
    files = tuple(files)
    frames: list[pl.DataFrame] = []
    unreadable: list[dict[str, str]] = []
    for landing_file in files:
        try:
            frames.append(read_landing_file(landing_file))
        except UnreadableFileError as exc:
            unreadable.append({"_source_file": landing_file.relative_path, "error": str(exc)})
    records = (
        pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=RAW_SCHEMA)
    )
    # Each file's records come in row order, so files in path order need no sort.
    skipped = {entry["_source_file"] for entry in unreadable}
    read_paths = [f.relative_path for f in files if f.relative_path not in skipped]
    in_order = all(a < b for a, b in zip(read_paths, read_paths[1:])) and all(
        frame["_source_row"].is_sorted() for frame in frames
    )
    return LandingRead(
        records=_order_columns(records, in_order),
        unreadable=pl.DataFrame(unreadable, schema={"_source_file": pl.String, "error": pl.String}),
        files=files,
    )


def read_landing_file(landing_file: LandingFile) -> pl.DataFrame:
    """Read one landing file into raw records; raise ``UnreadableFileError`` if it has none to give."""
    name = landing_file.relative_path.lower()
    with fsspec.open(landing_file.url, "rb") as handle:
        payload = handle.read()
    if name.endswith(".gz"):
        payload = _gunzip(payload)
    if name.endswith(".parquet"):
        frame = _parquet_records(payload)
    elif b"\x00" in payload:
        raise UnreadableFileError("binary content (NUL bytes) in a text file")
    elif ".csv" in name and (plain := _plain_csv_records(payload)) is not None:
        frame = plain
    else:
        lines = _text_lines(payload)
        frame = _csv_records(lines) if ".csv" in name else _jsonl_records(lines)
    return frame.with_columns(_source_file=pl.lit(landing_file.relative_path, pl.String))


def _gunzip(payload: bytes) -> bytes:
    try:
        return gzip.decompress(payload)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"corrupt gzip stream: {exc}") from exc


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
    header = [name.strip().strip('"').strip() for name in pl.read_csv(
        io.StringIO(header_line), has_header=False, infer_schema=False
    ).row(0)]
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
        decoded = lines.with_columns(
            pl.col("_raw_record").str.json_decode(dtype).alias("_record")
        ).unnest("_record")
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


def _parquet_records(payload: bytes) -> pl.DataFrame:
    try:
        table = pl.read_parquet(io.BytesIO(payload))
    except Exception as exc:  # polars raises several error types for corrupt files
        raise UnreadableFileError(f"corrupt Parquet: {str(exc).splitlines()[0]}") from exc
    # A trade field holding a list or struct cannot be a value: that record is malformed.
    nested = [
        name for name, dtype in table.schema.items() if name in TRADE_FIELDS and dtype.is_nested()
    ]
    parse_error = pl.lit(None, pl.String)
    if nested:
        names = pl.concat_list(
            [pl.when(pl.col(name).is_not_null()).then(pl.lit(name)) for name in nested]
        ).list.drop_nulls().list.join(", ")
        parse_error = pl.when(names != "").then(pl.format("nested value in field(s): {}", names))
    raw_record = pl.struct(table.columns).struct.json_encode() if table.width else pl.lit("{}")
    with_provenance = table.with_row_index("_source_row", offset=1).with_columns(
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


def _order_columns(records: pl.DataFrame, in_order: bool = False) -> pl.DataFrame:
    """Trade fields first, then unknown extra columns, then provenance; ordered by source."""
    for name, dtype in RAW_SCHEMA.items():
        if name not in records.columns:
            records = records.with_columns(pl.lit(None, dtype).alias(name))
    extras = [c for c in records.columns if c not in RAW_SCHEMA]
    ordered = list(TRADE_FIELDS) + sorted(extras) + list(PROVENANCE_COLUMNS)
    records = records.select([pl.col(c).cast(RAW_SCHEMA.get(c, pl.String())) for c in ordered])
    return records if in_order else records.sort("_source_file", "_source_row")

