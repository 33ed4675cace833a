"""Retention of Iceberg tables: the days of each asset's table past its window
(``core.retention``'s rule), and their deletion through the catalog.

A day is deleted by one ``overwrite`` snapshot that removes its data files (``DayOverwrite``
with no rows), so readers of the current snapshot no longer see it at once; the files stay
readable by older snapshots until table maintenance expires those and deletes the files no
snapshot references. A partition's ``bytes`` are its data files' sizes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date

from pyiceberg.expressions import LessThan

from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.overwrite import DayOverwrite
from trade_platform.core.iceberg.reads import day_of_file
from trade_platform.core.lake_layout import PARTITION_COLUMN, day_folder
from trade_platform.core.names import ALL
from trade_platform.core.retention import Partition, oldest_kept_day


def expired_table_days(tables: IcebergTables, windows: Mapping[str, int], today: date) -> list[Partition]:
    """Every day of an asset's table past the asset's window on ``today``, oldest first."""
    found = []
    for asset in (a for a in ALL if a in windows):
        table = tables.existing(asset)
        if table is None:
            continue
        oldest = oldest_kept_day(windows[asset], today)
        sizes: dict[str, int] = defaultdict(int)
        for task in table.scan(row_filter=LessThan(PARTITION_COLUMN, oldest.isoformat())).plan_files():
            sizes[day_of_file(task.file)] += task.file.file_size_in_bytes
        location = table.location().rstrip("/")
        found += [
            Partition(asset, day, f"{location}/data/{day_folder(day)}", size) for day, size in sizes.items()
        ]
    return sorted(found, key=lambda p: p.partition)


def delete_table_day(tables: IcebergTables, partition: Partition) -> None:
    """Remove the partition's day from its asset's table, in one snapshot."""
    writer = DayOverwrite(tables, partition.layer)
    writer.add(date.fromisoformat(partition.partition), [])
    writer.commit()
