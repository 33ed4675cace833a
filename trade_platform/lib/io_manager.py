"""Parquet lake I/O manager on Dagster's ``UPathIOManager``: local disk or S3, hive layout.

Each partition is one file, ``<lake>/<asset_key>/date=YYYY-MM-DD/part-0.parquet``, written whole
or not at all: locally to a hidden temporary file renamed into place, on object stores as one
object (a single PUT or a completed multipart upload of a finished local file). A run over a
range of partitions writes each partition's slice separately; a ``LazyFrame`` (an output spilled
to scratch) is streamed in batches, so no partition has to fit in memory. A load of several
partitions is one lazy scan. With a Glue database (``TRADE_PLATFORM_GLUE_DATABASE``), an output's
partitions are registered in the AWS Glue catalog once all of them are published
(``core.glue.catalog``), before Dagster records them materialized. Where the lake is and how a
step retries storage faults are the ``lake`` and ``step_settings`` resources'; the layout is
``core.lake_layout``'s. ``IcebergLakeIOManager`` is the resource of the Iceberg table format
(``lib.iceberg_io_manager``).
"""

from __future__ import annotations

import fcntl
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial
from typing import BinaryIO

import polars as pl
import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManagerFactory,
    DagsterExecutionInterruptedError,
    DagsterInstance,
    DagsterRunStatus,
    InputContext,
    IOManager,
    MetadataValue,
    OutputContext,
    UPathIOManager,
)
from upath import UPath

from trade_platform.core.lake_layout import HIVE_SCHEMA, PARTITION_COLUMN, ROW_GROUP_ROWS, partition_file
from trade_platform.core.storage import (
    TEMPORARY_SUFFIX,
    is_local,
    polars_storage_options,
    staged_file,
    storage_errors,
)
from trade_platform.lib.dagster_types import validate_rows
from trade_platform.lib.lake import ROW_COUNT, Lake
from trade_platform.lib.policies import StepSettings

WRITE_THREADS = 2


class ParquetLakeUPathIOManager(UPathIOManager):
    """The worker that ``ParquetLakeIOManager`` (the resource a user configures) creates per run:
    it reads and writes the partitions of one lake."""

    extension = ".parquet"

    def __init__(self, lake: Lake, step_settings: StepSettings):
        super().__init__(base_path=UPath(lake.url))
        self._retries = step_settings.retry_storage_faults
        self._glue = lake.glue_catalog()

    def get_path_for_partition(
        self, context: InputContext | OutputContext, path: UPath, partition: str
    ) -> UPath:
        return partition_file(path, partition).with_suffix("")  # the base class adds ``extension``

    def handle_output(self, context: OutputContext, obj: pl.DataFrame | pl.LazyFrame) -> None:
        """Write each partition of the run separately; a LazyFrame's rows are checked against the
        asset's pandera model batch by batch as they stream into the file."""
        if not context.has_asset_partitions:
            raise TypeError(f"{context.asset_key.to_user_string()}: the lake stores partitioned assets only")
        paths = self._get_paths_for_partitions(context)
        if isinstance(obj, pl.DataFrame):
            refuse_rows_outside(context, obj, list(paths))
            by_day = obj.partition_by(PARTITION_COLUMN, as_dict=True, include_key=False)
            empty = obj.clear().drop(PARTITION_COLUMN)

        step = context.step_context
        not_canceled = partial(refuse_if_canceled, step.instance, step.run_id)

        def write(key: str, path: UPath) -> int:
            day = date.fromisoformat(key)
            if isinstance(obj, pl.DataFrame):
                part: pl.DataFrame | pl.LazyFrame = by_day.get((day,), empty)
                check = None
            else:
                part = obj.filter(pl.col(PARTITION_COLUMN) == day)
                check = partial(validate_rows, context.dagster_type)
            with storage_errors("write", str(path)):
                return write_parquet_atomically(part, path, check=check, before_publish=not_canceled)

        # Partitions are written two at a time: polars and pyarrow release the GIL while they
        # encode, so a range run's writes use both cores (and overlap uploads to S3).
        with (
            self._retries(step.previous_attempt_count),
            ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool,
        ):
            written = pool.map(write, paths.keys(), paths.values())
            for (key, path), rows in zip(paths.items(), written, strict=True):
                # The row count and path go to the partition's materialization only: a log line
                # per partition would be one more event store write each (a quarter of a long
                # backfill's bookkeeping).
                context.step_context.add_asset_metadata(
                    {ROW_COUNT: rows, "path": MetadataValue.path(str(path))},
                    asset_key=context.asset_key,
                    partition_key=key,
                )
            if self._glue is not None:  # every partition of the output is published: catalog them
                asset = context.asset_key.to_user_string()
                table = self._get_path_without_extension(context)
                self._glue.register_partitions(asset, str(table), list(paths))
                context.log.info(
                    f"{asset}: {len(paths)} partitions registered in Glue database {self._glue.database}"
                )

    def dump_to_path(self, context: OutputContext, obj: pl.DataFrame, path: UPath) -> None:
        write_parquet_atomically(obj, path)

    def load_from_path(self, context: InputContext, path: UPath) -> pl.LazyFrame:
        return self._scan([path])

    def load_input(self, context: InputContext) -> pl.LazyFrame:
        """All requested partitions as one lazy scan with the ``date`` column from the path."""
        paths = self._get_paths_for_partitions(context)
        allow_missing = (context.definition_metadata or {}).get("allow_missing_partitions", False)
        with self._retries(context.step_context.previous_attempt_count):
            with storage_errors("read", str(self._base_path)):
                missing = [key for key, path in paths.items() if not path.exists()]
        if missing and not allow_missing:
            raise FileNotFoundError(
                f"{context.asset_key.to_user_string()}: partition(s) {', '.join(missing[:5])}"
                f"{' ...' if len(missing) > 5 else ''} not materialized under {self._base_path}"
            )
        return self._scan([path for key, path in paths.items() if key not in missing])

    def _scan(self, paths: list[UPath]) -> pl.LazyFrame:
        return pl.scan_parquet(
            [str(path) for path in paths],
            hive_partitioning=True,
            hive_schema=HIVE_SCHEMA,
            storage_options=polars_storage_options(self._base_path),
        )


STREAM_BATCH_ROWS = 250_000
"""Rows per batch when a spilled partition is streamed into the lake: a day of up to this many
trades is one batch (written by polars), and a 10M-trade day's write peaks under 2 GiB."""


def write_parquet_atomically(
    data: pl.DataFrame | pl.LazyFrame,
    path: UPath,
    check: Callable[[pl.DataFrame], None] | None = None,
    before_publish: Callable[[], None] | None = None,
) -> int:
    """Replace ``path`` with ``data`` (without its ``date`` column) so that readers see the old
    file or the new one, never part; return the row count.

    A LazyFrame is streamed in batches of ``STREAM_BATCH_ROWS``, each passed to ``check`` first.
    ``before_publish`` runs once the new content is complete and may raise to discard it.
    Afterwards anything else in the partition's folder is removed: stale parts of an older
    layout and temporary files of crashed writes, but not the temporary file of a write still
    in progress (it holds a lock), so concurrent writers end as last-writer-wins.
    """
    with staged_file(path) as handle:
        if isinstance(data, pl.DataFrame):
            rows = _write_frame(data, handle)
        else:
            rows = _stream_parquet(data, handle, check)
        if before_publish is not None:
            before_publish()
    _remove_strays(path)
    return rows


def _stream_parquet(
    data: pl.LazyFrame, handle: BinaryIO, check: Callable[[pl.DataFrame], None] | None
) -> int:
    batches = data.collect_batches(chunk_size=STREAM_BATCH_ROWS)
    first = next(batches, None)
    second = None if first is None else next(batches, None)
    if second is None:  # one batch: polars' own writer, about 1.4x faster than pyarrow's
        frame = pl.DataFrame(schema=data.collect_schema()) if first is None else first
        if check is not None:
            check(frame)
        return _write_frame(frame, handle)
    schema = first.drop(PARTITION_COLUMN, strict=False).to_arrow().schema
    rows = 0
    with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
        for batch in itertools.chain((first, second), batches):
            if check is not None:
                check(batch)
            writer.write_table(batch.drop(PARTITION_COLUMN, strict=False).to_arrow())
            rows += batch.height
    return rows


def _write_frame(frame: pl.DataFrame, handle: BinaryIO) -> int:
    frame.drop(PARTITION_COLUMN, strict=False).write_parquet(handle, row_group_size=ROW_GROUP_ROWS)
    return frame.height


def _remove_strays(path: UPath) -> None:
    fs = path.fs
    for sibling in fs.ls(path.parent.path, detail=False, refresh=True):
        name = sibling.rstrip("/").rsplit("/", 1)[-1]
        if name == path.name or (is_local(path) and name.endswith(TEMPORARY_SUFFIX) and _in_use(sibling)):
            continue
        fs.rm(sibling, recursive=True)


def _in_use(local_path: str) -> bool:
    """Whether another process is still writing this temporary file (it holds the lock)."""
    try:
        with open(local_path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except FileNotFoundError:  # renamed into place or removed meanwhile
        return True
    return False


def refuse_rows_outside(context: OutputContext, frame: pl.DataFrame, keys: list[str]) -> None:
    """An output's rows belong to the partitions it writes."""
    stray = frame.filter(~pl.col(PARTITION_COLUMN).is_in([date.fromisoformat(k) for k in keys])).height
    if stray:
        raise ValueError(
            f"{context.asset_key.to_user_string()}: {stray} rows have a {PARTITION_COLUMN} outside "
            f"the partitions being written ({min(keys)}..{max(keys)})"
        )


def refuse_if_canceled(instance: DagsterInstance, run_id: str) -> None:
    """Interrupt a run that was terminated: a force-termination only marks the run CANCELED and
    leaves its process running, so every partition checks this before it is published."""
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status in (DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED):
        raise DagsterExecutionInterruptedError(f"run {run_id} was terminated; nothing more is written")


class ParquetLakeIOManager(ConfigurableIOManagerFactory):
    """The lake as a configurable resource: every asset partition as Parquet in the ``lake``
    resource's lake (and its Glue catalog), retrying storage faults as ``step_settings`` say, read
    and written by a ``ParquetLakeUPathIOManager``. It is given the code location's own ``lake``
    and ``step_settings`` resources, so each knob is set once."""

    lake: Lake
    step_settings: StepSettings

    def create_io_manager(self, context) -> ParquetLakeUPathIOManager:
        return ParquetLakeUPathIOManager(self.lake, self.step_settings)


class IcebergLakeIOManager(ConfigurableIOManagerFactory):
    """The lake as Iceberg tables in the ``lake`` resource's catalog, retrying storage faults as
    ``step_settings`` say (``lib.iceberg_io_manager``)."""

    lake: Lake
    step_settings: StepSettings

    def create_io_manager(self, context) -> IOManager:
        from trade_platform.lib.iceberg_io_manager import IcebergLakeIOManagerWorker

        return IcebergLakeIOManagerWorker(self.lake, self.step_settings)
