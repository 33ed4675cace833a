"""The lake as Apache Iceberg tables (``TRADE_PLATFORM_TABLE_FORMAT=iceberg``, docs/iceberg.md).

``catalog`` opens the pyiceberg catalog and each asset's table, ``schema`` maps the pandera
models to Iceberg schemas, ``overwrite`` replaces days atomically and ``reads`` scans them back
as the Parquet layout's frames. No Dagster here.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class IcebergTableSettings:
    """Where the Iceberg tables are: the pyiceberg catalog's name and the tables' namespace."""

    catalog: str = "default"
    """``TRADE_PLATFORM_ICEBERG_CATALOG``: configured in ``.pyiceberg.yaml`` or ``PYICEBERG_CATALOG__*``."""
    namespace: str = "trade_platform"
    """``TRADE_PLATFORM_ICEBERG_NAMESPACE``: a Glue database on AWS."""
