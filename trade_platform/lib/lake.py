"""The ``lake`` resource: where the lake is and which Glue database catalogs it.

The I/O manager (``lib.io_manager``) writes and reads through it, and a step reads a stored
partition outside the I/O manager with it (ingest replays the files gone from the landing zone
from the stored ``raw_trades``); both follow ``core.lake_layout``.
"""

from __future__ import annotations

import polars as pl
from dagster import ConfigurableResource
from upath import UPath

from trade_platform.core.glue.catalog import GlueCatalog
from trade_platform.core.lake_layout import partition_file, table_url
from trade_platform.core.storage import polars_storage_options, storage_errors


class Lake(ConfigurableResource):
    """The lake: a local folder or an ``s3://bucket/prefix`` URL (``TRADE_PLATFORM_LAKE_URL``)."""

    url: str
    glue_database: str | None = None
    """The AWS Glue database that registers the lake's partitions (``TRADE_PLATFORM_GLUE_DATABASE``)."""

    def glue_catalog(self) -> GlueCatalog | None:
        """The Glue catalog of the lake, or None when there is none."""
        return GlueCatalog(self.glue_database) if self.glue_database else None

    def stored_partition(self, asset: str, day: str) -> pl.LazyFrame | None:
        """A lazy scan of the asset's stored partition (without ``date``), or None."""
        path = partition_file(UPath(table_url(self.url, asset)), day)
        with storage_errors("read", str(path)):
            if not path.exists():
                return None
        return pl.scan_parquet(str(path), storage_options=polars_storage_options(path))
