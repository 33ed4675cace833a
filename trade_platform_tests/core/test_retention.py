"""Retention's plain logic on real folders: which partitions of which layer are past their window,
their sizes, deleting them, the audit records and the refusal to replay a deleted day."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from trade_platform.core.retention import (
    Partition,
    audit_record,
    corrections_window,
    delete_partition,
    expired_partitions,
    is_expired,
    oldest_kept_day,
    replay_refusal,
    summarize,
    write_audit,
)

TODAY = date(2026, 12, 1)


def day(offset: int) -> str:
    """The day ``offset`` days before TODAY."""
    return (TODAY - timedelta(days=offset)).isoformat()


def put(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def test_a_window_of_n_days_keeps_today_and_the_n_minus_1_days_before_it():
    assert oldest_kept_day(3, TODAY) == date(2026, 11, 29)
    assert not is_expired(date(2026, 11, 29), 3, TODAY)
    assert is_expired(date(2026, 11, 28), 3, TODAY)
    assert not is_expired(TODAY, 1, TODAY) and is_expired(TODAY - timedelta(days=1), 1, TODAY)
    assert not is_expired(TODAY + timedelta(days=5), 1, TODAY)  # a future day is never expired
    assert not is_expired(date(2000, 1, 1), None, TODAY)  # no window: kept forever
    with pytest.raises(ValueError, match="at least 1 day"):
        oldest_kept_day(0, TODAY)


def test_corrections_are_kept_as_long_as_landing_files_or_raw_trades_whichever_is_longer():
    assert corrections_window({"landing": 30, "raw_trades": 90}) == 90
    assert corrections_window({"landing": 90, "raw_trades": 30}) == 90
    assert corrections_window({"landing": 30}) is None  # raw_trades kept forever: so are they
    assert corrections_window({"raw_trades": 30}) is None


def test_expired_partitions_are_listed_per_layer_with_their_sizes_and_nothing_else(tmp_path: Path):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    for offset in (0, 1, 2, 3, 10):
        put(landing / "trades" / f"date={day(offset)}" / "a.csv", 10)
        put(landing / "corrections" / f"date={day(offset)}" / "fix.csv", 3)
        put(lake / "raw_trades" / f"date={day(offset)}" / "part-0.parquet", 100)
        put(lake / "lineage" / f"events-{day(offset)}.jsonl", 7)
    put(landing / "trades" / f"date={day(10)}" / "sub" / "b.jsonl", 5)  # nested: counted
    put(lake / "raw_trades" / f"date={day(10)}" / ".part-0.parquet.x.tmp", 1)  # hidden: counted
    put(lake / "ohlcv" / f"date={day(10)}" / "part-0.parquet", 100)  # no window: kept
    # Not partitions of any layer: never listed, whatever their day.
    put(lake / "raw_trades" / "date=2024-13-45" / "part-0.parquet", 1)
    put(lake / "raw_trades" / "date=someday" / "part-0.parquet", 1)
    put(lake / "raw_trades" / f"date={day(10)}.bak" / "part-0.parquet", 1)
    put(lake / "raw_trades" / f"date={day(9)}", 1)  # a file, not a day folder
    put(lake / "raw_trades_copy" / f"date={day(10)}" / "part-0.parquet", 1)
    put(lake / "audit" / "retention" / f"date={day(10)}" / "r.jsonl", 1)
    put(lake / "lineage" / f"other-{day(10)}.jsonl", 1)
    put(landing / "_kafka" / f"date={day(10)}" / "p0.json", 1)

    windows = {"landing": 2, "raw_trades": 3, "lineage": 1}
    found = expired_partitions(str(landing), str(lake), windows, TODAY)

    def url(path: Path) -> str:
        return f"file://{path}"

    assert found == [  # oldest first, a day's partitions in the order of the layers
        Partition("landing", day(10), url(landing / "trades" / f"date={day(10)}"), 15),
        Partition("landing", day(10), url(landing / "corrections" / f"date={day(10)}"), 3),
        Partition("raw_trades", day(10), url(lake / "raw_trades" / f"date={day(10)}"), 101),
        Partition("lineage", day(10), url(lake / "lineage" / f"events-{day(10)}.jsonl"), 7),
        Partition("landing", day(3), url(landing / "trades" / f"date={day(3)}"), 10),
        Partition("landing", day(3), url(landing / "corrections" / f"date={day(3)}"), 3),  # window 3
        Partition("raw_trades", day(3), url(lake / "raw_trades" / f"date={day(3)}"), 100),
        Partition("lineage", day(3), url(lake / "lineage" / f"events-{day(3)}.jsonl"), 7),
        Partition("landing", day(2), url(landing / "trades" / f"date={day(2)}"), 10),
        Partition("lineage", day(2), url(lake / "lineage" / f"events-{day(2)}.jsonl"), 7),
        Partition("lineage", day(1), url(lake / "lineage" / f"events-{day(1)}.jsonl"), 7),
    ]
    assert summarize(found) == {
        "landing": {"partitions": 5, "bytes": 41},
        "raw_trades": {"partitions": 2, "bytes": 201},
        "lineage": {"partitions": 4, "bytes": 28},
    }


def test_a_missing_landing_zone_or_lake_has_nothing_expired(tmp_path: Path):
    windows = {"landing": 1, "raw_trades": 1, "lineage": 1}
    assert expired_partitions(str(tmp_path / "none"), str(tmp_path / "neither"), windows, TODAY) == []


def test_deleting_a_partition_removes_its_folder_and_nothing_beside_it(tmp_path: Path):
    kept = put(tmp_path / "lake" / "raw_trades" / f"date={day(1)}" / "part-0.parquet", 1)
    put(tmp_path / "lake" / "raw_trades" / f"date={day(9)}" / "part-0.parquet", 1)
    [expired] = expired_partitions(
        str(tmp_path / "landing"), str(tmp_path / "lake"), {"raw_trades": 5}, TODAY
    )
    delete_partition(expired)
    assert not (tmp_path / "lake" / "raw_trades" / f"date={day(9)}").exists()
    assert kept.exists()


def test_audit_records_are_json_lines_with_every_field_under_the_lakes_audit_folder(tmp_path: Path):
    partition = Partition("raw_trades", day(9), "file:///lake/raw_trades/date=2026-11-22", 123)
    moment = datetime(2026, 12, 1, 3, 0, 1, tzinfo=UTC)
    records = [audit_record(partition, run_id="r1", time=moment, dry_run=True)]

    url = write_audit(str(tmp_path / "lake"), records, run_id="r1", day=TODAY)
    retried = write_audit(str(tmp_path / "lake"), records, run_id="r1", day=TODAY, attempt=2)

    assert url == f"{tmp_path}/lake/audit/retention/date=2026-12-01/r1.jsonl"
    assert retried.endswith("/date=2026-12-01/r1-retry-2.jsonl")  # a retry keeps the first audit
    [line] = Path(url).read_text().splitlines()
    assert json.loads(line) == {
        "run_id": "r1",
        "time": "2026-12-01T03:00:01+00:00",
        "layer": "raw_trades",
        "partition": "2026-11-22",
        "path": "file:///lake/raw_trades/date=2026-11-22",
        "bytes": 123,
        "dry_run": True,
    }


@pytest.mark.parametrize(
    ("windows", "offset", "refused"),
    [
        ({"landing": 2, "raw_trades": 3}, 3, True),  # past both windows
        ({"landing": 2, "raw_trades": 3}, 2, False),  # raw_trades still holds it
        ({"landing": 5, "raw_trades": 3}, 4, False),  # the landing files still hold it
        ({"raw_trades": 3}, 30, False),  # landing files are kept forever
        ({"landing": 2}, 30, False),  # raw_trades is kept forever
        ({}, 300, False),
    ],
)
def test_only_a_day_past_both_the_landing_and_raw_trades_windows_is_refused(windows, offset, refused):
    refusal = replay_refusal(windows, day(offset), TODAY)
    assert (refusal is not None) == refused
    if refused:
        assert refusal.startswith(f"{day(offset)} cannot be replayed: its raw data is gone")
        assert "landing files for 2 days and raw_trades for 3 days" in refusal
