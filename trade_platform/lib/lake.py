"""The ``lake`` resource: where the lake is, in which table format, and which catalogs know it.

The I/O managers (``lib.io_manager`` for Parquet, ``lib.iceberg_io_manager`` for Iceberg) write
and read through it, and a step reads a stored partition outside the I/O manager with it
(ingest replays the files gone from the landing zone from the stored ``raw_trades``); the
Parquet layout is ``core.lake_layout``'s, the Iceberg tables ``core.iceberg``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

import polars as pl
from dagster import ConfigurableResource
from upath import UPath

from trade_platform.core.glue.catalog import GlueCatalog
from trade_platform.core.iceberg import IcebergTableSettings
from trade_platform.core.lake_layout import PARTITION_COLUMN, partition_file, table_url
from trade_platform.core.names import ALL
from trade_platform.core.retention import Partition, delete_partition, expired_partitions
from trade_platform.core.storage import polars_storage_options, storage_errors
from trade_platform.settings import DEFAULT_SNAPSHOT_RETENTION_SECONDS

if TYPE_CHECKING:
    from trade_platform.core.iceberg.catalog import IcebergTables

ICEBERG = "iceberg"
ROW_COUNT = "dagster/row_count"
"""Every partition's materialization metadata: the rows written (Dagster's own key, shown in the UI)."""
SNAPSHOT_ID = "snapshot_id"
METADATA_LOCATION = "metadata_location"
"""An Iceberg partition's materialization metadata: the snapshot its run committed and that
snapshot's metadata file."""


class Lake(ConfigurableResource):
    """The lake: a local folder or an ``s3://bucket/prefix`` URL (``TRADE_PLATFORM_LAKE_URL``)."""

    url: str
    glue_database: str | None = None
    """The AWS Glue database that registers the lake's partitions (``TRADE_PLATFORM_GLUE_DATABASE``)."""
    table_format: str = "parquet"
    """``parquet`` or ``iceberg`` (``TRADE_PLATFORM_TABLE_FORMAT``)."""
    iceberg_catalog: str = IcebergTableSettings.catalog
    iceberg_namespace: str = IcebergTableSettings.namespace
    snapshot_retention_seconds: int = DEFAULT_SNAPSHOT_RETENTION_SECONDS
    """How long an Iceberg snapshot stays readable (``TRADE_PLATFORM_SNAPSHOT_RETENTION``)."""

    def glue_catalog(self) -> GlueCatalog | None:
        """The Glue catalog of the lake, or None when there is none."""
        return GlueCatalog(self.glue_database) if self.glue_database else None

    def iceberg_tables(self) -> IcebergTables:
        """The assets' Iceberg tables (``core.iceberg.catalog.IcebergTables``), opened when used."""
        from trade_platform.core.iceberg.catalog import IcebergTables  # pyiceberg: Iceberg lakes only

        return IcebergTables(self.url, self.iceberg_catalog, self.iceberg_namespace)

    def stored_partition(self, asset: str, day: str, empty_days: bool = False) -> pl.LazyFrame | None:
        """A lazy scan of the asset's stored partition (without ``date``), or None. An Iceberg
        day with no rows counts as not stored (the table keeps no trace of an empty day) unless
        ``empty_days``: then it is read as empty once the table exists, as the I/O manager reads it."""
        if self.table_format == ICEBERG:
            from trade_platform.core.iceberg.reads import scan_days, stored_days

            table = self.iceberg_tables().existing(asset)
            if table is None or not (empty_days or stored_days(table, [day])):
                return None
            return scan_days(table, asset, [day], table.current_snapshot().snapshot_id).drop(PARTITION_COLUMN)
        path = partition_file(UPath(table_url(self.url, asset)), day)
        with storage_errors("read", str(path)):
            if not path.exists():
                return None
        return pl.scan_parquet(str(path), storage_options=polars_storage_options(path))

    def iceberg_columns(self, asset: str, snapshot_id: int) -> dict[str, str]:
        """The columns of the asset's Iceberg table at a snapshot, as polars reads them."""
        from trade_platform.core.iceberg.reads import scan_days

        scan = scan_days(self.iceberg_tables().table(asset), asset, [], snapshot_id)
        return {name: str(dtype) for name, dtype in scan.collect_schema().items()}

    def expired_partitions(
        self, landing_url: str, windows: Mapping[str, int], today: date
    ) -> list[Partition]:
        """Every partition past its window (``core.retention``), oldest first. With Iceberg tables
        an asset's days are its table's, not the folders of ``<lake>/<asset>/``: those of a
        migrated lake hold data files older snapshots may still read (docs/iceberg.md)."""
        found = expired_partitions(landing_url, self.url, windows, today)
        if self.table_format == ICEBERG:
            from trade_platform.core.iceberg.retention import expired_table_days

            found = [p for p in found if p.layer not in ALL]
            found += expired_table_days(self.iceberg_tables(), windows, today)
        return sorted(found, key=lambda p: p.partition)

    def delete_partition(self, partition: Partition) -> None:
        """Delete an expired partition: an Iceberg table's day through the catalog, anything
        else (a day folder, a lineage file) as ``core.retention`` does."""
        if self.table_format == ICEBERG and partition.layer in ALL:
            from trade_platform.core.iceberg.retention import delete_table_day

            delete_table_day(self.iceberg_tables(), partition)
        else:
            delete_partition(partition)
