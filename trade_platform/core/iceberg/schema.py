"""Each asset's Iceberg schema, from its pandera model (``core.schemas``).

Type mapping: ``String`` -> ``string``, ``Int64`` -> ``long``, ``Float64`` -> ``double``,
``Boolean`` -> ``boolean``, ``Date`` -> ``date``, ``Datetime`` with a time zone ->
``timestamptz`` and without -> ``timestamp`` (Iceberg keeps microseconds: the Kafka timestamp's
milliseconds are read back as the model's ``ms``), ``List(String)`` -> ``list<string>``. A column
the model lets be null is optional, the others are required. Columns a model declares optional
(Kafka provenance) and unknown extras of ``raw_trades`` join the table when a write first
carries them. Each column's classification is the table property
``trade_platform.classification.<column>``: Iceberg columns have a doc but no properties.
"""

from __future__ import annotations

import itertools

import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    IcebergType,
    ListType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)

from trade_platform.core.classification import column_classifications
from trade_platform.core.schemas import ASSET_MODELS

CLASSIFICATION_PROPERTY = "trade_platform.classification."
SCALAR_TYPES: dict[type[pl.DataType], IcebergType] = {
    pl.String: StringType(),
    pl.Int64: LongType(),
    pl.Float64: DoubleType(),
    pl.Boolean: BooleanType(),
    pl.Date: DateType(),
}


def iceberg_type(dtype: pl.DataType | type[pl.DataType], ids: itertools.count) -> IcebergType:
    """The Iceberg type of a polars column of ``dtype`` (``ids`` numbers nested fields)."""
    if isinstance(dtype, type):
        dtype = dtype()
    if isinstance(dtype, pl.Datetime):
        return TimestamptzType() if dtype.time_zone else TimestampType()
    if isinstance(dtype, pl.List):
        return ListType(next(ids), iceberg_type(dtype.inner, ids), element_required=False)
    for kind, iceberg in SCALAR_TYPES.items():
        if isinstance(dtype, kind):
            return iceberg
    raise ValueError(f"no Iceberg type is mapped for a polars {dtype} column")


def _declared(asset: str) -> dict[str, pa.Column]:
    return ASSET_MODELS[asset].to_schema().columns


def table_schema(asset: str) -> Schema:
    """The Iceberg schema of ``asset``: the columns its model requires, in the model's order."""
    columns = {name: c for name, c in _declared(asset).items() if c.required}
    ids = itertools.count(len(columns) + 1)
    fields = [
        NestedField(
            field_id=position,
            name=name,
            field_type=iceberg_type(column.dtype.type, ids),
            required=not column.nullable,
            doc=column.description,
        )
        for position, (name, column) in enumerate(columns.items(), start=1)
    ]
    return Schema(*fields)


def table_properties(asset: str) -> dict[str, str]:
    """The classification of every column the model declares, as table properties."""
    classified = column_classifications(ASSET_MODELS[asset])
    return {f"{CLASSIFICATION_PROPERTY}{name}": str(level) for name, level in classified.items()}


def to_table_arrow(frame: pl.DataFrame, schema: Schema) -> pa_arrow.Table:
    """``frame`` as the Arrow table the Iceberg schema describes: its columns in the table's
    order (an optional one the frame lacks is null) and types (timestamps in microseconds)."""
    target = schema.as_arrow()
    missing = [pl.lit(None).alias(name) for name in target.names if name not in frame.columns]
    return frame.with_columns(missing).select(target.names).to_arrow().cast(target)


def as_model_types(asset: str, scan: pl.LazyFrame) -> pl.LazyFrame:
    """A scan of the table with the model's dtypes (Iceberg reads timestamps as microseconds in
    UTC offset ``+00:00``), so the frames equal the Parquet layout's."""
    declared = _declared(asset)
    names = scan.collect_schema().names()
    return scan.with_columns(pl.col(n).cast(declared[n].dtype.type) for n in names if n in declared)


def empty_frame(asset: str) -> pl.LazyFrame:
    """No rows, in the columns the table starts with (a day of a table never written)."""
    columns = _declared(asset)
    return pl.LazyFrame(schema={name: c.dtype.type for name, c in columns.items() if c.required})
