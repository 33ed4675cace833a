"""``landing_completeness``: a day whose landing folder holds records the run did not keep is never green."""

from __future__ import annotations

import gzip
import json
import shutil

import polars as pl
from dagster import AssetCheckSeverity, ExecuteInProcessResult

from trade_platform.core.names import RAW_TRADES
from trade_platform_tests.conftest import DAY, Platform, trade, write_csv, write_jsonl

PREFIX = f"trades/date={DAY}/"


def completeness(result: ExecuteInProcessResult):
    [evaluation] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "landing_completeness"
    ]
    return evaluation


def land(platform: Platform) -> None:
    write_csv(platform.day_dir() / "a.csv", [trade(f"A{i}") for i in range(20)])
    write_jsonl(platform.day_dir() / "b.jsonl", [trade(f"B{i}") for i in range(5)])


def test_a_file_replaced_by_a_truncated_or_unreadable_one_fails_by_name(platform: Platform):
    """Every other check passes on the smaller day: raw = validated + DLQ still holds."""
    land(platform)
    evaluation = completeness(platform.materialize())
    assert evaluation.passed and evaluation.metadata["files_read"].value == 2
    write_csv(platform.day_dir() / "a.csv", [trade(f"A{i}") for i in range(3)])
    (platform.day_dir() / "b.jsonl").write_bytes(gzip.compress(b"not what it was"))
    result = platform.materialize()
    evaluation = completeness(result)
    assert not evaluation.passed
    assert evaluation.metadata["fewer_records"].value == {
        PREFIX + "a.csv": {"before": 20, "after": 3},
        PREFIX + "b.jsonl": {"before": 5, "after": 0},
    }
    assert set(evaluation.metadata["unreadable"].value) == {PREFIX + "b.jsonl"}
    # The next run (the nightly schedule, a replay) does not forget what the day lost.
    again = completeness(platform.materialize())
    assert (
        not again.passed
        and again.metadata["fewer_records"].value == evaluation.metadata["fewer_records"].value
    )
    others = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "reconciliation"
    ]
    assert others and all(e.passed for e in others)


def test_a_removed_file_is_replayed_and_withdrawing_the_file_with_its_partition_is_not_a_loss(
    platform: Platform,
):
    """Delete the file and the day's raw_trades partition, then re-run (docs/replaying-the-dlq.md)."""
    land(platform)
    platform.materialize()
    (platform.day_dir() / "b.jsonl").unlink()
    assert completeness(platform.materialize()).passed  # replayed from the stored partition
    assert platform.read(RAW_TRADES).height == 25
    shutil.rmtree(platform.partition_file(RAW_TRADES).parent)
    evaluation = completeness(platform.materialize())
    assert evaluation.passed and evaluation.metadata["files_read"].value == 1
    assert platform.read(RAW_TRADES).height == 20


def test_a_truncation_is_red_until_withdrawn_and_an_unreadable_file_can_be_withdrawn_too(platform: Platform):
    land(platform)
    platform.materialize()
    write_csv(platform.day_dir() / "a.csv", [trade(f"A{i}") for i in range(3)])
    (platform.day_dir() / "c.csv.gz").write_bytes(b"not gzip")
    assert not completeness(platform.materialize()).passed
    (platform.day_dir() / "c.csv.gz").unlink()  # withdrawn: the file and the partition
    shutil.rmtree(platform.partition_file(RAW_TRADES).parent)
    evaluation = completeness(platform.materialize())
    assert evaluation.passed, evaluation.description
    assert platform.read("trades_dlq").filter(pl.col("_source_file").str.ends_with("c.csv.gz")).is_empty()


def test_unsupported_files_and_lost_kafka_offsets_fail_the_day_by_name(platform: Platform):
    land(platform)
    (platform.day_dir() / "c.txt").write_text("trade_id\nC1\n")
    (platform.day_dir() / "linked.csv").symlink_to(platform.landing, target_is_directory=True)
    folder = platform.day_dir() / "_kafka_lost"
    folder.mkdir()
    record = {
        "topic": "trades",
        "partition": 1,
        "first_offset": 100,
        "last_offset": 199,
        "reason": "deleted by broker retention before they were read",
        "detected_at": f"{DAY}T10:00:00Z",
    }
    (folder / f"trades-p1-{100:019d}-{199:019d}.json").write_text(json.dumps(record))
    evaluation = completeness(platform.materialize())
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.partition == DAY and evaluation.metadata["files_read"].value == 2
    assert PREFIX + "c.txt" in evaluation.description
    assert "trades partition 1 offsets 100-199" in evaluation.description
    assert evaluation.metadata["not_read"].value == {
        PREFIX + "c.txt": "its extension is not a landing format",
        PREFIX + "linked.csv": "a link to a folder, which is not followed",
    }
