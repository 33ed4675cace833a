"""Kafka messages -> landing files: one JSON trade per message, landed with its provenance.

A batch of one topic partition, offsets ``first`` to ``last``, becomes one JSON Lines file per UTC
day, ``trades/date=D/kafka-<topic>-p<partition>-<first>-<last>.jsonl`` (offsets zero-padded to
19 digits, so names sort in offset order). D is always a partition's day, from the start date to
the day the batch was consumed, so no message waits where no run reads it. The same messages,
start date and consumed day always give the same names and bytes: a batch re-read after a crash
(its days recorded with its range) overwrites its files with themselves.

Each line is the message with the ``_kafka_*`` provenance members appended inside its object (the
message's own text is kept; line breaks, which JSON allows only as whitespace outside strings,
become tabs). A message that is not a JSON object (invalid JSON, an array, empty), or that the
landing reader cannot read (nesting too deep for Python's parser, a lone surrogate escape in a
nested value), is landed as ``{"_kafka_...": ..., "_kafka_value": "<its text>"}`` and read back
as a malformed record: no message can stop its partition. Whether a message is an object, and
its ``timestamp``, are the landing reader's reading of it; a flat object with no escapes, by far
the usual message, is read by ``quick_objects``, which a property test holds to the reader.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import polars as pl

from trade_platform.core.lake_layout import day_folder
from trade_platform.core.landing.columns import KAFKA_VALUE
from trade_platform.core.landing.files import TRADES
from trade_platform.core.landing.jsonl_files import NESTED_FIELD, jsonl_records
from trade_platform.core.timestamps import canonical_instant, parse_timestamp

MESSAGE_SCHEMA: dict[str, pl.DataType] = {
    "topic": pl.String(),
    "partition": pl.Int64(),
    "offset": pl.Int64(),
    "timestamp_ms": pl.Int64(),
    "value": pl.String(),
}
"""A batch of consumed messages: ``timestamp_ms`` is the Kafka timestamp (null when the broker
gives none), ``value`` the message decoded as UTF-8 (bad bytes as U+FFFD, a null value as "")."""
OFFSET_DIGITS = 19  # an int64 offset
LOST_RANGES = "_kafka_lost"
"""Offsets that can no longer be landed (deleted by retention first) are recorded in each day's
``_kafka_lost/`` folder (``lost_range_file``)."""
UNREADABLE = "_unreadable"
"""Set on a message the landing reader fails on: it lands as text."""
FUTURE_LIMIT = "1d"
"""A trade stamped more than this after its message was produced is judged on the message's day."""
KAFKA_MS_RANGE = (0, 253_402_300_799_999)
"""Kafka timestamps outside 1970-9999 count as none (int64 milliseconds could overflow a date)."""
_STRING = r'"[^"\\\x00-\x1f]*"'
_SCALAR = rf"(?:{_STRING}|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)"
_MEMBER = rf"[ \t]*{_STRING}[ \t]*:[ \t]*{_SCALAR}[ \t]*"
QUICK_OBJECT = rf"^[ \t]*\{{(?:{_MEMBER}(?:,{_MEMBER})*|[ \t]*)\}}[ \t]*$"
"""Flat JSON as the grammar has it, in ASCII (``\\d`` and ``\\s`` would take other scripts'
digits and spaces), with no escape or control character."""
QUICK_TIMESTAMP = r'"timestamp"[ \t]*:[ \t]*("[^"]*"|null)'


def file_name(topic: str, partition: int, first: int, last: int) -> str:
    return f"kafka-{topic}-p{partition}-{first:0{OFFSET_DIGITS}d}-{last:0{OFFSET_DIGITS}d}.jsonl"


def lost_range_file(
    topic: str, partition: int, first: int, last: int, reason: str, detected_at: datetime
) -> tuple[str, bytes]:
    """(path below the landing root, content) recording offsets ``first``-``last`` (inclusive) of
    a topic partition as lost, in the folder of the day the loss was detected (a hidden folder:
    no run reads it as trades). The same range always has the same name."""
    detected_at = detected_at.astimezone(UTC)
    name = f"{topic}-p{partition}-{first:0{OFFSET_DIGITS}d}-{last:0{OFFSET_DIGITS}d}.json"
    record = {
        "topic": topic,
        "partition": partition,
        "first_offset": first,
        "last_offset": last,
        "reason": reason,
        "detected_at": detected_at.isoformat(),
    }
    return f"{TRADES}/{day_folder(detected_at.date())}/{LOST_RANGES}/{name}", json.dumps(record).encode()


def landing_files(messages: pl.DataFrame, start: date, consumed: date) -> dict[str, bytes]:
    """``{path below the landing root: content}`` of a batch of one topic partition consumed on
    day ``consumed``, the partitions being the days from ``start`` to ``consumed``. The consumer
    lands a batch a chunk at a time (``landed_lines``, then ``day_files``): the same bytes."""
    if messages.is_empty():
        return {}
    if messages.select(pl.n_unique("topic", "partition")).row(0) != (1, 1):
        raise ValueError("a landing batch holds the messages of one topic partition")
    messages = messages.cast(MESSAGE_SCHEMA).with_columns(pl.col("value").fill_null("")).sort("offset")
    topic, partition = messages.row(0)[:2]
    name = file_name(topic, partition, messages["offset"][0], messages["offset"][-1])
    return day_files(
        name, landed_lines(messages.with_columns(start=pl.lit(start), consumed=pl.lit(consumed)))
    )


def day_files(name: str, lines: pl.DataFrame) -> dict[str, bytes]:
    """``{path: content}`` of a batch's landed ``lines`` (``day``, ``line``, in offset order):
    one file ``name`` per day."""
    files = {}
    for (day,), part in lines.partition_by("day", as_dict=True, maintain_order=True).items():
        content = io.BytesIO()  # each line as it is, then a line break: no quoting, no header
        part.select("line").write_csv(content, include_header=False, quote_style="never")
        files[f"{TRADES}/{day_folder(day)}/{name}"] = content.getvalue()
    return dict(sorted(files.items()))


def landed_lines(messages: pl.DataFrame) -> pl.DataFrame:
    """``day`` and the landed ``line`` of each message, in the messages' order; each message is
    landed on its own, into the partitions from its ``start`` to its ``consumed`` day."""
    # A tab is JSON whitespace outside strings and an invalid control character inside them, as
    # a line break is: the one-line text is valid JSON exactly when the message is.
    one_line = messages["value"].str.replace_all(r"[\r\n]", "\t")
    records = _records(one_line)
    # One parser: a message is landed as an object exactly when the landing reader reads its line
    # as one (a nested trade field keeps its provenance), so no landed object loses it.
    is_object = records["_parse_error"].is_null() | records["_parse_error"].str.starts_with(NESTED_FIELD)
    trade_instant = pl.col("_instant")
    kafka_instant = pl.from_epoch(pl.col("timestamp_ms"), time_unit="ms").dt.replace_time_zone("UTC")
    provenance = pl.format(
        '"_kafka_topic":"{}","_kafka_partition":{},"_kafka_offset":{},"_kafka_timestamp":{}',
        "topic",  # Kafka topic names are [a-zA-Z0-9._-]: nothing to escape
        "partition",
        "offset",
        pl.when(pl.col("timestamp_ms").is_not_null())
        .then(pl.format('"{}"', kafka_instant.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")))
        .otherwise(pl.lit("null")),
    )
    # A Kafka timestamp outside the partitions (a producer clock in seconds) tells nothing.
    start, consumed = pl.col("start"), pl.col("consumed")
    kafka_day = pl.when(kafka_instant.dt.date().is_between(start, consumed)).then(kafka_instant.dt.date())
    trade_day = pl.when(
        pl.col("_is_object")
        & pl.col("_parsed")
        & (kafka_day.is_null() | (trade_instant <= kafka_instant.dt.offset_by(FUTURE_LIMIT)))
    ).then(trade_instant.dt.date())
    candidate = pl.coalesce(trade_day, kafka_day)
    body = pl.col("_one_line").str.strip_chars().str.strip_suffix("}").str.strip_chars_end()
    frame = messages.with_columns(
        pl.when(pl.col("timestamp_ms").is_between(*KAFKA_MS_RANGE)).then("timestamp_ms"),
        _one_line=one_line,
        _is_object=is_object,
        _parsed=records["_parse_error"].is_null(),
        _instant=_instants(records["timestamp"].cast(pl.String).str.strip_chars()),  # all null: of no type
    )
    lines = frame.select(
        day=pl.when(candidate.is_between(start, consumed)).then(candidate).otherwise(consumed),
        line=pl.concat_str(
            body,
            pl.when(body.str.ends_with("{")).then(pl.lit("")).otherwise(pl.lit(",")),
            provenance,
            pl.lit("}"),
        ),
    )
    texts = (~is_object).arg_true()  # few: each lands as its text
    if texts.is_empty():
        return lines
    as_text = pl.struct(pl.col("value").alias(KAFKA_VALUE)).struct.json_encode().str.strip_prefix("{")
    landed_texts = frame[texts].select(pl.concat_str(pl.lit("{"), provenance, pl.lit(","), as_text))
    return lines.with_columns(lines["line"].scatter(texts, landed_texts.to_series()))


def quick_objects(one_line: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(is a quick object, its ``timestamp``): a line of flat JSON (strings, numbers, literals;
    no escape, no control character) whose only mention of ``timestamp`` in any case is the key
    ``"timestamp"`` with a string or null value, or that has none. The landing reader reads such a
    line as an object with this ``timestamp`` (``core/test_kafka_message_properties.py``
    proves they agree); every other line is left to it."""
    line = pl.lit(one_line)
    found = pl.select(
        flat=line.str.contains(QUICK_OBJECT),
        mentions=line.str.count_matches("(?i)timestamp"),
        member=line.str.extract(QUICK_TIMESTAMP, 1),  # '"text"' or 'null'
    )
    quick = found["flat"] & (
        (found["mentions"] == 0) | ((found["mentions"] == 1) & found["member"].is_not_null())
    )
    timestamp = found["member"].str.strip_prefix('"').str.strip_suffix('"')
    return quick, timestamp.set(found["member"] == "null", None)


def _records(one_line: pl.Series) -> pl.DataFrame:
    """``_parse_error`` and ``timestamp`` of each line as the landing reader reads it."""
    quick, timestamp = quick_objects(one_line)
    records = pl.DataFrame(
        {"_parse_error": pl.Series([None] * len(one_line), dtype=pl.String), "timestamp": timestamp}
    )
    rest = (~quick).arg_true()
    if rest.is_empty():
        return records
    read = _readable_records(
        pl.DataFrame({"_source_row": rest.cast(pl.Int64), "_raw_record": one_line.gather(rest)})
    )
    read = read.select(
        "_parse_error",
        pl.col("timestamp").cast(pl.String)
        if "timestamp" in read.columns
        else pl.lit(None, pl.String).alias("timestamp"),
    )
    return records.with_columns(
        records["_parse_error"].scatter(rest, read["_parse_error"]),
        records["timestamp"].scatter(rest, read["timestamp"]),
    )


def _instants(text: pl.Series) -> pl.Series:
    """The UTC instants of trade timestamps, read as validation reads them."""
    instant = pl.select(canonical_instant(pl.lit(text))).to_series()
    rest = (instant.is_null() & text.is_not_null()).arg_true()
    if rest.is_empty():
        return instant
    return instant.scatter(rest, pl.select(parse_timestamp(pl.lit(text.gather(rest)))[0]).to_series())


def _readable_records(lines: pl.DataFrame) -> pl.DataFrame:
    """The landing reader's records of the lines; a line it fails on (any error: the message
    must land all the same) has ``UNREADABLE`` set. Failing batches are bisected to find them."""
    try:
        return jsonl_records(lines)
    except Exception as exc:  # whatever the reader cannot read lands as text
        if lines.height == 1:
            return lines.with_columns(
                _parse_error=pl.lit("unreadable"), **{UNREADABLE: pl.lit(type(exc).__name__)}
            )
        half = lines.height // 2
        parts = [_readable_records(lines.slice(0, half)), _readable_records(lines.slice(half))]
        return pl.concat(parts, how="diagonal_relaxed")
