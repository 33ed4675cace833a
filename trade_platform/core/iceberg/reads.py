"""Days of an asset's Iceberg table read back as the Parquet layout reads them: a lazy scan
(polars' ``scan_iceberg``) with the model's dtypes and the ``date`` column last."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl
from pyiceberg.expressions import In
from pyiceberg.table import Table

from trade_platform.core.iceberg.schema import as_model_types
from trade_platform.core.lake_layout import PARTITION_COLUMN

EPOCH = date(1970, 1, 1)  # Iceberg stores a date as days since


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
    partition_position = 0  # the only partition field: identity(date)
    return {str(EPOCH + timedelta(days=task.file.partition[partition_position])) for task in tasks}
