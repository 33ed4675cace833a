"""Data files of an Iceberg table: a day's rows written by polars' Parquet writer, and a Parquet
file described for the catalog (its partition, size and column statistics).

pyiceberg writes data files with pyarrow's encoder, one core per file; polars' writer encodes
columns on every core. The file it writes is the file pyiceberg would write: the table's columns
in its order and types, each with its Iceberg field id (``PARQUET:field_id`` in the Arrow schema
given to polars), column names sanitized as pyiceberg sanitizes them, the table's Parquet
properties where it sets them (compression codec and level, row-group rows, page size; otherwise
pyiceberg's codec, zstd, and the Parquet layout's row groups: pyiceberg's 1M-row groups leave
polars fewer parts to encode at once). Its statistics come from its own footer, computed as
pyiceberg computes them.
"""

from __future__ import annotations

import io
from datetime import date

import polars as pl
import pyarrow.parquet as pq
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import (
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.schema import Schema, sanitize_column_names
from pyiceberg.table import TableProperties
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.typedef import Record
from pyiceberg.utils.properties import property_as_int

from trade_platform.core.iceberg.reads import EPOCH
from trade_platform.core.lake_layout import ROW_GROUP_ROWS


def write_data_file(
    file_io: FileIO, metadata: TableMetadata, path: str, day: date, frame: pl.DataFrame
) -> DataFile:
    """``frame``, the rows of ``day``, as the Parquet data file ``path`` of the table: encoded in
    memory, then written through the table's FileIO in one piece (local disk or object store)."""
    table = metadata.schema()
    schema = sanitize_column_names(table)
    target = schema.as_arrow()
    names = {
        field.name: file_field.name for field, file_field in zip(table.fields, schema.fields, strict=True)
    }
    frame = frame.select(  # a column the rows lack (a Kafka provenance column, an extra) is null
        (pl.col(name) if name in frame.columns else pl.lit(None)).alias(names[name]) for name in names
    ).cast(dict(pl.from_arrow(target.empty_table()).schema))
    properties = metadata.properties
    level = property_as_int(properties, TableProperties.PARQUET_COMPRESSION_LEVEL)
    codec = properties.get(TableProperties.PARQUET_COMPRESSION, TableProperties.PARQUET_COMPRESSION_DEFAULT)
    encoded = io.BytesIO()
    frame.write_parquet(  # row groups and pages as the Parquet layout's unless the table says otherwise
        encoded,
        arrow_schema=target,
        compression=codec,
        compression_level=level,
        row_group_size=property_as_int(properties, TableProperties.PARQUET_ROW_GROUP_LIMIT, ROW_GROUP_ROWS),
        data_page_size=property_as_int(properties, TableProperties.PARQUET_PAGE_SIZE_BYTES),
    )
    with file_io.new_output(path).create(overwrite=True) as stream:
        stream.write(encoded.getbuffer())
    return describe(metadata, schema, path, day, pq.read_metadata(encoded), encoded.tell())


def describe(
    metadata: TableMetadata, file_schema: Schema, path: str, day: date, parquet: pq.FileMetaData, size: int
) -> DataFile:
    """The Parquet file at ``path`` (``parquet`` its footer, ``size`` its bytes) as a data file of
    the table's partition ``day``; ``file_schema`` names its columns (statistics by column path)."""
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=parquet,
        stats_columns=compute_statistics_plan(file_schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(file_schema),
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=Record((day - EPOCH).days),
        file_size_in_bytes=size,
        sort_order_id=None,
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )
