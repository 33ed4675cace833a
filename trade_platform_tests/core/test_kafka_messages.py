"""Kafka messages -> landing files, read back by the landing reader (no broker needed here)."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from trade_platform.core.kafka.messages import (
    MESSAGE_SCHEMA,
    day_files,
    file_name,
    landed_lines,
    landing_files,
)
from trade_platform.core.landing.files import LandingFile, iter_landing_file
from trade_platform.core.validation import split_trades

PRODUCED_AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
PRODUCED_MS = int(PRODUCED_AT.timestamp() * 1000)
START, CONSUMED = date(2026, 11, 1), date(2026, 12, 1)
"""The partitions: START (``TRADE_PLATFORM_START_DATE``) to the day the batch is consumed."""
GOOD = {
    "trade_id": "T1",
    "symbol": "AAA",
    "side": "buy",
    "price": "1.5",
    "quantity": 2,
    "timestamp": "2026-11-28T23:59:59.5Z",
    "exchange": "X",
}


def messages(
    *values: str | None, partition: int = 3, first: int = 100, kafka_ms: int | None = PRODUCED_MS
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "topic": "trades",
            "partition": partition,
            "offset": range(first, first + len(values)),
            "timestamp_ms": [kafka_ms] * len(values),
            "value": list(values),
        },
        schema=MESSAGE_SCHEMA,
    )


def land(tmp_path: Path, batch: pl.DataFrame) -> pl.DataFrame:
    """Write the batch's files and read them back as the pipeline does (with ``date``)."""
    frames = []
    for relative, payload in landing_files(batch, START, CONSUMED).items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        day = relative.split("/")[1].removeprefix("date=")
        for chunk in iter_landing_file(LandingFile(str(path), relative, len(payload))):
            frames.append(chunk.with_columns(date=pl.lit(day).str.to_date()))
    return pl.concat(frames, how="diagonal_relaxed").sort("_kafka_offset")


def test_files_are_named_from_topic_partition_and_offsets_and_sort_in_offset_order():
    assert file_name("trades", 3, 100, 109) == (
        "kafka-trades-p3-0000000000000000100-0000000000000000109.jsonl"
    )
    assert file_name("t", 0, 99, 99) < file_name("t", 0, 100, 100)


def test_each_trade_lands_on_its_own_utc_day_with_its_provenance(tmp_path):
    batch = messages(
        json.dumps(GOOD),
        json.dumps({**GOOD, "trade_id": "T2", "timestamp": "2026-11-29T00:30:00+01:00"}),  # 28th, UTC
        json.dumps({**GOOD, "trade_id": "T3", "timestamp": "2026-11-29T00:00:00Z"}),
    )
    files = landing_files(batch, START, CONSUMED)
    name = file_name("trades", 3, 100, 102)
    assert sorted(files) == [f"trades/date=2026-11-28/{name}", f"trades/date=2026-11-29/{name}"]
    landed = land(tmp_path, batch)
    assert landed["trade_id"].to_list() == ["T1", "T2", "T3"]
    assert landed["date"].cast(pl.String).to_list() == ["2026-11-28", "2026-11-28", "2026-11-29"]
    assert landed.schema["_kafka_offset"] == pl.Int64 and landed.schema["_kafka_partition"] == pl.Int64
    assert landed["_kafka_offset"].to_list() == [100, 101, 102]
    assert set(landed["_kafka_topic"]) == {"trades"} and set(landed["_kafka_partition"]) == {3}
    assert set(landed["_kafka_timestamp"]) == {PRODUCED_AT}
    split = split_trades(landed, now=PRODUCED_AT, run_id="r")
    assert split.validated.height == 3, split.dlq["error"].to_list()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("not json {", "invalid JSON"),
        ('{"trade_id": "T9", "symbol": "A\nB"}', "a line break inside a string"),
        ("[1, 2]", "an array"),
        ("", "an empty message"),
        (None, "a null message"),
        ("\x00\x01 binary", "control characters"),
    ],
)
def test_a_message_that_is_not_a_json_object_lands_as_its_text_and_is_malformed(tmp_path, value, kind):
    landed = land(tmp_path, messages(value))
    assert landed.height == 1
    record = landed.row(0, named=True)
    assert record["_raw_record"] == (value or ""), kind
    assert record["_parse_error"] == "the Kafka message is not a JSON object"
    assert record["_kafka_offset"] == 100
    assert record["date"] == PRODUCED_AT.date()  # its Kafka timestamp's day
    split = split_trades(landed, now=PRODUCED_AT, run_id="r")
    assert split.dlq["error_codes"].to_list() == [["malformed_record"]]


def test_an_unreadable_or_far_future_timestamp_lands_on_the_messages_day(tmp_path):
    batch = messages(
        json.dumps({**GOOD, "timestamp": "yesterday at noon"}),
        json.dumps({**GOOD, "trade_id": "T2", "timestamp": "2999-01-01T00:00:00Z"}),
        json.dumps({**GOOD, "trade_id": "T3", "timestamp": "2026-11-28T10:00:00"}),  # no zone
        json.dumps({**GOOD, "trade_id": "T4", "timestamp": {"nested": 1}}),
    )
    landed = land(tmp_path, batch)
    assert set(landed["date"]) == {PRODUCED_AT.date()}
    codes = split_trades(landed, now=PRODUCED_AT, run_id="r").dlq["error_codes"].to_list()
    assert codes == [
        ["invalid_timestamp"],
        ["timestamp_in_future", "timestamp_outside_partition"],
        ["timestamp_no_timezone"],
        ["malformed_record"],
    ]
    assert landed["_kafka_offset"].to_list() == [100, 101, 102, 103]  # nested values keep provenance


def test_a_pretty_printed_object_lands_on_one_line_with_its_fields(tmp_path):
    landed = land(tmp_path, messages(json.dumps(GOOD, indent=2)))
    assert landed["trade_id"].to_list() == ["T1"] and landed["_parse_error"].to_list() == [None]


def test_a_messages_own_kafka_fields_cannot_hide_its_provenance(tmp_path):
    landed = land(tmp_path, messages(json.dumps({**GOOD, "_kafka_offset": 5, "_other": "x"})))
    assert landed["_kafka_offset"].to_list() == [100]
    assert landed["extra__other"].to_list() == ["x"]
    assert '"_kafka_offset": 5' in landed["_raw_record"][0]  # kept as received


def test_the_same_messages_give_the_same_files_byte_for_byte():
    batch = messages(json.dumps(GOOD), "not json", json.dumps({**GOOD, "trade_id": "T2"}))
    shuffled = batch.sample(fraction=1.0, shuffle=True, seed=1)
    assert landing_files(batch, START, CONSUMED) == landing_files(shuffled, START, CONSUMED)


def test_a_batch_mixing_partitions_is_refused():
    batch = pl.concat([messages(json.dumps(GOOD)), messages(json.dumps(GOOD), partition=1)])
    with pytest.raises(ValueError, match="one topic partition"):
        landing_files(batch, START, CONSUMED)


def test_a_kafka_value_column_in_a_csv_file_is_an_ordinary_extra(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("trade_id,_kafka_value\nT1,hello\n")
    [chunk] = [
        c for c in iter_landing_file(LandingFile(str(path), "trades.csv", path.stat().st_size)) if c.height
    ]
    assert chunk["extra__kafka_value"].to_list() == ["hello"]
    assert chunk["_parse_error"].to_list() == [None] and chunk["_raw_record"][0] == "T1,hello"


TRADE_DAY = date(2026, 11, 28)  # GOOD's timestamp
KAFKA_CLOCKS = {
    "milliseconds": PRODUCED_MS,
    "seconds": PRODUCED_MS // 1000,  # a producer clock in seconds: 1970-01-21
    "microseconds": PRODUCED_MS * 1000,  # year 57882
    "zero": 0,
    "none": None,
    "year 3000": int(datetime(3000, 1, 1, tzinfo=UTC).timestamp() * 1000),
    "int64 max": 2**63 - 1,
}
TRADE_STAMPS = {
    "valid": (GOOD["timestamp"], []),
    "before the start date": ("2026-10-31T23:00:00Z", ["timestamp_outside_partition"]),
    "year 3000": ("3000-01-01T00:00:00Z", ["timestamp_in_future", "timestamp_outside_partition"]),
    "invalid": ("yesterday", ["invalid_timestamp"]),
    "without a zone": ("2026-11-28T10:00:00", ["timestamp_no_timezone"]),
    "epoch seconds": ("1795867200", []),  # 2026-11-28T12:00:00Z
    "missing": (None, ["missing_field"]),
    "nested": ({"at": 1}, ["malformed_record"]),
}


@pytest.mark.parametrize("clock", KAFKA_CLOCKS)
def test_every_message_lands_in_a_partitions_folder_whatever_its_clocks(tmp_path, clock):
    """A readable trade timestamp inside the partitions gives the day; else a Kafka timestamp
    inside them; else the day the batch was consumed, where validation says why."""
    values = [
        json.dumps({**GOOD, "trade_id": f"T{i}", "timestamp": stamp})
        for i, (stamp, _) in enumerate(TRADE_STAMPS.values())
    ]
    landed = land(tmp_path, messages(*values, kafka_ms=KAFKA_CLOCKS[clock]))
    assert landed.height == len(TRADE_STAMPS) and landed["date"].is_between(START, CONSUMED).all()
    kafka_day = PRODUCED_AT.date() if clock == "milliseconds" else CONSUMED  # else none usable
    expected = {
        "valid": TRADE_DAY,
        "epoch seconds": TRADE_DAY,
        "year 3000": kafka_day,  # more than a day after its message: judged on the message's day
        "before the start date": CONSUMED,
    }
    assert dict(zip(TRADE_STAMPS, landed["date"], strict=True)) == {
        kind: expected.get(kind, kafka_day) for kind in TRADE_STAMPS
    }
    # The run of a day judges it when the day is over; each record says why it is not that day's.
    by_day = landed.partition_by("date", as_dict=True)
    codes = {}
    for (day,), part in by_day.items():
        now = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
        dlq = split_trades(part, now=now, run_id="r").dlq
        offsets = dlq["raw_record"].str.extract(r"\"_kafka_offset\":(\d+)").cast(pl.Int64)
        codes |= dict(zip(offsets, dlq["error_codes"].to_list(), strict=True))
    assert {kind: codes.get(100 + i, []) for i, kind in enumerate(TRADE_STAMPS)} == {
        kind: wanted for kind, (_, wanted) in TRADE_STAMPS.items()
    }


def test_a_batch_landed_in_chunks_is_the_batch_landed_whole():
    """The consumer lands messages a consumed chunk at a time and writes their lines later."""
    batch = messages(
        json.dumps(GOOD),
        "not json",
        json.dumps({**GOOD, "trade_id": "T2", "timestamp": "2026-11-29T00:30:00+01:00"}),
        '{\n  "trade_id": "T3", "timestamp": "2026-11-20T10:00:00Z"\n}',
        None,
        json.dumps({**GOOD, "trade_id": "T4", "timestamp": "3000-01-01T00:00:00Z"}),
        json.dumps({**GOOD, "trade_id": "T5", "TimeStamp": "2026-11-02T00:00:00Z"}),
    )
    days = batch.with_columns(
        start=pl.lit(START), consumed=pl.lit(CONSUMED), value=pl.col("value").fill_null("")
    )
    chunks = pl.concat([landed_lines(days.slice(first, 2)) for first in range(0, days.height, 2)])
    assert day_files(file_name("trades", 3, 100, 106), chunks) == landing_files(batch, START, CONSUMED)
