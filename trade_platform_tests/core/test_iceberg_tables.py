"""Iceberg day overwrites on a real SQLite catalog and real files: empty days, commit races,
schema evolution."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.overwrite import DayOverwrite
from trade_platform.core.iceberg.reads import day_of_file, scan_days
from trade_platform.core.storage import PermanentStorageError

D1, D2 = date(2026, 11, 20), date(2026, 11, 21)


def volume(day: date, symbols: list[str]) -> pl.DataFrame:
    n = len(symbols)
    prices = {
        c: [1.0] * n for c in ("total_volume", "notional", "vwap", "avg_price", "low_price", "high_price")
    }
    return pl.DataFrame({"symbol": symbols, "trade_count": [1] * n, **prices, "date": [day] * n})


def raw(day: date, **extra: list) -> pl.DataFrame:
    text = dict.fromkeys(("trade_id", "symbol", "side", "price", "quantity", "timestamp", "exchange"), ["x"])
    nulls = {
        c: pl.Series([None], dtype=pl.String)
        for c in ("account_id", "trader_id", "_raw_record", "_parse_error")
    }
    return pl.DataFrame(
        {**text, **nulls, "_source_file": ["a.csv"], "_source_row": [1], **extra, "date": [day]}
    )


def overwrite(tables: IcebergTables, asset: str, *frames: pl.DataFrame) -> int | None:
    writer = DayOverwrite(tables, asset)
    for frame in frames:
        writer.add(frame["date"][0] if frame.height else D1, [frame])
    return writer.commit().snapshot_id


def rows(tables: IcebergTables, asset: str, *days: date, snapshot: int | None = None) -> pl.DataFrame:
    return scan_days(tables.table(asset), asset, [str(d) for d in days], snapshot).collect()


@pytest.fixture
def tables(tmp_path: Path) -> IcebergTables:
    return IcebergTables(str(tmp_path / "lake"), "default", "trade_platform")


def test_an_empty_day_overwrite_leaves_zero_rows_and_other_days_alone(tables: IcebergTables):
    overwrite(tables, "daily_volume", volume(D1, ["A", "B"]), volume(D2, ["C"]))
    overwrite(tables, "daily_volume", volume(D1, []))
    assert rows(tables, "daily_volume", D1).height == 0
    assert rows(tables, "daily_volume", D2)["symbol"].to_list() == ["C"]


def test_a_day_overwrite_replaces_exactly_that_days_rows_in_one_snapshot(tables: IcebergTables):
    overwrite(tables, "daily_volume", volume(D1, ["A", "B"]), volume(D2, ["C"]))
    before = len(tables.table("daily_volume").snapshots())
    overwrite(tables, "daily_volume", volume(D1, ["Z"]))
    table = tables.table("daily_volume")
    assert (
        len(table.snapshots()) == before + 1
        and table.current_snapshot().summary.operation.value == "overwrite"
    )
    assert sorted(rows(tables, "daily_volume", D1, D2)["symbol"]) == ["C", "Z"]


def test_a_day_overwrite_stores_each_day_in_its_own_partition_and_refuses_another_days_rows(
    tables: IcebergTables,
):
    overwrite(tables, "daily_volume", volume(D1, ["A"]), volume(D2, ["B", "C"]))
    files = tables.table("daily_volume").scan().plan_files()
    assert sorted((day_of_file(task.file), task.file.record_count) for task in files) == [
        (str(D1), 1),
        (str(D2), 2),
    ]
    with pytest.raises(ValueError, match="holds rows of"):
        DayOverwrite(tables, "daily_volume").add(D1, [pl.concat([volume(D1, ["Z"]), volume(D2, ["Y"])])])
    assert sorted(rows(tables, "daily_volume", D1, D2)["symbol"]) == ["A", "B", "C"]


def test_a_days_data_file_is_the_file_pyiceberg_would_write_with_its_field_ids_and_statistics(
    tables: IcebergTables,
):
    frame = volume(D1, ["B", "A", "C"]).with_columns(
        pl.Series("odd col", [None, "y", "x"]), vwap=pl.Series([1.5, float("nan"), 2.0])
    )  # an extra column whose name pyiceberg sanitizes in the file, a null and a NaN
    overwrite(tables, "daily_volume", frame)
    table = tables.table("daily_volume")
    ordered = frame.with_columns(date=pl.lit(D2)).select(table.schema().column_names)
    table.append(ordered.to_arrow().cast(table.schema().as_arrow()))  # pyiceberg's own writer, as the oracle
    ours, theirs = sorted(table.scan().plan_files(), key=lambda task: day_of_file(task.file))
    date_id = table.schema().find_field("date").field_id
    for figures in ("record_count", "value_counts", "null_value_counts", "nan_value_counts"):
        assert getattr(ours.file, figures) == getattr(theirs.file, figures)
    for bounds in ("lower_bounds", "upper_bounds"):
        assert {k: v for k, v in getattr(ours.file, bounds).items() if k != date_id} == {
            k: v for k, v in getattr(theirs.file, bounds).items() if k != date_id
        }
    assert parquet_columns(ours.file.file_path) == parquet_columns(theirs.file.file_path)
    assert "odd_x20col" in parquet_columns(ours.file.file_path)
    assert rows(tables, "daily_volume", D1).sort("symbol")["odd col"].to_list() == ["y", None, "x"]


def parquet_columns(url: str) -> dict[str, tuple[str, str, int]]:
    """Each column of a data file: its physical type, repetition and field id."""
    schema = pq.read_schema(url.removeprefix("file://"))
    parquet = pq.ParquetFile(url.removeprefix("file://")).schema
    return {
        column.name: (
            column.physical_type,
            str(column.max_definition_level),
            int(field.metadata[b"PARQUET:field_id"]),
        )
        for column, field in zip(parquet, schema, strict=True)
    }


def test_two_writers_on_different_days_both_land_when_their_commits_race(tables: IcebergTables):
    overwrite(tables, "daily_volume", volume(D1, ["old"]))
    first = DayOverwrite(tables, "daily_volume")  # loaded before the second writer commits
    first.add(D1, [volume(D1, ["A"])])
    other = IcebergTables(tables.lake_url, "default", "trade_platform")  # another process's catalog
    winner = overwrite(other, "daily_volume", volume(D2, ["B"]))
    committed = first.commit()  # loses the race once, then commits on the fresh table
    assert tables.table("daily_volume").snapshot_by_id(committed.snapshot_id).parent_snapshot_id == winner
    assert sorted(rows(tables, "daily_volume", D1, D2)["symbol"]) == ["A", "B"]


def test_a_new_optional_column_joins_the_table_without_rewriting_older_files(tables: IcebergTables):
    first = overwrite(tables, "raw_trades", raw(D1))
    files_before = {task.file.file_path for task in tables.table("raw_trades").scan().plan_files()}
    kafka = {
        "_kafka_topic": ["trades"],
        "_kafka_offset": [7],
        "_kafka_timestamp": pl.Series(
            [datetime(2026, 11, 21, 1, tzinfo=UTC)], dtype=pl.Datetime("ms", "UTC")
        ),
        "venue_note": ["extra"],
    }
    overwrite(tables, "raw_trades", raw(D2, **kafka))
    table = tables.table("raw_trades")
    assert files_before < {task.file.file_path for task in table.scan().plan_files()}
    both = rows(tables, "raw_trades", D1, D2).sort("date")
    assert both["_kafka_offset"].to_list() == [None, 7] and both["venue_note"].to_list() == [None, "extra"]
    assert both.schema["_kafka_timestamp"] == pl.Datetime("ms", "UTC")
    old = rows(tables, "raw_trades", D1, D2, snapshot=first)
    assert old.height == 1 and "_kafka_topic" not in old.columns


def test_an_s3_lake_without_a_configured_catalog_is_refused_clearly():
    with pytest.raises(PermanentStorageError, match="PYICEBERG_CATALOG__NOWHERE__TYPE"):
        _ = IcebergTables("s3://bucket/lake", "nowhere", "trade_platform").catalog
