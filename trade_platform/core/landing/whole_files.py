"""Small landing text files read whole and parsed together: a day of many small files costs per
record, not per file (through ``iter_landing_file`` a file costs some twenty polars calls, a few
milliseconds, whatever its size).

Each file is read on its own (``text_blocks``), so a file that cannot be read is reported at its
place. Then all the JSONL files are parsed in one call, and the CSV files with the same plain
header in one call of polars' native reader. A group that does not parse that way (quotes, blank
lines, more than ``MAX_EXTRA_COLUMNS`` extra names together) is parsed file by file, block by
block, as ``iter_landing_file`` does: the records are the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import partial

import polars as pl

from trade_platform.core.landing.columns import EXTRAS, PARSE_ERRORS, UnreadableFileError, split_lines
from trade_platform.core.landing.csv_files import header_names, plain_header, plain_records, record_fields
from trade_platform.core.landing.files import (
    RAW_SCHEMA,
    LandingFile,
    finished,
    landed,
    landing_format,
    reading,
    text_chunks,
)
from trade_platform.core.landing.jsonl_files import jsonl_records
from trade_platform.core.landing.text_blocks import compression_of, text_blocks

WHOLE_FILE_BYTES = 1 << 20
"""A text landing file up to this size (as stored) is read whole, together with its neighbours."""

Blocks = list[tuple[int, bytes, bool]]
Read = pl.DataFrame | UnreadableFileError | None
"""The records of files, why one cannot be read, or None: too big to read whole after all."""


def is_small(landing_file: LandingFile, limit: int) -> bool:
    """A text file of at most ``limit`` bytes as listed (``limit`` 0: none; its text may still
    turn out bigger, see ``read_whole_files``)."""
    return (
        0 < limit
        and landing_file.size <= limit
        and landing_format(landing_file.relative_path) in ("csv", "jsonl")
    )


def read_whole_files(
    files: Sequence[LandingFile], chunk_bytes: int, limit: int
) -> Iterator[tuple[list[LandingFile], Read]]:
    """``files`` in order, about ``chunk_bytes`` of text at a time: (files, their records in file
    and row order) for each run of readable ones, ([file], why) for one that cannot be read, and
    ([file], None) for one whose text is over ``limit`` bytes (compressed): the caller streams it."""
    batch: dict[str, tuple[LandingFile, Blocks | UnreadableFileError | None]] = {}
    size = 0
    for landing_file in files:
        read = _blocks(landing_file, limit)
        batch[landing_file.relative_path] = landing_file, read
        size += sum(len(block) for _, block, _ in read) if isinstance(read, list) else 0
        if size >= chunk_bytes:
            yield from _runs(batch)
            batch, size = {}, 0
    yield from _runs(batch)


def _runs(
    batch: dict[str, tuple[LandingFile, Blocks | UnreadableFileError | None]],
) -> Iterator[tuple[list[LandingFile], Read]]:
    texts = {
        path: (landing_format(path), read) for path, (_, read) in batch.items() if isinstance(read, list)
    }
    records, unreadable = _parsed(texts)
    run: list[LandingFile] = []
    for path, (landing_file, read) in batch.items():
        read = unreadable.get(path, read)
        if isinstance(read, list):
            run.append(landing_file)
            continue
        if run:
            yield run, records.filter(pl.col("_source_file").is_in([f.relative_path for f in run]))
            run = []
        yield [landing_file], read
    if run:
        yield run, records.filter(pl.col("_source_file").is_in([f.relative_path for f in run]))


def _blocks(landing_file: LandingFile, limit: int) -> Blocks | UnreadableFileError | None:
    """The file's blocks as ``text_blocks`` cuts them (whole lines, then the last line) when its
    text is at most ``limit`` bytes: then they are the same for any larger block size."""
    path = landing_file.relative_path
    try:
        with (
            reading(path),
            closing(text_blocks(landing_file.url, compression_of(path), limit)) as blocks,
        ):
            first = next(blocks)
            if first[2]:
                return [first]
            last = next(blocks)
            return [first, last] if last[2] else None
    except UnreadableFileError as exc:
        return exc


def _parsed(
    texts: dict[str, tuple[str | None, Blocks]],
) -> tuple[pl.DataFrame, dict[str, UnreadableFileError]]:
    """The records of the files, in path then row order, and the files that cannot be read."""
    jsonl: dict[str, Blocks] = {}
    csv: dict[tuple[str, ...], dict[str, _Csv]] = {}
    alone: dict[str, tuple[str | None, Blocks]] = {}
    unreadable: dict[str, UnreadableFileError] = {}
    for path, (kind, blocks) in texts.items():
        if kind == "jsonl":
            jsonl[path] = blocks
            continue
        try:
            with reading(path):
                found = _csv_file(blocks)
        except UnreadableFileError as exc:
            unreadable[path] = exc
            continue
        if found is None:
            alone[path] = kind, blocks
        else:
            csv.setdefault(tuple(found.header), {})[path] = found
    frames = []
    groups = [("jsonl", jsonl, _jsonl)] + [("csv", files, partial(_csv, list(h))) for h, files in csv.items()]
    for kind, group, parse in groups:
        try:
            frame = parse(group) if group else None
        except PARSE_ERRORS:  # some file of the group makes its parser fail: each file decides alone
            frame = None
        if frame is None:
            alone.update((path, (kind, texts[path][1])) for path in group)
        else:
            frames.append(frame)
    for path, (kind, blocks) in alone.items():
        try:
            frames.extend(landed(path, kind, text_chunks(kind, iter(blocks))))
        except UnreadableFileError as exc:
            unreadable[path] = exc
    if not frames:
        return pl.DataFrame(schema=RAW_SCHEMA), unreadable
    records = pl.concat(frames, how="diagonal_relaxed")
    return records.sort("_source_file", "_source_row") if len(frames) > 1 else records, unreadable


def _jsonl(files: dict[str, Blocks]) -> pl.DataFrame | None:
    """The records of JSONL files parsed as one, or None when they have more extra names together
    than a chunk may keep as columns (each file alone may not: it decides)."""
    paths: list[str] = []
    rows: list[int] = []
    lines: list[str] = []
    for path, blocks in files.items():
        for first_line, block, _ in blocks:
            text = split_lines(block, first_line)
            paths += [path] * len(text)
            rows += range(first_line, first_line + len(text))
            lines += text
    received = pl.DataFrame(
        {"_source_file": paths, "_source_row": rows, "_raw_record": lines},
        schema={"_source_file": pl.String, "_source_row": pl.Int64, "_raw_record": pl.String},
    ).filter(pl.col("_raw_record").str.strip_chars() != "")
    # Parsed with the line's place in ``received`` as its row, then given its file and row back.
    records = jsonl_records(
        received.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("_source_row"), "_raw_record")
    )
    if EXTRAS in records.columns:
        return None
    at = records["_source_row"]
    placed = records.with_columns(_source_row=received["_source_row"].gather(at))
    return finished(placed.with_columns(_source_file=received["_source_file"].gather(at)), "jsonl")


@dataclass(frozen=True)
class _Csv:
    """A CSV file as ``csv_chunks`` finds its header, and the lines after it."""

    header: list[str]
    body: bytes | None
    """The bytes after a plain header (``plain_header``), for polars' native reader."""
    rows: list[int]
    lines: list[str]
    one_line_records: bool
    """Every line has an even number of quotes, so each line is one record."""


def _csv_file(blocks: Blocks) -> _Csv | None:
    """The file's header and lines, or None when it has no header line (blank) or its header is
    not plain and a record may span lines: ``csv_chunks`` reads it alone."""
    body, first, header = plain_header(b"".join(block for _, block, _ in blocks), 1)
    lines = split_lines(body, first)
    rows = list(range(first, first + len(lines)))
    one_line = not any(line.count('"') % 2 for line in lines)
    if header is not None:
        return _Csv(header, body, rows, lines, one_line)
    filled = (pl.Series(lines, dtype=pl.String).str.strip_chars() != "").arg_true()
    if not one_line or filled.is_empty():
        return None
    at = filled[0]  # the first non-blank record is the header
    return _Csv(header_names(lines[at]), None, rows[at + 1 :], lines[at + 1 :], one_line)


def _csv(header: list[str], files: dict[str, _Csv]) -> pl.DataFrame | None:
    """The records of CSV files with one header read as one: by polars' native reader when their
    bodies are plain, else line by line as ``csv_chunks`` splits records (each on one line), or
    None when a file's records may span lines."""
    records = None
    if all(f.body is not None for f in files.values()):
        whole = [f.body if f.body.endswith(b"\n") or not f.body else f.body + b"\n" for f in files.values()]
        records = plain_records(b"".join(whole), 0, header)
    if records is None:
        if not all(f.one_line_records for f in files.values()):
            return None
        lines = [line for f in files.values() for line in f.lines]
        numbered = pl.DataFrame({"_raw_record": lines}, schema={"_raw_record": pl.String})
        records = record_fields(
            numbered.with_row_index("_source_row").cast({"_source_row": pl.Int64}), header
        )
    # The rows are numbered by their place in the files' lines: they get their file and line back.
    at = records["_source_row"]
    paths = pl.Series([path for path, f in files.items() for _ in f.rows], dtype=pl.String)
    rows = pl.Series([row for f in files.values() for row in f.rows], dtype=pl.Int64)
    placed = records.with_columns(_source_row=rows.gather(at))
    return finished(placed.with_columns(_source_file=paths.gather(at)), "csv")
