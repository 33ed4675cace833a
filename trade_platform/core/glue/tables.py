"""What the AWS Glue Data Catalog records of each asset, from its pandera model alone.

A table named like the asset: ``EXTERNAL_TABLE``, its columns and types from the model
(``core.schemas``) with each column's classification in the column's ``Parameters``, Parquet
storage (the standard Hive/Athena SerDe and formats) at ``<lake>/<asset>/``, and one partition
key, ``date`` of type ``date`` (Athena reads the hive folders ``date=YYYY-MM-DD`` as dates). A
partition is a day: the table's storage at ``<lake>/<asset>/date=YYYY-MM-DD/``. The calls that
register them are ``core.glue.catalog``'s. No Dagster, no AWS here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl

from trade_platform.core.classification import METADATA_KEY, column_classifications
from trade_platform.core.lake_layout import PARTITION_COLUMN, day_folder
from trade_platform.core.schemas import ASSET_MODELS

PARTITION_KEY = {
    "Name": PARTITION_COLUMN,
    "Type": "date",
    "Comment": f"partition day (UTC): the folder {day_folder('YYYY-MM-DD')}",
}
PARQUET_STORAGE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}
"""What Athena's ``CREATE EXTERNAL TABLE ... STORED AS PARQUET`` records."""
TABLE_PARAMETERS = {"classification": "parquet", "EXTERNAL": "TRUE"}
"""A table's own ``classification`` is Glue's name of its data format; a column's is who may see it."""
SCALAR_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "string",
    pl.Categorical: "string",
    pl.Enum: "string",
    pl.Boolean: "boolean",
    pl.Int8: "tinyint",
    pl.Int16: "smallint",
    pl.Int32: "int",
    pl.Int64: "bigint",
    pl.Float32: "float",
    pl.Float64: "double",
    pl.Date: "date",
    pl.Binary: "binary",
}


def hive_type(dtype: pl.DataType | type[pl.DataType]) -> str:
    """The Hive/Athena type that reads a polars column of ``dtype`` from Parquet."""
    if isinstance(dtype, type):
        dtype = dtype()
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision or 38},{dtype.scale})"
    if isinstance(dtype, (pl.List, pl.Array)):
        return f"array<{hive_type(dtype.inner)}>"
    if isinstance(dtype, pl.Struct):
        return "struct<" + ",".join(f"{f.name}:{hive_type(f.dtype)}" for f in dtype.fields) + ">"
    for kind, name in SCALAR_TYPES.items():
        if isinstance(dtype, kind):
            return name
    raise ValueError(f"no Hive type reads a polars {dtype} column from Parquet")


def table_columns(model: type[pa.DataFrameModel]) -> list[dict[str, Any]]:
    """The model's data columns as Glue columns (the partition column ``date`` is the key)."""
    classifications = column_classifications(model)
    columns = []
    for name, column in model.to_schema().columns.items():
        if name == PARTITION_KEY["Name"]:
            continue
        glue_column = {
            "Name": name,
            "Type": hive_type(column.dtype.type),
            "Parameters": {METADATA_KEY: str(classifications[name])},
        }
        if column.description:
            glue_column["Comment"] = column.description[:255]  # Glue's limit
        columns.append(glue_column)
    return columns


def table_input(asset: str, table_url: str) -> dict[str, Any]:
    """The Glue ``TableInput`` of ``asset`` stored under ``table_url`` (``<lake>/<asset>``)."""
    model = ASSET_MODELS[asset]
    return {
        "Name": asset,
        "Description": (model.__doc__ or "").strip().split("\n")[0],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": dict(TABLE_PARAMETERS),
        "PartitionKeys": [dict(PARTITION_KEY)],
        "StorageDescriptor": {
            "Columns": table_columns(model),
            "Location": folder_url(table_url),
            **PARQUET_STORAGE,
        },
    }


def folder_url(url: str) -> str:
    """``url`` as a folder location with a trailing slash; a local path becomes a file:// URI."""
    if "://" not in url:
        url = Path(url).resolve().as_uri()
    return url.rstrip("/") + "/"


def partition_input(table: Mapping[str, Any], day: str) -> dict[str, Any]:
    """The ``PartitionInput`` of ``day``: the table's storage at ``<table location>date=DAY/``."""
    storage = table["StorageDescriptor"]
    location = f"{storage['Location']}{day_folder(day)}/"
    return {"Values": [day], "StorageDescriptor": {**storage, "Location": location}}


def managed_shape(table: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the catalog manages of a table: an update is due when this differs from the model's."""
    table = table or {}
    storage = table.get("StorageDescriptor", {})
    serde = storage.get("SerdeInfo", {})
    return {
        "Description": table.get("Description", ""),
        "TableType": table.get("TableType"),
        "Parameters": {key: table.get("Parameters", {}).get(key) for key in TABLE_PARAMETERS},
        "PartitionKeys": [_column_shape(c) for c in table.get("PartitionKeys", [])],
        "Columns": [_column_shape(c) for c in storage.get("Columns", [])],
        "Location": storage.get("Location"),
        "InputFormat": storage.get("InputFormat"),
        "OutputFormat": storage.get("OutputFormat"),
        "Serde": (serde.get("SerializationLibrary"), serde.get("Parameters", {})),
    }


def _column_shape(column: Mapping[str, Any]) -> tuple:
    return column["Name"], column["Type"], column.get("Comment", ""), column.get("Parameters", {})
