"""The lake as Iceberg tables (``TRADE_PLATFORM_TABLE_FORMAT=iceberg``): what
``lib.io_manager.IcebergLakeIOManager`` (the resource ``platform_resources`` then chooses
instead of the Parquet one) creates per run; imported only then, pyiceberg takes seconds to load.

An output's days are replaced in one commit (``core.iceberg.overwrite``): a DataFrame is split by
day, a LazyFrame (an output spilled to scratch) is streamed per day in batches, each checked
against the asset's pandera model, so no day has to fit in memory. A run over a range commits
once for all its days. Each partition's materialization records the row count, the table, the
snapshot the run committed and its metadata file. A load is one lazy scan of the requested days
with the Parquet layout's columns and dtypes; a check reads the snapshot the run's
materialization recorded (``snapshot_of_run``), otherwise the current one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial
from typing import Any

import polars as pl
from dagster import (
    DagsterInstance,
    InputContext,
    IOManager,
    MetadataValue,
    OutputContext,
)

from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.overwrite import Committed, DayOverwrite
from trade_platform.core.iceberg.reads import scan_days
from trade_platform.core.iceberg.schema import empty_frame
from trade_platform.core.lake_layout import PARTITION_COLUMN, frame_days
from trade_platform.core.storage import storage_errors
from trade_platform.lib import io_manager
from trade_platform.lib.dagster_types import validate_rows
from trade_platform.lib.io_manager import refuse_if_canceled, refuse_rows_outside
from trade_platform.lib.lake import METADATA_LOCATION, ROW_COUNT, SNAPSHOT_ID, Lake
from trade_platform.lib.policies import StepSettings

RUN_ID_PROPERTY = "trade-platform.run-id"
"""The snapshot summary property naming the Dagster run that committed it."""


class IcebergLakeIOManagerWorker(IOManager):
    """Reads and writes the tables of one catalog."""

    def __init__(self, lake: Lake, step_settings: StepSettings):
        self._tables = lake.iceberg_tables()
        self._retries = step_settings.retry_storage_faults

    def handle_output(self, context: OutputContext, obj: pl.DataFrame | pl.LazyFrame) -> None:
        asset = context.asset_key.to_user_string()
        if not context.has_asset_partitions:
            raise TypeError(f"{asset}: the lake stores partitioned assets only")
        keys = context.asset_partition_keys
        step = context.step_context
        where = self._tables.identifier(asset)
        with self._retries(step.previous_attempt_count), storage_errors("write", where):
            if isinstance(obj, pl.DataFrame):
                refuse_rows_outside(context, obj, keys)
                days = {key: [frame] for key, frame in frame_days(obj, keys).items()}
            else:
                check = partial(validate_rows, context.dagster_type)
                days = {key: _checked_batches(obj, key, check) for key in keys}
            rows, committed = commit_days(self._tables, asset, days, step.instance, step.run_id)
        for key in keys:
            step.add_asset_metadata(
                partition_metadata(where, rows[key], committed),
                asset_key=context.asset_key,
                partition_key=key,
            )
        context.log.info(f"{where}: {len(keys)} days committed in snapshot {committed.snapshot_id}")

    def load_input(self, context: InputContext) -> pl.LazyFrame:
        """The requested days as one lazy scan; a table never written is refused as a missing
        Parquet partition is, unless the input allows missing partitions."""
        asset = context.asset_key.to_user_string()
        with self._retries(context.step_context.previous_attempt_count):
            with storage_errors("read", self._tables.identifier(asset)):
                table = self._tables.existing(asset)
        if table is None:
            if (context.definition_metadata or {}).get("allow_missing_partitions", False):
                return empty_frame(asset)
            raise FileNotFoundError(f"{asset}: no table {self._tables.identifier(asset)} yet")
        return scan_days(table, asset, context.asset_partition_keys, snapshot_of_run(context, table))


def commit_days(
    tables: IcebergTables,
    asset: str,
    days: Mapping[str, Iterable[pl.DataFrame]],
    instance: DagsterInstance,
    run_id: str,
) -> tuple[dict[str, int], Committed]:
    """Replace each day's rows of the asset's table with its batches, in one snapshot naming the
    run (unless the run was canceled meanwhile); returns each day's rows and the commit."""
    overwrite = DayOverwrite(tables, asset)

    def add(key: str) -> int:
        return overwrite.add(date.fromisoformat(key), days[key])

    # Two days at a time, as the Parquet layout writes partitions: each day's batches are cut from
    # the spilled output and checked (pandera) in its own thread, so a range run uses both cores.
    with ThreadPoolExecutor(max_workers=io_manager.WRITE_THREADS) as pool:
        rows = dict(zip(days, pool.map(add, days), strict=True))
    refuse_if_canceled(instance, run_id)
    return rows, overwrite.commit({RUN_ID_PROPERTY: run_id})


def partition_metadata(where: str, rows: int, committed: Committed) -> dict[str, Any]:
    """A partition's materialization metadata: its rows, the table, the run's snapshot."""
    return {
        ROW_COUNT: rows,
        "table": where,
        SNAPSHOT_ID: committed.snapshot_id,
        METADATA_LOCATION: MetadataValue.path(committed.metadata_location),
    }


def _checked_batches(frame: pl.LazyFrame, key: str, check):
    day = frame.filter(pl.col(PARTITION_COLUMN) == date.fromisoformat(key))
    for batch in day.collect_batches(chunk_size=io_manager.STREAM_BATCH_ROWS):
        check(batch)
        yield batch


def snapshot_of_run(context: InputContext, table) -> int | None:
    """The snapshot this run committed to the table, when it wrote it (a check after its
    asset): the check judges what the run wrote even if another run commits meanwhile."""
    run_id = context.step_context.run_id
    for snapshot in reversed(table.snapshots()):
        if snapshot.summary is not None and snapshot.summary.get(RUN_ID_PROPERTY) == run_id:
            return snapshot.snapshot_id
    return None
