"""The Iceberg I/O manager through ``dg.materialize``: a real SQLite catalog and tables on disk,
a real Dagster instance."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.overwrite import DayOverwrite
from trade_platform.core.iceberg.reads import scan_days
from trade_platform.core.schemas import DailyVolume
from trade_platform.lib import io_manager
from trade_platform.lib.dagster_types import frame_type
from trade_platform.lib.resources import platform_resources
from trade_platform_tests.conftest import settings_for
from trade_platform_tests.lib.test_io_manager import DAYS, EMPTY_DAY, PARTITIONS, RANGE

VOLUME = "daily_volume"


def volume_rows(day: str, vwap: float = 1.0) -> pl.DataFrame:
    """Two rows on the 18th, none on ``EMPTY_DAY``, three on the 20th."""
    count = {DAYS[0]: 2, EMPTY_DAY: 0}.get(day, 3)
    prices = {
        c: [vwap] * count
        for c in ("total_volume", "notional", "vwap", "avg_price", "low_price", "high_price")
    }
    symbols = [f"S{i}" for i in range(count)]
    return pl.DataFrame(
        {"symbol": symbols, "trade_count": [1] * count, **prices, "date": [date.fromisoformat(day)] * count}
    )


def volume_asset(vwap: float = 1.0, *, lazy: bool = False) -> dg.AssetsDefinition:
    @dg.asset(name=VOLUME, partitions_def=PARTITIONS, dagster_type=frame_type(DailyVolume))
    def volume(context):
        frame = pl.concat([volume_rows(day, vwap) for day in context.partition_keys])
        return frame.lazy() if lazy else frame

    return volume


@pytest.fixture
def tables(tmp_path: Path) -> IcebergTables:
    return IcebergTables(str(tmp_path / "lake"), "default", "trade_platform")


@pytest.fixture
def materialize(tmp_path: Path, tables: IcebergTables, instance: dg.DagsterInstance):
    resources = platform_resources(
        settings_for(tmp_path / "landing", tables.lake_url, table_format="iceberg")
    )

    def run(assets: list, **kwargs) -> dg.ExecuteInProcessResult:
        return dg.materialize(assets, resources=resources, instance=instance, **kwargs)

    return run


def stored(tables: IcebergTables, day: str) -> pl.DataFrame:
    return scan_days(tables.table(VOLUME), VOLUME, [day]).collect()


def test_a_lazy_range_output_streams_each_day_into_one_commit(materialize, tables, monkeypatch):
    monkeypatch.setattr(io_manager, "STREAM_BATCH_ROWS", 2)  # the 20th's three rows are two batches
    result = materialize([volume_asset(lazy=True)], tags=RANGE)
    for day in DAYS:
        assert stored(tables, day).equals(volume_rows(day))
    table = tables.table(VOLUME)
    recorded = {
        m.partition: (m.metadata["dagster/row_count"].value, m.metadata["snapshot_id"].value)
        for m in result.asset_materializations_for_node(VOLUME)
    }
    assert recorded == {
        DAYS[0]: (2, table.current_snapshot().snapshot_id),
        EMPTY_DAY: (0, table.current_snapshot().snapshot_id),
        DAYS[2]: (3, table.current_snapshot().snapshot_id),
    }
    assert len(table.snapshots()) == 1


def test_a_streamed_batch_that_breaks_the_model_commits_nothing(materialize, tables):
    materialize([volume_asset()], partition_key=DAYS[2])
    result = materialize([volume_asset(vwap=-1.0, lazy=True)], partition_key=DAYS[2], raise_on_error=False)
    assert not result.success
    assert stored(tables, DAYS[2]).equals(volume_rows(DAYS[2]))  # the first run's rows, untouched
    assert len(tables.table(VOLUME).snapshots()) == 1


def test_a_downstream_asset_reads_the_snapshot_its_own_run_committed(materialize, tables):
    seen = []

    @dg.asset(partitions_def=PARTITIONS, deps=[VOLUME])
    def intruder() -> dg.MaterializeResult:
        """Another writer replaces the day after this run wrote it."""
        writer = DayOverwrite(IcebergTables(tables.lake_url, "default", "trade_platform"), VOLUME)
        writer.add(date.fromisoformat(DAYS[2]), [volume_rows(DAYS[2], vwap=9.0)])
        writer.commit()
        return dg.MaterializeResult()

    @dg.asset(partitions_def=PARTITIONS, deps=[intruder])
    def reader(daily_volume: pl.LazyFrame) -> dg.MaterializeResult:
        seen.append(daily_volume.collect())
        return dg.MaterializeResult()

    assert materialize([volume_asset(), intruder, reader], partition_key=DAYS[2]).success
    assert seen[0]["vwap"].unique().to_list() == [1.0]  # what this run wrote, not the intruder's
    assert stored(tables, DAYS[2])["vwap"].unique().to_list() == [9.0]
