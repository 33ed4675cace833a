"""Iceberg table maintenance on a real SQLite catalog: compaction, snapshot expiry, and deleting
only the files no live snapshot needs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.maintenance import compact_day, days_to_compact, expire_and_clean
from trade_platform.core.iceberg.overwrite import DayOverwrite
from trade_platform_tests.core.test_iceberg_tables import D1, D2, overwrite, rows, volume


@pytest.fixture
def tables(tmp_path: Path) -> IcebergTables:
    return IcebergTables(str(tmp_path / "lake"), "default", "trade_platform")


def data_files(tables: IcebergTables) -> set[str]:
    return {task.file.file_path for task in tables.table("daily_volume").scan().plan_files()}


def test_a_day_of_many_small_files_is_compacted_into_one_with_the_same_rows(tables: IcebergTables):
    writer = DayOverwrite(tables, "daily_volume")
    writer.add(D1, [volume(D1, [f"S{i}"]) for i in range(6)])  # six batches: six files
    writer.commit()
    overwrite(tables, "daily_volume", volume(D2, ["C"]))
    before = rows(tables, "daily_volume", D1, D2).sort("symbol")
    assert days_to_compact(tables.table("daily_volume")) == [str(D1)]
    compact_day(tables, "daily_volume", str(D1))
    assert len(data_files(tables)) == 2 and days_to_compact(tables.table("daily_volume")) == []
    assert rows(tables, "daily_volume", D1, D2).sort("symbol").equals(before)


def test_expiry_deletes_only_files_no_live_snapshot_needs(tables: IcebergTables, tmp_path: Path):
    overwrite(tables, "daily_volume", volume(D1, ["A"]), volume(D2, ["B"]))
    replaced = data_files(tables)
    overwrite(tables, "daily_volume", volume(D1, ["Z"]))  # D1's old file is now only in the old snapshot
    live = data_files(tables)
    table = tables.table("daily_volume")
    # Kept for a day: nothing expires, every file is still reachable.
    kept = expire_and_clean(table, keep_seconds=86_400, grace=timedelta(0))
    assert (kept.expired_snapshots, kept.deleted_files) == (0, 0)
    # A writer's data file not committed yet, younger than the grace period: never deleted.
    in_flight = Path(table.location().removeprefix("file://")) / "data" / "in-flight.parquet"
    in_flight.write_bytes(b"PAR1")
    cleaned = expire_and_clean(tables.table("daily_volume"), keep_seconds=0, grace=timedelta(minutes=5))
    assert cleaned.expired_snapshots == 1 and cleaned.deleted_files == 0  # all younger than the grace
    cleaned = expire_and_clean(tables.table("daily_volume"), keep_seconds=0, grace=timedelta(0))
    assert cleaned.deleted_files > 0
    on_disk = {str(p) for p in Path(table.location().removeprefix("file://")).rglob("*") if p.is_file()}
    assert {f.removeprefix("file://") for f in live} <= on_disk
    assert not {f.removeprefix("file://") for f in replaced - live} & on_disk
    assert sorted(rows(tables, "daily_volume", D1, D2)["symbol"]) == ["B", "Z"]  # the table reads whole
