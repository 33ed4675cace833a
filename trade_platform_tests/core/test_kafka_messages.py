"""Kafka messages -> landing files, read back by the landing reader (no broker needed here)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from trade_platform.core.landing.files import LandingFile, iter_landing_file
from trade_platform.core.landing.kafka_messages import MESSAGE_SCHEMA, file_name, landing_files
from trade_platform.core.validation import split_trades

PRODUCED_AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
GOOD = {
    "trade_id": "T1",
    "symbol": "AAA",
    "side": "buy",
    "price": "1.5",
    "quantity": 2,
    "timestamp": "2026-11-28T23:59:59.5Z",
    "exchange": "X",
}


def messages(*values: str | None, partition: int = 3, first: int = 100) -> pl.DataFrame:
    produced = int(PRODUCED_AT.timestamp() * 1000)
    return pl.DataFrame(
        {
            "topic": "trades",
            "partition": partition,
            "offset": range(first, first + len(values)),
            "timestamp_ms": produced,
            "value": list(values),
        },
        schema=MESSAGE_SCHEMA,
    )


def land(tmp_path: Path, batch: pl.DataFrame) -> pl.DataFrame:
    """Write the batch's files and read them back as the pipeline does (with ``date``)."""
    frames = []
    for relative, payload in landing_files(batch).items():
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
    files = landing_files(batch)
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
    assert landing_files(batch) == landing_files(batch.sample(fraction=1.0, shuffle=True, seed=1))


def test_a_batch_mixing_partitions_is_refused():
    batch = pl.concat([messages(json.dumps(GOOD)), messages(json.dumps(GOOD), partition=1)])
    with pytest.raises(ValueError, match="one topic partition"):
        landing_files(batch)


def test_a_kafka_value_column_in_a_csv_file_is_an_ordinary_extra(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("trade_id,_kafka_value\nT1,hello\n")
    [chunk] = [
        c for c in iter_landing_file(LandingFile(str(path), "trades.csv", path.stat().st_size)) if c.height
    ]
    assert chunk["extra__kafka_value"].to_list() == ["hello"]
    assert chunk["_parse_error"].to_list() == [None] and chunk["_raw_record"][0] == "T1,hello"
