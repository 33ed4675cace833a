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
from functools import partial

import polars as pl

from trade_platform.core.landing.columns import EXTRAS, PARSE_ERRORS, UnreadableFileError, split_lines
from trade_platform.core.landing.csv_files import plain_header, plain_records
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
    csv: dict[tuple[str, ...], dict[str, bytes]] = {}
    alone: dict[str, tuple[str | None, Blocks]] = {}
    unreadable: dict[str, UnreadableFileError] = {}
    for path, (kind, blocks) in texts.items():
        if kind == "jsonl":
            jsonl[path] = blocks
            continue
        try:
            with reading(path):
                body, _, header = plain_header(b"".join(block for _, block, _ in blocks), 1)
        except UnreadableFileError as exc:
            unreadable[path] = exc
            continue
        if header is None:
            alone[path] = kind, blocks
        else:
            csv.setdefault(tuple(header), {})[path] = body
    frames = []
    groups = [("jsonl", jsonl, _jsonl)] + [
        ("csv", bodies, partial(_csv, list(h))) for h, bodies in csv.items()
    ]
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


def _csv(header: list[str], bodies: dict[str, bytes]) -> pl.DataFrame | None:
    """The records of CSV files with one plain header, their bodies read as one by polars' native
    reader, or None when that body is not plain (``plain_records``)."""
    whole = [body if body.endswith(b"\n") or not body else body + b"\n" for body in bodies.values()]
    records = plain_records(b"".join(whole), 0, header)
    if records is None:
        return None
    counts = [body.count(b"\n") for body in whole]
    paths = [path for path, n in zip(bodies, counts, strict=True) for _ in range(n)]
    rows = [row for n in counts for row in range(2, 2 + n)]  # the header is line 1
    placed = records.with_columns(_source_row=pl.Series(rows, dtype=pl.Int64))
    return finished(placed.with_columns(_source_file=pl.Series(paths, dtype=pl.String)), "csv")
