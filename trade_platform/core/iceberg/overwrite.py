"""Atomic, idempotent day overwrites of an Iceberg table.

``DayOverwrite`` writes a run's rows as data files batch by batch (a large day never has to be
in memory whole), then commits once: one ``overwrite`` snapshot that removes every data file of
the run's days and adds the new ones. The table is partitioned by the identity of ``date`` and
each data file holds one day, so removing whole files replaces exactly those days; a day with
no rows ends with none. Until the commit, readers see the previous snapshot; a crash leaves
unreferenced data files, never a partial day. A commit that loses a race with another writer
(``CommitFailedException``) is retried on the freshly loaded table, the days' files planned
again, with a bounded exponential backoff; pyiceberg's own retry is off (the table property
``commit.retry.num-retries=0``, ``catalog.IcebergTables``) because it keeps the files it
planned to remove from the stale snapshot.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import polars as pl
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import In
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.table import Table
from pyiceberg.table.update.schema import UpdateSchema
from pyiceberg.utils.concurrent import ExecutorFactory

from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.data_files import write_data_file
from trade_platform.core.iceberg.schema import iceberg_type
from trade_platform.core.lake_layout import PARTITION_COLUMN
from trade_platform.core.schemas import ASSET_MODELS
from trade_platform.core.storage import TransientStorageError

COMMIT_ATTEMPTS = 8
FIRST_BACKOFF_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 2.0
T = TypeVar("T")


@dataclass(frozen=True)
class Committed:
    """What a commit made: the table's snapshot and its metadata file."""

    snapshot_id: int
    metadata_location: str


class DayOverwrite:
    """Replace the rows of some days of ``asset``'s table with the batches ``add``-ed, at
    ``commit``. Days may be added from several threads at once (``lib.iceberg_io_manager``
    prepares and checks two days' batches at a time, as the Parquet layout writes them)."""

    def __init__(self, tables: IcebergTables, asset: str):
        self._tables, self._asset = tables, asset
        self._table = tables.table(asset)
        self._days: set[date] = set()
        self._files: list[DataFile] = []
        self._lock = threading.Lock()
        self._write_id, self._file_numbers = uuid.uuid4(), itertools.count()

    def add(self, day: date, batches: Iterable[pl.DataFrame]) -> int:
        """Write ``batches``, the rows of ``day`` (possibly none), as data files; return their
        rows. A batch is encoded while the next one is prepared (a spilled day streams its
        batches: one more in memory at a time)."""
        with self._lock:
            self._days.add(day)
        rows, writing = 0, None
        for batch in batches:
            if batch.height:
                self._add_columns(batch)
                written, writing = writing, self._write(day, batch)
                if written is not None:
                    self._keep(written.result())
            rows += batch.height
        if writing is not None:
            self._keep(writing.result())
        return rows

    def _keep(self, data_file: DataFile) -> None:
        with self._lock:
            self._files.append(data_file)

    def _write(self, day: date, batch: pl.DataFrame) -> Future[DataFile]:
        """The batch as a data file of the day's partition, being written in pyiceberg's worker
        threads when this returns. pyiceberg's ``Table.append`` would split the batch by partition
        first (a filter and a copy of every column) and encode it with pyarrow on one core; a
        batch here is one day, checked instead, and polars encodes it (``data_files``)."""
        days = batch.select(pl.col(PARTITION_COLUMN).min().alias("first"), pl.col(PARTITION_COLUMN).max())
        if days.row(0) != (day, day):
            raise ValueError(f"{self._asset}: a batch of {day} holds rows of {days.row(0)}")
        with self._lock:
            table = self._table
        metadata = table.metadata
        spec = metadata.spec()
        key = PartitionKey([PartitionFieldValue(spec.fields[0], day)], spec, metadata.schema())
        name = f"00000-{next(self._file_numbers)}-{self._write_id}.parquet"  # as pyiceberg names them
        path = table.location_provider().new_data_location(data_file_name=name, partition_key=key)
        return ExecutorFactory.get_or_create().submit(write_data_file, table.io, metadata, path, day, batch)

    def commit(self, properties: dict[str, str] | None = None) -> Committed:
        """One snapshot swapping the days' files for the new ones (``properties`` in its
        summary), once all are written, retried on a fresh table while other writers win the race."""
        return self._retrying(lambda table: self._commit(table, properties or {}))

    def _commit(self, table: Table, properties: dict[str, str]) -> Committed:
        days = sorted(str(day) for day in self._days)
        stored = [task.file for task in table.scan(row_filter=In(PARTITION_COLUMN, days)).plan_files()]
        # A snapshot even when nothing changes (an empty day never written): the run's own, which
        # its checks read (``lib.iceberg_io_manager.snapshot_of_run``).
        transaction = table.transaction()
        with transaction.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
            for data_file in stored:
                overwrite.delete_data_file(data_file)
            for data_file in self._files:
                overwrite.append_data_file(data_file)
        table = transaction.commit_transaction()
        return Committed(table.current_snapshot().snapshot_id, table.metadata_location)

    def _add_columns(self, batch: pl.DataFrame) -> None:
        """Add the batch's columns the table lacks (``add_columns``), one thread at a time."""
        with self._lock:
            self._add_missing_columns(batch)

    def _add_missing_columns(self, batch: pl.DataFrame) -> None:
        if set(batch.columns) <= set(_columns(self._table)):
            return

        def add(table: Table) -> Table:
            with table.update_schema() as update:
                add_columns(
                    update, self._asset, {n: t for n, t in batch.schema.items() if n not in _columns(table)}
                )
            return table.refresh()

        self._table = self._retrying(add)

    def _retrying(self, change: Callable[[Table], T]) -> T:
        """``change`` of the table, again on the table as committed now while another writer's
        commit wins the race, with a bounded exponential backoff."""
        table, attempt = self._table, 1
        while True:
            try:
                return change(table)
            except CommitFailedException as exc:
                if attempt == COMMIT_ATTEMPTS:
                    where = self._tables.identifier(self._asset)
                    raise TransientStorageError(f"{where}: {attempt} commits lost to other writers") from exc
            time.sleep(
                min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2**attempt) * random.uniform(0.5, 1.0)
            )
            table, attempt = self._tables.table(self._asset), attempt + 1


def add_columns(update: UpdateSchema, asset: str, columns: Mapping[str, pl.DataType]) -> None:
    """Add ``columns`` to the asset's table, optional, typed as the model declares them (a Kafka
    provenance column) or as given (an unknown extra of raw_trades, a column of a dbt model)."""
    model = ASSET_MODELS.get(asset)
    declared = model.to_schema().columns if model is not None else {}
    for name, dtype in columns.items():
        update.add_column(
            name, iceberg_type(declared[name].dtype.type if name in declared else dtype, itertools.count(1))
        )


def _columns(table: Table) -> list[str]:
    return [field.name for field in table.schema().fields]
