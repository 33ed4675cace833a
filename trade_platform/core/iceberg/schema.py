"""Each asset's Iceberg schema, from its pandera model (``core.schemas``); a dbt model's, which
has no pandera model, from the columns of its rows (``frame_schema``).

Type mapping: ``String`` -> ``string``, ``Int64`` -> ``long``, ``Float64`` -> ``double``,
``Boolean`` -> ``boolean``, ``Date`` -> ``date`` (and, for dbt models, ``Int32`` -> ``int``,
``Float32`` -> ``float``, ``Decimal`` -> ``decimal``), ``Datetime`` with a time zone ->
``timestamptz`` and without -> ``timestamp`` (Iceberg keeps microseconds: the Kafka timestamp's
milliseconds are read back as the model's ``ms``), ``List(String)`` -> ``list<string>``. A column
the model lets be null is optional, the others are required. Columns a model declares optional
(Kafka provenance) and unknown extras of ``raw_trades`` join the table when a write first
carries them. Each column's classification is the table property
``trade_platform.classification.<column>``: Iceberg columns have a doc but no properties.
A dbt model's columns are all optional: its constraints are its dbt tests, which fail checks
instead of refusing rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

import pandera.polars as pa
import polars as pl
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
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
    pl.Int32: IntegerType(),  # a dbt model's INTEGER
    pl.Float64: DoubleType(),
    pl.Float32: FloatType(),  # a dbt model's REAL
    pl.Boolean: BooleanType(),
    pl.Date: DateType(),
}


def iceberg_type(dtype: pl.DataType | type[pl.DataType], ids: itertools.count) -> IcebergType:
    """The Iceberg type of a polars column of ``dtype`` (``ids`` numbers nested fields)."""
    if isinstance(dtype, type):
        dtype = dtype()
    if isinstance(dtype, pl.Datetime):
        return TimestamptzType() if dtype.time_zone else TimestampType()
    if isinstance(dtype, pl.Decimal):  # a dbt model's DECIMAL
        return DecimalType(dtype.precision or 38, dtype.scale)
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
    return _schema(
        (name, column.dtype.type, not column.nullable, column.description)
        for name, column in _declared(asset).items()
        if column.required
    )


def frame_schema(columns: pl.Schema, docs: Mapping[str, str]) -> Schema:
    """The Iceberg schema of a table with no pandera model (a dbt model's): ``columns`` as its
    rows have them, all optional, each with its doc from ``docs``."""
    return _schema((name, dtype, False, docs.get(name) or None) for name, dtype in columns.items())


def _schema(columns: Iterable[tuple[str, pl.DataType | type[pl.DataType], bool, str | None]]) -> Schema:
    """Fields numbered from 1 in order (name, dtype, required, doc); nested fields after them."""
    columns = list(columns)
    ids = itertools.count(len(columns) + 1)
    fields = [
        NestedField(
            field_id=position,
            name=name,
            field_type=iceberg_type(dtype, ids),
            required=required,
            doc=doc,
        )
        for position, (name, dtype, required, doc) in enumerate(columns, start=1)
    ]
    return Schema(*fields)


def table_properties(asset: str) -> dict[str, str]:
    """The classification of every column the model declares, as table properties."""
    return classification_properties(column_classifications(ASSET_MODELS[asset]))


def classification_properties(classified: Mapping[str, object]) -> dict[str, str]:
    """``{column: classification}`` as table properties."""
    return {f"{CLASSIFICATION_PROPERTY}{name}": str(level) for name, level in classified.items()}


def as_model_types(asset: str, scan: pl.LazyFrame) -> pl.LazyFrame:
    """A scan of the table with the model's dtypes (Iceberg reads timestamps as microseconds in
    UTC offset ``+00:00``), so the frames equal the Parquet layout's; a column no model declares
    (a dbt model's) keeps its type, a time zone spelled ``UTC``, as the platform writes it."""
    declared = _declared(asset) if asset in ASSET_MODELS else {}
    schema = scan.collect_schema()
    return scan.with_columns(
        pl.col(name).cast(declared[name].dtype.type)
        if name in declared
        else pl.col(name).dt.convert_time_zone("UTC")
        for name, dtype in schema.items()
        if name in declared or (isinstance(dtype, pl.Datetime) and dtype.time_zone)
    )


def empty_frame(asset: str) -> pl.LazyFrame:
    """No rows, in the columns the table starts with (a day of a table never written)."""
    columns = _declared(asset)
    return pl.LazyFrame(schema={name: c.dtype.type for name, c in columns.items() if c.required})
