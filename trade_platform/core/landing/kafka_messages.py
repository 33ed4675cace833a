"""Kafka messages -> landing files: one JSON trade per message, landed with its provenance.

A batch of one topic partition, offsets ``first`` to ``last``, becomes one JSON Lines file per UTC
day, ``trades/date=D/kafka-<topic>-p<partition>-<first>-<last>.jsonl`` (offsets zero-padded to
19 digits, so names sort in offset order), where D is the day of the trade's own ``timestamp``
read exactly as validation reads it, or, when it cannot be read (or lies more than a day after the
message's own), the day of the message's Kafka timestamp, so validation dead-letters the record in
that partition. The same messages always give
the same names and bytes: a batch re-read after a crash overwrites its files with themselves.

Each line is the message with the ``_kafka_*`` provenance members appended inside its object (the
message's own text is kept; line breaks, which JSON allows only as whitespace outside strings,
become spaces). A message that is not a JSON object (invalid JSON, an array, empty) is landed as
``{"_kafka_...": ..., "_kafka_value": "<its text>"}`` and read back as a malformed record.
"""

from __future__ import annotations

import json

import polars as pl

from trade_platform.core.landing.columns import KAFKA_VALUE
from trade_platform.core.landing.files import TRADES
from trade_platform.core.landing.jsonl_files import jsonl_records
from trade_platform.core.timestamps import parse_timestamp

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
FUTURE_LIMIT = "1d"
"""A trade stamped more than this after its message cannot belong to that day (it would wait in a
future day's folder): it lands on the message's day, where validation dead-letters it."""


def file_name(topic: str, partition: int, first: int, last: int) -> str:
    return f"kafka-{topic}-p{partition}-{first:0{OFFSET_DIGITS}d}-{last:0{OFFSET_DIGITS}d}.jsonl"


def landing_files(messages: pl.DataFrame) -> dict[str, bytes]:
    """``{path below the landing root: content}`` of a batch of one topic partition."""
    if messages.is_empty():
        return {}
    if messages.select(pl.n_unique("topic", "partition")).row(0) != (1, 1):
        raise ValueError("a landing batch holds the messages of one topic partition")
    messages = messages.cast(MESSAGE_SCHEMA).with_columns(pl.col("value").fill_null("")).sort("offset")
    topic, partition = messages.row(0)[:2]
    name = file_name(topic, partition, messages["offset"][0], messages["offset"][-1])
    by_day = landed_lines(messages).partition_by("day", as_dict=True, maintain_order=True)
    files = {
        f"{TRADES}/date={day}/{name}": ("\n".join(part["line"]) + "\n").encode()
        for (day,), part in by_day.items()
    }
    return dict(sorted(files.items()))


def landed_lines(messages: pl.DataFrame) -> pl.DataFrame:
    """``day`` and the landed ``line`` of each message, in the messages' order."""
    one_line = messages["value"].str.replace_all(r"[\r\n]", " ")
    records = jsonl_records(
        pl.DataFrame({"_source_row": pl.int_range(messages.height, eager=True), "_raw_record": one_line})
    )
    if "timestamp" not in records.columns:
        records = records.with_columns(timestamp=pl.lit(None, pl.String))
    # The bulk reader settles the usual case; the few others (rejected by it, or with line breaks)
    # are judged by Python's parser on the text as received.
    settled = records["_parse_error"].is_null() & (one_line == messages["value"])
    unsettled = messages["value"].filter(~settled)
    is_object = settled.scatter(
        settled.not_().arg_true(),
        pl.Series([_parses_as_object(text) for text in unsettled], dtype=pl.Boolean),
    )
    trade_instant, _ = parse_timestamp(pl.col("_timestamp").str.strip_chars())
    kafka_instant = pl.from_epoch(pl.col("timestamp_ms").fill_null(0), time_unit="ms").dt.replace_time_zone(
        "UTC"
    )
    provenance = pl.format(
        '"_kafka_topic":"{}","_kafka_partition":{},"_kafka_offset":{},"_kafka_timestamp":{}',
        "topic",  # Kafka topic names are [a-zA-Z0-9._-]: nothing to escape
        "partition",
        "offset",
        pl.when(pl.col("timestamp_ms").is_not_null())
        .then(pl.format('"{}"', kafka_instant.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")))
        .otherwise(pl.lit("null")),
    )
    body = pl.col("_one_line").str.strip_chars().str.strip_suffix("}").str.strip_chars_end()
    as_text = pl.struct(pl.col("value").alias(KAFKA_VALUE)).struct.json_encode().str.strip_prefix("{")
    return messages.with_columns(
        _one_line=one_line,
        _is_object=is_object,
        _parsed=records["_parse_error"].is_null(),
        _timestamp=records["timestamp"],
    ).select(
        day=pl.coalesce(
            pl.when(
                pl.col("_is_object")
                & pl.col("_parsed")
                & (
                    pl.col("timestamp_ms").is_null()
                    | (trade_instant <= kafka_instant.dt.offset_by(FUTURE_LIMIT))
                )
            ).then(trade_instant.dt.date()),
            kafka_instant.dt.date(),
        ),
        line=pl.when(pl.col("_is_object"))
        .then(
            pl.concat_str(
                body,
                pl.when(body.str.ends_with("{")).then(pl.lit("")).otherwise(pl.lit(",")),
                provenance,
                pl.lit("}"),
            )
        )
        .otherwise(pl.concat_str(pl.lit("{"), provenance, pl.lit(","), as_text)),
    )


def _parses_as_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
