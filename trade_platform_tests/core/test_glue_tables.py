"""What the Glue catalog records of each asset, from its pandera model alone (no AWS here; the
calls (``core.glue.catalog``) are tested against moto in ``system/test_glue.py``)."""

from __future__ import annotations

import polars as pl
import pytest

from trade_platform.core.classification import column_classifications
from trade_platform.core.glue.tables import folder_url, hive_type, partition_input, table_input
from trade_platform.core.names import ALL
from trade_platform.core.schemas import ASSET_MODELS


@pytest.mark.parametrize(
    ("dtype", "hive"),
    [
        (pl.String, "string"),
        (pl.Int64, "bigint"),
        (pl.Int32, "int"),
        (pl.Float64, "double"),
        (pl.Float32, "float"),
        (pl.Boolean, "boolean"),
        (pl.Datetime("us", "UTC"), "timestamp"),
        (pl.Datetime("ns"), "timestamp"),
        (pl.Date, "date"),
        (pl.Decimal(18, 4), "decimal(18,4)"),
        (pl.List(pl.String), "array<string>"),
        (pl.List(pl.List(pl.Int64)), "array<array<bigint>>"),
        (pl.Struct({"venue": pl.String, "lots": pl.Int32}), "struct<venue:string,lots:int>"),
        (pl.Categorical, "string"),
    ],
)
def test_polars_types_map_to_the_hive_types_athena_reads_from_parquet(dtype, hive: str):
    assert hive_type(dtype) == hive


@pytest.mark.parametrize("dtype", [pl.Duration("us"), pl.Time, pl.Object, pl.UInt64])
def test_a_type_athena_cannot_read_is_refused_by_name(dtype):
    with pytest.raises(ValueError, match="no Hive type reads a polars"):
        hive_type(dtype)


@pytest.mark.parametrize("asset", ALL)
def test_each_asset_table_has_its_model_columns_and_classifications_and_date_as_the_partition_key(asset: str):
    model = ASSET_MODELS[asset]
    table = table_input(asset, f"s3://bucket/lake/{asset}")
    columns = table["StorageDescriptor"]["Columns"]

    declared = {name: column.dtype.type for name, column in model.to_schema().columns.items()}
    assert [c["Name"] for c in columns] == [name for name in declared if name != "date"]
    assert {c["Name"]: c["Type"] for c in columns} == {
        name: hive_type(dtype) for name, dtype in declared.items() if name != "date"
    }
    classifications = column_classifications(model)
    assert {c["Name"]: c["Parameters"] for c in columns} == {
        c["Name"]: {"classification": str(classifications[c["Name"]])} for c in columns
    }
    assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [("date", "date")]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["StorageDescriptor"]["Location"] == f"s3://bucket/lake/{asset}/"


def test_a_partition_is_the_tables_storage_at_its_hive_folder():
    table = table_input("ohlcv", "s3://bucket/lake/ohlcv/")
    partition = partition_input(table, "2026-11-20")
    assert partition["Values"] == ["2026-11-20"]
    assert partition["StorageDescriptor"]["Location"] == "s3://bucket/lake/ohlcv/date=2026-11-20/"
    assert partition["StorageDescriptor"]["Columns"] == table["StorageDescriptor"]["Columns"]


def test_a_local_lake_is_registered_by_file_uri(tmp_path):
    assert folder_url(str(tmp_path / "lake" / "ohlcv")) == f"file://{tmp_path}/lake/ohlcv/"
    assert folder_url("s3://bucket/lake/ohlcv") == "s3://bucket/lake/ohlcv/"
