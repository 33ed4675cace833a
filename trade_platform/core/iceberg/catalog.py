"""The pyiceberg catalog of the lake and each asset's table in it.

A catalog named ``TRADE_PLATFORM_ICEBERG_CATALOG`` is configured the pyiceberg way
(``.pyiceberg.yaml``, or ``PYICEBERG_CATALOG__<NAME>__<PROPERTY>`` variables, read by pyiceberg
itself): the stack's SQL catalog on PostgreSQL, Glue on AWS. With none configured, a local lake
gets an embedded SQL catalog, a SQLite file in the lake's folder (``EMBEDDED_CATALOG_FILE``); an
S3 lake is refused, since a SQLite file on S3 could not be shared between writers. Each asset is
a table ``<namespace>.<asset>`` at ``<lake>/<namespace>/<asset>/`` (whatever the catalog's
warehouse), created on first use from its model (``core.iceberg.schema``), partitioned by the
identity of ``date``. A dbt model's table is one more in the namespace, created from its rows'
columns (``core.iceberg.schema.frame_schema``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import sqlalchemy.exc
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform
from pyiceberg.utils.config import Config
from upath import UPath

from trade_platform.core.iceberg.schema import table_properties, table_schema
from trade_platform.core.lake_layout import PARTITION_COLUMN
from trade_platform.core.storage import PermanentStorageError, is_local

EMBEDDED_CATALOG_FILE = "iceberg_catalog.sqlite"
PARTITION_FIELD_ID = 1000  # Iceberg numbers partition fields from 1000
NO_PYICEBERG_RETRY = {"commit.retry.num-retries": "0"}
"""``core.iceberg.overwrite`` retries a lost commit itself, planning the days' files again."""


def open_catalog(lake_url: str, name: str) -> Catalog:
    """The catalog ``name`` as pyiceberg's configuration has it, or the local lake's embedded one."""
    configured = Config().get_catalog_config(name)  # read now: a test or CLI may have set it late
    if configured:
        return load_catalog(name, **configured)
    lake = UPath(lake_url)
    if not is_local(lake):
        raise PermanentStorageError(
            f"no Iceberg catalog {name!r} is configured for the lake {lake_url}: configure it in "
            f".pyiceberg.yaml or as PYICEBERG_CATALOG__{name.upper()}__TYPE=sql|glue|rest and its "
            "properties (docs/iceberg.md), or name a configured one in TRADE_PLATFORM_ICEBERG_CATALOG"
        )
    folder = Path(lake.path).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    properties = {"uri": f"sqlite:///{folder / EMBEDDED_CATALOG_FILE}", "warehouse": folder.as_uri()}
    try:
        return SqlCatalog(name, **properties)
    except sqlalchemy.exc.OperationalError:  # another process created the catalog's tables meanwhile
        return SqlCatalog(name, **properties)


class IcebergTables:
    """The assets' tables in one namespace of one catalog, opened when first used."""

    def __init__(self, lake_url: str, catalog: str, namespace: str):
        self.lake_url, self.catalog_name, self.namespace = lake_url, catalog, namespace

    @cached_property
    def catalog(self) -> Catalog:
        return open_catalog(self.lake_url, self.catalog_name)

    def __str__(self) -> str:
        return f"Iceberg catalog {self.catalog_name} ({self.namespace})"

    def identifier(self, asset: str) -> str:
        return f"{self.namespace}.{asset}"

    def existing(self, asset: str) -> Table | None:
        """The asset's table as committed now, or None when it was never written."""
        try:
            return self.catalog.load_table(self.identifier(asset))
        except NoSuchTableError:
            return None

    def table(
        self, asset: str, schema: Schema | None = None, properties: Mapping[str, str] | None = None
    ) -> Table:
        """The asset's table, created when it does not exist yet from its pandera model, or from
        ``schema`` and ``properties`` (a dbt model's, which has none)."""
        found = self.existing(asset)
        if found is not None:
            return found
        self.catalog.create_namespace_if_not_exists(self.namespace)
        schema = schema or table_schema(asset)
        properties = table_properties(asset) if properties is None else properties
        source = schema.find_field(PARTITION_COLUMN).field_id
        spec = PartitionSpec(
            PartitionField(
                source_id=source,
                field_id=PARTITION_FIELD_ID,
                transform=IdentityTransform(),
                name=PARTITION_COLUMN,
            )
        )
        return self.catalog.create_table_if_not_exists(
            self.identifier(asset),
            schema,
            location=self.location(asset),
            partition_spec=spec,
            properties={**properties, **NO_PYICEBERG_RETRY},
        )

    def location(self, asset: str) -> str:
        """``<lake>/<namespace>/<asset>``: a table lives in the lake, whatever the catalog's
        warehouse (the lake URL alone says where the data is)."""
        lake = UPath(self.lake_url)
        root = Path(lake.path).resolve().as_uri() if is_local(lake) else self.lake_url.rstrip("/")
        return f"{root}/{self.namespace}/{asset}"
