"""An asset's Iceberg table read back as the Parquet layout reads it: lazy scans (polars'
``scan_iceberg``) with the model's dtypes, of some days or of a whole table as of a time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

import polars as pl
from pyiceberg.expressions import In
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from trade_platform.core.iceberg.schema import as_model_types
from trade_platform.core.lake_layout import PARTITION_COLUMN

EPOCH = date(1970, 1, 1)  # Iceberg stores a date as days since
PARTITION_POSITION = 0  # the only partition field: identity(date)


def scan_days(table: Table, asset: str, days: Sequence[str], snapshot_id: int | None = None) -> pl.LazyFrame:
    """The rows of ``days`` in the table (at ``snapshot_id``, default the current snapshot)."""
    wanted = pl.Series(list(days), dtype=pl.String).str.to_date()
    scan = pl.scan_iceberg(table, snapshot_id=snapshot_id).filter(
        pl.col(PARTITION_COLUMN).is_in(wanted.implode())
    )
    names = [name for name in scan.collect_schema().names() if name != PARTITION_COLUMN]
    return as_model_types(asset, scan.select(*names, PARTITION_COLUMN))


def stored_days(table: Table, days: Sequence[str]) -> set[str]:
    """Which of ``days`` have rows in the table now (from its manifests, no data read)."""
    tasks = table.scan(
        row_filter=In(PARTITION_COLUMN, list(days)), selected_fields=(PARTITION_COLUMN,)
    ).plan_files()
    return {day_of_file(task.file) for task in tasks}


def day_of_file(data_file: DataFile) -> str:
    """The day (YYYY-MM-DD) of a data file, from its partition value."""
    return str(EPOCH + timedelta(days=data_file.partition[PARTITION_POSITION]))


def as_of_millis(tables: Iterable[Table], as_of: str) -> int:
    """The time ``as_of`` names, in epoch milliseconds: an ISO timestamp (UTC unless it has an
    offset), or a snapshot id of one of ``tables``, meaning the time it was committed."""
    if as_of.isdigit():
        for table in tables:
            snapshot = table.snapshot_by_id(int(as_of))
            if snapshot is not None:
                return snapshot.timestamp_ms
        raise ValueError(f"--as-of {as_of}: no table has a snapshot with this id")
    try:
        moment = datetime.fromisoformat(as_of)
    except ValueError:
        raise ValueError(f"--as-of {as_of!r}: expected a snapshot id or an ISO timestamp") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def scan_as_of(table: Table, asset: str, millis: int | None) -> pl.LazyFrame | None:
    """All of the table as it was at ``millis`` (None: now), or None when it had no snapshot then."""
    snapshot = table.current_snapshot() if millis is None else table.snapshot_as_of_timestamp(millis)
    if snapshot is None:
        return None
    return as_model_types(asset, pl.scan_iceberg(table, snapshot_id=snapshot.snapshot_id))
