"""The names landed records are stored under, the same for every format.

Landing fields (the trade fields and the optional identifying fields) are matched
case-insensitively after trimming and stored in lower case; any other column is an extra, kept
under its trimmed name. An extra without a name is ``column_<n>`` (its 1-based position), and
an extra named like a column of the platform (``date``, or any name that starts with ``_``) is
kept as ``extra_<name>``, so no landed name can collide with ours. A made-up name never takes
another column's name: it gets ``extra_`` prefixed until it is free (``date`` beside
``extra_date`` is ``extra_extra_date``). The Kafka provenance names (``KAFKA_COLUMNS`` and
``KAFKA_VALUE``, written by the Kafka consumer) are the one exception: they are kept as they
are. When a name occurs twice in one header or record, the last occurrence counts (as JSON
parsers decide); the record as received is kept in ``_raw_record`` either way.

A chunk with more than ``MAX_EXTRA_COLUMNS`` distinct extra names keeps its extras as one JSON
object per record in ``EXTRAS`` instead, so that a column per name (mostly nulls when each
record has its own names) never makes reading cost quadratic.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Sequence

import polars as pl
import pyarrow as pa

from trade_platform.core.lake_layout import PARTITION_COLUMN

TRADE_FIELDS: tuple[str, ...] = (
    "trade_id",
    "symbol",
    "side",
    "price",
    "quantity",
    "timestamp",
    "exchange",
)
IDENTITY_FIELDS: tuple[str, ...] = ("account_id", "trader_id")
"""Optional columns that identify people: kept as received in raw_trades, tokens downstream."""
LANDING_FIELDS: tuple[str, ...] = (*TRADE_FIELDS, *IDENTITY_FIELDS)
PROVENANCE_COLUMNS: tuple[str, ...] = ("_source_file", "_source_row", "_raw_record", "_parse_error")
KAFKA_COLUMNS: tuple[str, ...] = ("_kafka_topic", "_kafka_partition", "_kafka_offset", "_kafka_timestamp")
"""Where a record consumed from Kafka came from; ``raw_trades`` keeps them after the provenance."""
KAFKA_VALUE = "_kafka_value"
"""A Kafka message that is not a JSON object, landed as its text (``core.kafka.messages``)."""
RESERVED_PREFIX = "_"
MAX_EXTRA_COLUMNS = 100
EXTRAS = "_extras"
"""A record's extras as a JSON object of their text values (those not null), in the order received."""


NOT_EXTRAS = frozenset((*LANDING_FIELDS, *PROVENANCE_COLUMNS, *KAFKA_COLUMNS, KAFKA_VALUE, EXTRAS))

PARSE_ERRORS = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,  # polars' Rust code gave up (e.g. on decimal256)
    pa.ArrowException,
    csv.Error,
    ValueError,  # json's JSONDecodeError, UnicodeError (a lone surrogate), bad numbers
    RecursionError,  # nesting deeper than a decoder's recursion allows
    OverflowError,
)
"""What parsers and converters raise on content they cannot turn into text: it costs the record,
the column or the file, never the run. Other errors (TypeError, KeyError, RuntimeError...) are
bugs in our code and fail the run."""


class UnreadableFileError(Exception):
    """The file as a whole cannot be read (corrupt gzip or Parquet, no header); the message says why."""


def column_name(received: str, position: int) -> str:
    """The name a column is stored under when no other column of its header or record takes it."""
    name = received.strip()
    if name.lower() in LANDING_FIELDS:
        return name.lower()
    if not name:
        return f"column_{position}"
    if name in KAFKA_COLUMNS or name == KAFKA_VALUE:
        return name
    if name.lower() == PARTITION_COLUMN or name.startswith(RESERVED_PREFIX):
        return f"extra_{name}"
    return name


def column_names(received: Sequence[str]) -> list[str]:
    """``column_name`` of each, a made-up name prefixed with ``extra_`` until no other takes it."""
    names = [column_name(name, position) for position, name in enumerate(received, start=1)]
    made_up = [
        name not in LANDING_FIELDS and name != given.strip()
        for name, given in zip(names, received, strict=True)
    ]
    taken = {name for name, new in zip(names, made_up, strict=True) if not new}
    chosen: dict[str | int, str] = {}
    for index, (name, given) in enumerate(zip(names, received, strict=True)):
        if not made_up[index]:
            continue
        key = given.strip() or index  # a repeated name is one column, each unnamed one its own
        if key not in chosen:
            chosen[key] = free_name(name, taken)
            taken.add(chosen[key])
        names[index] = chosen[key]
    return names


def free_name(name: str, taken: Collection[str]) -> str:
    """``name``, or ``extra_`` prefixed to it as often as it takes to be none of ``taken``."""
    while name in taken:
        name = f"extra_{name}"
    return name


def is_extra(name: str) -> bool:
    return name not in NOT_EXTRAS


def collapse_extras(records: pl.DataFrame) -> pl.DataFrame:
    """The records with their extras in ``EXTRAS`` when there are more than ``MAX_EXTRA_COLUMNS``
    (one pass over the values, long format: linear in the cells)."""
    extras = [name for name in records.columns if is_extra(name)]
    if len(extras) <= MAX_EXTRA_COLUMNS:
        return records
    keys = {name: json.dumps(name, ensure_ascii=False) + ":" for name in extras}
    members = (
        records.select(extras)
        .with_row_index("_row")
        .unpivot(index="_row", variable_name="_name", value_name="_value")
        .drop_nulls("_value")
        .select(  # '"name":"value"': a one-field struct's JSON {"_value":...} cut to the value
            "_row",
            _member=pl.col("_name").replace_strict(keys, return_dtype=pl.String)
            + pl.struct("_value").struct.json_encode().str.slice(len('{"_value":')).str.head(-1),
        )
        .group_by("_row")
        .agg(("{" + pl.col("_member").str.join(",") + "}").alias(EXTRAS))
    )
    rows = records.drop(extras).with_row_index("_row")
    return rows.join(members, on="_row", how="left", maintain_order="left").drop("_row")


def names_trade_field(names: Sequence[str]) -> bool:
    return any(name in TRADE_FIELDS for name in names)


def kept_columns(names: Sequence[str]) -> list[tuple[int, str]]:
    """(position, name) of each column to keep: a name given twice counts at its last position."""
    last = {name: i for i, name in enumerate(names)}
    return [(i, name) for i, name in enumerate(names) if last[name] == i]


def text_lines(block: bytes, first_line: int) -> pl.DataFrame:
    """``_source_row`` and ``_line`` of each line of a block of whole lines (``split_lines``)."""
    lines = split_lines(block, first_line)
    return pl.DataFrame({"_line": lines}, schema={"_line": pl.String}).select(
        pl.int_range(first_line, first_line + len(lines), dtype=pl.Int64).alias("_source_row"), "_line"
    )


def split_lines(block: bytes, first_line: int) -> list[str]:
    """The lines of a block of whole lines: ``\\r\\n``, ``\\r`` and ``\\n`` each end a line; bad
    UTF-8 bytes become U+FFFD; a BOM opening the file is dropped."""
    text = block.decode("utf-8", errors="replace")
    if first_line == 1:
        text = text.removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":  # the break that ends the block's last line
        lines.pop()
    return lines


def line_breaks(block: bytes) -> int:
    """How many lines ``text_lines`` finds in a block that ends with a line break."""
    return block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
