"""CSV landing files (RFC 4180) as raw records, a block of whole lines at a time.

The first non-blank record is the header; it must name at least one trade field, or the file is
unreadable (a file without a header would otherwise lose its first record to it). A record ends
at a line break outside double quotes, so a quoted field may hold commas, doubled quotes and line
breaks; ``_source_row`` is the line the record starts on and ``_raw_record`` its text as received
(line breaks as ``\\n``). A record whose quote never closes, or whose quoted field runs over
``MAX_RECORD_LINES`` lines, is not taken as one record: its first line is malformed and reading
goes on at the next line. A record with another number of fields than the header, or with a quote
inside an unquoted field, is malformed too. Nothing is ever dropped: every non-blank line is in
exactly one record.

Plain blocks (valid UTF-8 without quotes, carriage returns or blank lines, by far the usual case)
are read by polars' native reader; the result is the same as the general path's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

import polars as pl

from trade_platform.core.landing.columns import (
    PARSE_ERRORS,
    UnreadableFileError,
    column_names,
    kept_columns,
    names_trade_field,
    text_lines,
)

MAX_RECORD_LINES = 50
"""The most lines one record may span (quoted line breaks); beyond it, the quote is taken as stray."""
_QUOTED = r'"(?:[^"]|"")*"'
_FIELD = rf'(?:{_QUOTED}|[^",]*)'
RFC_4180_RECORD = rf"^{_FIELD}(?:,{_FIELD})*$"
"""Every field quoted whole or free of quotes: only such a record is split (by either reader)."""
LINES_SCHEMA = {"_source_row": pl.Int64(), "_line": pl.String()}
NOT_RFC_4180 = "CSV record's quoting does not follow RFC 4180"


def csv_chunks(blocks: Iterable[tuple[int, bytes, bool]]) -> Iterator[pl.DataFrame]:
    """Records of each block (``(first line number, bytes of whole lines, is last)``)."""
    header: list[str] | None = None
    carry = pl.DataFrame(schema=LINES_SCHEMA)
    for first_line, block, final in blocks:
        if header is None and carry.is_empty():
            block, first_line, header = plain_header(block, first_line)
        if header is not None and carry.is_empty():
            plain = plain_records(block, first_line, header)
            if plain is not None:
                yield plain
                continue
        lines = pl.concat([carry, text_lines(block, first_line)])
        records, malformed, carry = group_records(lines, final)
        if header is None:
            records = records.filter(pl.col("_raw_record").str.strip_chars() != "")
            if records.is_empty() and malformed.is_empty():
                continue
            first_malformed = malformed["_source_row"].min() if malformed.height else None
            if records.is_empty() or (
                first_malformed is not None and first_malformed < records["_source_row"][0]
            ):
                raise UnreadableFileError("the header line has an unterminated quote")
            header = header_names(records["_raw_record"][0])
            records = records.slice(1)
        yield record_fields(records, header, malformed)


def group_records(lines: pl.DataFrame, final: bool) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Lines -> (records with ``_source_row``/``_raw_record``, malformed first lines, lines to carry).

    A line ends its record when the quotes so far are balanced. An open record at the end of a
    block that is not the last is carried to the next block.
    """
    done, malformed = [], []
    while lines.height:
        quotes = pl.col("_line").str.count_matches('"', literal=True).cum_sum()
        grouped = (
            lines.with_columns(_open=quotes % 2 == 1)
            .with_columns(_record=pl.col("_open").shift(1, fill_value=False).not_().cum_sum())
            .group_by("_record", maintain_order=True)
            .agg(
                pl.col("_source_row").first(),
                pl.col("_line").str.join("\n").alias("_raw_record"),
                _lines=pl.len(),
                _open=pl.col("_open").last(),
            )
            .with_row_index("_at")
        )
        bad = grouped.filter(pl.col("_open") | (pl.col("_lines") > MAX_RECORD_LINES)).head(1)
        if bad.is_empty():
            done.append(grouped)
            lines = lines.clear()
            break
        at, first_row, size = bad["_at"][0], bad["_source_row"][0], bad["_lines"][0]
        done.append(grouped.slice(0, at))
        if at == grouped.height - 1 and not final and size <= MAX_RECORD_LINES:
            return _records(done), _malformed(malformed), lines.filter(pl.col("_source_row") >= first_row)
        reason = (
            "an unterminated quote" if bad["_open"][0] else f"a quoted field over {MAX_RECORD_LINES} lines"
        )
        malformed.append(
            lines.filter(pl.col("_source_row") == first_row).select(
                "_source_row", _raw_record="_line", _parse_error=pl.lit(f"CSV record has {reason}")
            )
        )
        lines = lines.filter(pl.col("_source_row") > first_row)
    return _records(done), _malformed(malformed), lines


def _records(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return (
        pl.concat([f.select("_source_row", "_raw_record") for f in frames])
        if frames
        else pl.DataFrame(schema={"_source_row": pl.Int64, "_raw_record": pl.String})
    )


def _malformed(frames: list[pl.DataFrame]) -> pl.DataFrame:
    schema = {"_source_row": pl.Int64, "_raw_record": pl.String, "_parse_error": pl.String}
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def plain_header(block: bytes, first_line: int) -> tuple[bytes, int, list[str] | None]:
    """A first line without quotes or carriage returns is the header: split it off the block."""
    if first_line == 1:
        block = block.removeprefix(b"\xef\xbb\xbf")
    head, _, rest = block.partition(b"\n")
    if not head.strip() or b'"' in head or b"\r" in head:
        return block, first_line, None
    return rest, first_line + 1, header_names(head.decode("utf-8", errors="replace"))


def header_names(text: str) -> list[str]:
    names = column_names(next(csv.reader(io.StringIO(text))))
    if not names_trade_field(names):
        raise UnreadableFileError(
            "the first line is not a header: it names none of the trade fields "
            "(a file's first line must be its header)"
        )
    return names


def record_fields(
    records: pl.DataFrame, header: list[str], malformed: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Each record split into the header's fields, or malformed with the reason (a record is
    decided on its own); ``malformed`` records join them in row order."""
    records = records.filter(pl.col("_raw_record").str.strip_chars() != "")
    unquoted = pl.col("_raw_record").str.replace_all(_QUOTED, "")
    records = records.with_columns(
        _stray=unquoted.str.contains('"', literal=True),
        _rfc=pl.col("_raw_record").str.contains(RFC_4180_RECORD),
        _count=unquoted.str.count_matches(",", literal=True) + 1,
    )
    expected = len(header)
    good = records.filter(pl.col("_rfc") & (pl.col("_count") == expected))
    bad = records.filter(~pl.col("_rfc") | (pl.col("_count") != expected)).select(
        "_source_row",
        "_raw_record",
        _parse_error=pl.when("_stray")
        .then(pl.lit("CSV record has a quote inside an unquoted field"))
        .when(~pl.col("_rfc"))
        .then(pl.lit(NOT_RFC_4180))
        .otherwise(pl.format(f"CSV row has {{}} fields, header has {expected}", "_count")),
    )
    values, resolved = _split(good["_raw_record"], expected)
    fields = [pl.Series(name, values[i], pl.String).replace("", None) for i, name in kept_columns(header)]
    parsed = good.select("_source_row", "_raw_record").with_columns(
        fields,
        _parse_error=pl.when(pl.Series(resolved, dtype=pl.Boolean))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.lit(NOT_RFC_4180)),
    )
    return pl.concat([parsed, bad, *([] if malformed is None else [malformed])], how="diagonal_relaxed").sort(
        "_source_row"
    )


def _split(records: pl.Series, width: int) -> tuple[list[list[str | None]], list[bool]]:
    """The fields of the records (each ``RFC_4180_RECORD``), column by column, and whether each
    record could be split.

    polars reads them all at once; when it cannot, each record is split on its own by Python's
    strict CSV reader, so a record that still does not split into ``width`` fields is malformed
    alone. Either way a record gives the same fields: it was checked before (``record_fields``),
    not left to the leniency of whichever reader its neighbours chose.
    """
    if records.is_empty():
        return [[] for _ in range(width)], []
    try:
        table = pl.read_csv(
            io.StringIO("\n".join(records.to_list()) + "\n"),
            has_header=False,
            new_columns=[f"f{i}" for i in range(width)],
            infer_schema=False,
            quote_char='"',
        )
        if table.height == records.len():
            return [table[column].to_list() for column in table.columns], [True] * records.len()
    except PARSE_ERRORS:
        pass
    rows, resolved = [], []
    for record in records.to_list():  # unusual quoting only
        try:
            fields = next(csv.reader(io.StringIO(record), strict=True))
        except csv.Error:
            fields = []
        resolved.append(len(fields) == width)
        rows.append(fields if len(fields) == width else [None] * width)
    return [list(column) for column in zip(*rows, strict=True)], resolved


def plain_records(block: bytes, first_line: int, header: list[str]) -> pl.DataFrame | None:
    """The block's records by polars' native reader, or None when the block is not plain."""
    if not block or any(byte in block for byte in (b'"', b"\r", b"\x1f")):
        return None
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return None
    n_lines = block.count(b"\n") + (not block.endswith(b"\n"))
    options = {"has_header": False, "quote_char": None, "infer_schema": False}
    try:
        lines = pl.read_csv(block, separator="\x1f", new_columns=["_raw_record"], **options)
    except PARSE_ERRORS:  # whatever polars' reader rejects, the general path reads line by line
        return None
    if lines.height != n_lines or (lines["_raw_record"].str.strip_chars().fill_null("") == "").any():
        return None
    expected = len(header)
    # A first line as wide as the header fixes the width; longer rows are cut, shorter padded
    # (both are malformed by their comma count below).
    widths = ",".join(str(i) for i in range(expected)).encode() + b"\n"
    try:
        values = pl.read_csv(widths + block, truncate_ragged_lines=True, **options).slice(1)
    except PARSE_ERRORS:
        return None
    if values.height != n_lines or values.width != expected:
        return None
    values.columns = [f"f{i}" for i in range(expected)]
    ok = pl.col("_count") == expected
    return (
        pl.concat([lines, values], how="horizontal")
        .lazy()
        .with_row_index("_source_row", offset=first_line)
        .with_columns(_count=pl.col("_raw_record").str.count_matches(",", literal=True) + 1)
        .select(
            pl.col("_source_row").cast(pl.Int64),
            "_raw_record",
            *[
                pl.when(ok).then(pl.col(f"f{i}").replace("", None)).alias(name)
                for i, name in kept_columns(header)
            ],
            _parse_error=pl.when(~ok).then(
                pl.format(f"CSV row has {{}} fields, header has {expected}", "_count")
            ),
        )
        .collect(engine="in-memory")
    )
