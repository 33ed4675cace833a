"""Iceberg tables in an AWS Glue catalog on S3 (moto's servers): the pipeline writes every asset
as an Iceberg table that Glue lists (as Athena finds it) and pyiceberg reads back."""

from __future__ import annotations

from datetime import date

import boto3
import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance
from pyiceberg.catalog import load_catalog
from pyiceberg.expressions import EqualTo

from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.iceberg import IcebergTableSettings
from trade_platform.core.names import ALL
from trade_platform.definitions import build_defs
from trade_platform_tests.conftest import DAY, S3, settings_for

pytestmark = pytest.mark.slow
NAMESPACE = "trade_lake"


@pytest.fixture
def glue_catalog(s3: S3, monkeypatch) -> dict[str, str]:
    """The catalog ``aws``, configured the pyiceberg way: Glue and S3 at moto's endpoint."""
    properties = {
        "TYPE": "glue",
        "GLUE__ENDPOINT": s3.endpoint,
        "GLUE__REGION": "us-east-1",
        "S3__ENDPOINT": s3.endpoint,
        "S3__REGION": "us-east-1",
    }
    for name, value in properties.items():
        monkeypatch.setenv(f"PYICEBERG_CATALOG__AWS__{name}", value)
    boto3.client("glue").create_database(DatabaseInput={"Name": NAMESPACE})
    yield {name.lower().replace("__", "."): value for name, value in properties.items()}
    glue = boto3.client("glue")
    for table in glue.get_tables(DatabaseName=NAMESPACE)["TableList"]:
        glue.delete_table(DatabaseName=NAMESPACE, Name=table["Name"])
    glue.delete_database(Name=NAMESPACE)


def test_every_asset_is_an_iceberg_table_in_glue_on_s3(s3: S3, glue_catalog, instance: DagsterInstance):
    bucket = s3.new_bucket()
    landing, lake = f"s3://{bucket}/landing", f"s3://{bucket}/lake"
    write_day(generate_day(date.fromisoformat(DAY), 500, seed=3, bad_fraction=0.05), landing)
    iceberg = IcebergTableSettings(catalog="aws", namespace=NAMESPACE)
    defs = build_defs(settings_for(landing, lake, table_format="iceberg", iceberg=iceberg))
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        partition_key=DAY, instance=instance
    )
    assert result.success

    glue = boto3.client("glue")
    catalog = load_catalog("aws", **glue_catalog)
    counts = {}
    for asset in ALL:
        entry = glue.get_table(DatabaseName=NAMESPACE, Name=asset)["Table"]
        assert entry["Parameters"]["table_type"] == "ICEBERG"  # what Athena reads as an Iceberg table
        assert entry["StorageDescriptor"]["Location"].startswith(f"s3://{bucket}/")
        recorded = instance.get_latest_materialization_event(AssetKey(asset)).asset_materialization.metadata
        assert entry["Parameters"]["metadata_location"] == recorded["metadata_location"].value
        table = catalog.load_table(f"{NAMESPACE}.{asset}")
        counts[asset] = pl.from_arrow(table.scan(row_filter=EqualTo("date", DAY)).to_arrow()).height
    assert counts["raw_trades"] == 500 and counts["validated_trades"] > 0
    assert counts["validated_trades"] + counts["trades_dlq"] == counts["raw_trades"]
    assert not s3.keys(bucket, "lake/raw_trades/")  # no Parquet layout beside the tables
