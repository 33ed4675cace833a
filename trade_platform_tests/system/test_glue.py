"""The AWS Glue catalog of an s3:// lake on moto's server over HTTP (S3, Glue and IAM on one
endpoint): every asset is a table built from its model, every materialized partition is
registered at its folder, a re-run adds nothing, the registered locations read back as the lake,
a drifted table is corrected, and faults fail or retry the step as storage faults do."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import boto3
import polars as pl
import pytest
import requests
import s3fs
from dagster import AssetKey, DagsterEventType, DagsterInstance, ExecuteInProcessResult, Failure
from polars.testing import assert_frame_equal
from upath import UPath

from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.glue.catalog import GlueCatalog
from trade_platform.core.glue.tables import PARQUET_STORAGE, hive_type, table_input
from trade_platform.core.names import ALL, OHLCV
from trade_platform.core.schemas import ASSET_MODELS
from trade_platform.core.sql_tables import Catalog
from trade_platform.core.storage import PermanentStorageError, TransientStorageError, polars_storage_options
from trade_platform.definitions import build_defs
from trade_platform.defs.governance.deregister import deregister_deleted_partitions
from trade_platform_tests.conftest import S3, new_dagster_home, settings_for
from trade_platform_tests.system.flaky_proxy import GLUE_THROTTLING, flaky_proxy

DAYS = ["2026-11-18", "2026-11-19", "2026-11-20"]
TRADES_PER_DAY = 300


@dataclass
class GlueLake:
    """A landing zone and lake in one bucket, and a Glue database created for them."""

    bucket: str
    database: str

    @property
    def lake(self) -> str:
        return f"s3://{self.bucket}/lake"

    def materialize(
        self, instance: DagsterInstance, first: str, last: str | None = None, **settings
    ) -> ExecuteInProcessResult:
        """Every asset (not their checks) of ``first`` or, in one run, of ``first..last``."""
        settings = {"glue_database": self.database, **settings}
        defs = build_defs(settings_for(f"s3://{self.bucket}/landing", self.lake, **settings))
        job = defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_selection={AssetKey(asset) for asset in ALL}, asset_check_selection=set()
        )
        if last is None:
            return job.execute_in_process(partition_key=first, instance=instance, raise_on_error=False)
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        return job.execute_in_process(tags=tags, instance=instance, raise_on_error=False)

    def partitions(self, asset: str) -> dict[str, str]:
        return registered_partitions(self.database, asset)


def registered_partitions(database: str, asset: str) -> dict[str, str]:
    """``{day: location}`` of the table's registered partitions."""
    pages = boto3.client("glue").get_paginator("get_partitions")
    return {
        p["Values"][0]: p["StorageDescriptor"]["Location"]
        for page in pages.paginate(DatabaseName=database, TableName=asset)
        for p in page["Partitions"]
    }


def new_database() -> str:
    name = f"lake_{uuid.uuid4().hex[:10]}"
    boto3.client("glue").create_database(DatabaseInput={"Name": name})
    return name


def failure_message(result: ExecuteInProcessResult) -> str:
    return "\n".join(e.step_failure_data.error.message for e in result.get_step_failure_events())


def restarts(result: ExecuteInProcessResult) -> int:
    return sum(1 for e in result.all_events if e.event_type == DagsterEventType.STEP_RESTARTED)


@pytest.fixture(scope="module")
def registered(s3_server: S3, tmp_path_factory) -> Iterator[tuple[GlueLake, DagsterInstance]]:
    """Three landed days: the first materialized alone, the other two in one range run."""
    s3fs.S3FileSystem.clear_instance_cache()
    glue_lake = GlueLake(S3(s3_server.endpoint).new_bucket(), new_database())
    landing = f"s3://{glue_lake.bucket}/landing"
    for day in DAYS:
        write_day(generate_day(date.fromisoformat(day), TRADES_PER_DAY, seed=7), landing)
    home = new_dagster_home(tmp_path_factory.mktemp("glue"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        with DagsterInstance.from_config(str(home)) as instance:
            assert glue_lake.materialize(instance, DAYS[0]).success
            assert glue_lake.materialize(instance, DAYS[1], DAYS[2]).success
            yield glue_lake, instance
    s3fs.S3FileSystem.clear_instance_cache()


def test_every_asset_is_a_glue_table_with_its_model_columns_classifications_and_parquet_storage(registered):
    glue_lake, _ = registered
    glue = boto3.client("glue")
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=glue_lake.database)["TableList"]}
    assert sorted(tables) == sorted(ALL)
    for asset, table in tables.items():
        expected = table_input(asset, f"{glue_lake.lake}/{asset}")
        storage = table["StorageDescriptor"]
        assert table["TableType"] == "EXTERNAL_TABLE"
        assert table["Parameters"]["classification"] == "parquet"
        assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [("date", "date")]
        assert storage["Location"] == f"{glue_lake.lake}/{asset}/"
        assert storage["Columns"] == expected["StorageDescriptor"]["Columns"]
        assert "date" not in [c["Name"] for c in storage["Columns"]]
        assert all(c["Parameters"]["classification"] for c in storage["Columns"])
        assert storage["SerdeInfo"] == PARQUET_STORAGE["SerdeInfo"]
        assert (storage["InputFormat"], storage["OutputFormat"]) == (
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        )
    dlq_columns = {c["Name"]: c for c in tables["trades_dlq"]["StorageDescriptor"]["Columns"]}
    assert dlq_columns["error_codes"]["Type"] == "array<string>"
    assert dlq_columns["rejected_at"]["Type"] == "timestamp"
    assert dlq_columns["raw_record"]["Parameters"] == {"classification": "pii"}


def test_every_materialized_partition_is_registered_at_its_folder(registered):
    glue_lake, _ = registered
    for asset in ALL:
        assert glue_lake.partitions(asset) == {
            day: f"{glue_lake.lake}/{asset}/date={day}/" for day in DAYS
        }, asset


def test_a_rerun_registers_nothing_twice(registered):
    glue_lake, instance = registered
    before = {asset: glue_lake.partitions(asset) for asset in ALL}

    assert glue_lake.materialize(instance, DAYS[0], DAYS[2]).success
    assert glue_lake.materialize(instance, DAYS[2]).success

    assert {asset: glue_lake.partitions(asset) for asset in ALL} == before


def optional_columns(asset: str) -> set[str]:
    return {name for name, column in ASSET_MODELS[asset].to_schema().columns.items() if not column.required}


def test_the_registered_partition_locations_read_back_as_the_lake(registered):
    glue_lake, _ = registered
    options = polars_storage_options(UPath(glue_lake.lake))
    lake = Catalog.open(glue_lake.lake).tables
    glue = boto3.client("glue")
    for asset in ALL:
        columns = glue.get_table(DatabaseName=glue_lake.database, Name=asset)["Table"]["StorageDescriptor"]
        declared = {c["Name"]: c["Type"] for c in columns["Columns"]}
        parts = []
        for day, location in sorted(glue_lake.partitions(asset).items()):
            part = pl.read_parquet(f"{location}*.parquet", storage_options=options)
            # What Athena reads: each file's columns have the types the table declares, and a
            # declared column a file lacks is an optional one (raw_trades' Kafka provenance).
            stored = {name: hive_type(dtype) for name, dtype in part.schema.items()}
            assert stored == {name: kind for name, kind in declared.items() if name in stored}, asset
            assert set(declared) - set(stored) <= optional_columns(asset), asset
            parts.append(part.with_columns(date=pl.lit(date.fromisoformat(day))))
        through_glue = pl.concat(parts)
        from_lake = lake[asset].collect()
        assert through_glue.height == from_lake.height > 0, asset
        assert_frame_equal(through_glue.select(from_lake.columns), from_lake, check_row_order=False)


def test_a_long_range_is_registered_in_batches_of_a_hundred_and_again_without_duplicates(s3: S3):
    database = new_database()
    glue = GlueCatalog(database)
    days = [(date(2025, 1, 1) + timedelta(days=n)).isoformat() for n in range(250)]
    calls: list[str] = []
    glue.client.meta.events.register("before-call.glue.*", lambda model, **_: calls.append(model.name))

    glue.register_partitions(OHLCV, "s3://bucket/lake/ohlcv", days)
    assert calls == ["GetTable", "CreateTable"] + ["BatchCreatePartition"] * 3
    calls.clear()
    glue.register_partitions(OHLCV, "s3://bucket/lake/ohlcv", days)  # every one exists: updated
    assert calls == ["GetTable"] + ["BatchCreatePartition", "BatchUpdatePartition"] * 3

    registered = registered_partitions(database, OHLCV)
    assert sorted(registered) == days
    assert registered[days[-1]] == f"s3://bucket/lake/ohlcv/date={days[-1]}/"


def test_a_drifted_table_schema_is_updated_to_the_models_on_the_next_materialization(registered):
    glue_lake, instance = registered
    glue = boto3.client("glue")
    current = glue.get_table(DatabaseName=glue_lake.database, Name=OHLCV)["Table"]
    expected = current["StorageDescriptor"]["Columns"]
    drifted = [c for c in expected if c["Name"] != "vwap"]  # a column the model has since added
    drifted[0] = {**drifted[0], "Type": "int", "Parameters": {}}  # and a retyped, unclassified one
    table = table_input(OHLCV, f"{glue_lake.lake}/{OHLCV}")
    glue.update_table(
        DatabaseName=glue_lake.database,
        TableInput={**table, "StorageDescriptor": {**table["StorageDescriptor"], "Columns": drifted}},
    )

    assert glue_lake.materialize(instance, DAYS[2]).success

    corrected = glue.get_table(DatabaseName=glue_lake.database, Name=OHLCV)["Table"]
    assert corrected["StorageDescriptor"]["Columns"] == expected
    assert glue_lake.partitions(OHLCV)[DAYS[2]] == f"{glue_lake.lake}/{OHLCV}/date={DAYS[2]}/"


# A failed run's suspended ingest step keeps holding its days' locks in this process: the tests of
# failures run on an instance (and lock folder) of their own.


def test_a_missing_database_fails_the_step_naming_it_and_the_region_without_retrying(registered, instance):
    glue_lake, _ = registered
    result = glue_lake.materialize(instance, DAYS[0], glue_database="no_such_database")
    assert not result.success
    message = failure_message(result)
    assert "Glue database no_such_database does not exist in region us-east-1" in message
    assert restarts(result) == 0


@pytest.fixture
def glue_refused(s3: S3) -> Iterator[dict]:
    """moto checks credentials from now on: the key of an IAM user who may use S3 but not Glue."""
    iam = boto3.client("iam")
    user = f"pipeline-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="s3-only", PolicyDocument=json.dumps(policy))
    requests.post(f"{s3.endpoint}/moto-api/reset-auth", data=b"0", timeout=10)
    try:
        yield key
    finally:
        requests.post(f"{s3.endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)


def test_refused_glue_permissions_fail_the_step_clearly_without_retrying(
    registered, instance, glue_refused: dict, monkeypatch
):
    glue_lake, _ = registered
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", glue_refused["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", glue_refused["SecretAccessKey"])
    s3fs.S3FileSystem.clear_instance_cache()

    result = glue_lake.materialize(instance, DAYS[0])

    assert not result.success
    message = failure_message(result)
    assert f"Glue database {glue_lake.database} (region us-east-1)" in message
    assert "not authorized to perform: glue:GetTable" in message
    assert "permissions were refused" in message
    assert glue_refused["SecretAccessKey"] not in message
    assert restarts(result) == 0


def test_bad_keys_are_refused_as_a_permanent_error_without_the_secret(glue_refused: dict, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with pytest.raises(PermanentStorageError) as refused:
        GlueCatalog("any_database").register_partitions(OHLCV, "s3://bucket/lake/ohlcv", DAYS)
    message = str(refused.value)
    assert "Glue database any_database (region us-east-1)" in message
    assert "InvalidClientTokenId" in message and "credentials" in message
    assert "wrong-secret" not in message


def test_glue_throttling_is_a_transient_error(s3: S3, monkeypatch):
    database = new_database()
    with flaky_proxy(s3.endpoint, lambda method, path: True, GLUE_THROTTLING) as (proxy, refused):
        monkeypatch.setenv("AWS_ENDPOINT_URL_GLUE", proxy)
        with pytest.raises(TransientStorageError, match="ThrottlingException: Rate exceeded"):
            GlueCatalog(database).register_partitions(OHLCV, "s3://bucket/lake/ohlcv", DAYS)
    assert refused


def test_a_throttled_glue_call_retries_the_step_which_then_registers_every_partition(
    s3: S3, registered, instance, monkeypatch
):
    glue_lake, _ = registered
    database = new_database()

    def first_glue_call(method: str, path: str) -> bool:
        return not refused  # with AWS_MAX_ATTEMPTS=1, botocore does not retry it itself

    with flaky_proxy(s3.endpoint, first_glue_call, GLUE_THROTTLING) as (proxy, refused):
        monkeypatch.setenv("AWS_ENDPOINT_URL_GLUE", proxy)  # S3 still goes straight to moto
        result = glue_lake.materialize(instance, DAYS[0], glue_database=database)
    monkeypatch.delenv("AWS_ENDPOINT_URL_GLUE")

    assert result.success
    assert len(refused) == 1 and restarts(result) == 1
    for asset in ALL:
        days = boto3.client("glue").get_partitions(DatabaseName=database, TableName=asset)["Partitions"]
        assert [p["Values"] for p in days] == [[DAYS[0]]], asset


def test_deregistering_days_never_registered_is_fine_but_a_missing_database_fails_clearly(
    s3: S3, instance: DagsterInstance
):
    database = new_database()
    glue = GlueCatalog(database)
    many = [f"2026-10-{d:02d}" for d in range(1, 31)]  # more than one BatchDeletePartition holds
    glue.register_partitions(OHLCV, "s3://bucket/lake/ohlcv", many[:27])

    deregister_deleted_partitions(instance, {OHLCV: many, "daily_volume": many}, glue)  # no such table

    assert boto3.client("glue").get_partitions(DatabaseName=database, TableName=OHLCV)["Partitions"] == []
    with pytest.raises(Failure, match="Deleted partitions stay registered in Glue") as failed:
        deregister_deleted_partitions(instance, {OHLCV: many}, GlueCatalog("no_such_database"))
    message = failed.value.description
    assert "ohlcv (30 days, 2026-10-01..2026-10-30)" in message
    assert "Glue database no_such_database does not exist in region us-east-1" in message
