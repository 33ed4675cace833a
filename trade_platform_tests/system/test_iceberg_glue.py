"""Iceberg tables on S3 (moto's server) in the catalogs of a deployment: AWS Glue (moto's), where
the pipeline writes every asset as an Iceberg table that Glue lists (as Athena finds it) and
pyiceberg reads back; and the SQL catalog on the stack's PostgreSQL (a real cluster, started as
``make stack`` starts it)."""

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
from trade_platform_tests.system.conftest import stack

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


def test_an_s3_lakes_tables_are_kept_in_a_sql_catalog_on_postgresql(
    s3: S3, instance: DagsterInstance, tmp_path, monkeypatch
):
    """docs/iceberg.md's stack settings: ``PYICEBERG_CATALOG__DEFAULT__TYPE=sql`` and its URI."""
    (tmp_path / "postgres").mkdir()
    postgres = stack.Stack(tmp_path / "postgres")
    try:
        uri = postgres.start_postgres()
        catalog_properties = {"type": "sql", "uri": uri, "s3.endpoint": s3.endpoint, "s3.region": "us-east-1"}
        for name, value in catalog_properties.items():
            monkeypatch.setenv(f"PYICEBERG_CATALOG__DEFAULT__{name.upper().replace('.', '__')}", value)
        bucket = s3.new_bucket()
        landing, lake = f"s3://{bucket}/landing", f"s3://{bucket}/lake"
        write_day(generate_day(date.fromisoformat(DAY), 400, seed=5, bad_fraction=0.05), landing)
        defs = build_defs(settings_for(landing, lake, table_format="iceberg"))
        job = defs.resolve_implicit_global_asset_job_def()
        assert job.execute_in_process(partition_key=DAY, instance=instance).success

        catalog = load_catalog("default", **catalog_properties)  # another client of the same catalog
        assert sorted(name for _, name in catalog.list_tables("trade_platform")) == sorted(ALL)
        raw = catalog.load_table("trade_platform.raw_trades")
        assert raw.metadata_location.startswith(f"s3://{bucket}/lake/")
        recorded = instance.get_latest_materialization_event(AssetKey("raw_trades")).asset_materialization
        assert recorded.metadata["metadata_location"].value == raw.metadata_location
        rows = {
            a: catalog.load_table(f"trade_platform.{a}").scan(row_filter=EqualTo("date", DAY)).count()
            for a in ALL
        }
        assert rows["raw_trades"] == 400 and rows["validated_trades"] + rows["trades_dlq"] == 400
    finally:
        postgres.down()
