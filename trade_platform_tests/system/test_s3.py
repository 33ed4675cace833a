"""Landing zone and lake on a real S3 HTTP endpoint (moto's server on loopback)."""

from __future__ import annotations

import json
from datetime import date

import boto3
import polars as pl
import pytest
import requests
import s3fs
from dagster import DagsterEventType, DagsterInstance

from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.trace import trace
from trade_platform.definitions import build_defs
from trade_platform_tests.conftest import DAY, S3, TEST_RETRIES, settings_for

LAKE_ASSETS = ("raw_trades", "validated_trades", "trades_dlq", "ohlcv", "daily_volume")


def run(landing: str, lake: str, instance: DagsterInstance, **kwargs):
    job = build_defs(settings_for(landing, lake)).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(partition_key=DAY, instance=instance, **kwargs)


def failure_messages(result) -> str:
    return "\n".join(
        f"{event.step_failure_data.error.message} {event.step_failure_data.error.cause.message if event.step_failure_data.error.cause else ''}"
        for event in result.get_step_failure_events()
    )


def restarts(result) -> int:
    return sum(1 for e in result.all_events if e.event_type == DagsterEventType.STEP_RESTARTED)


@pytest.fixture
def landed(s3: S3) -> str:
    bucket = s3.new_bucket()
    write_day(
        generate_day(date.fromisoformat(DAY), 2_000, seed=5), f"s3://{bucket}/landing", corrupt_file=True
    )
    return bucket


def test_a_partition_materializes_end_to_end_with_landing_and_lake_on_s3(s3: S3, landed: str, instance):
    result = run(f"s3://{landed}/landing", f"s3://{landed}/lake", instance)
    assert result.success
    assert s3.keys(landed, "lake/") == [
        f"lake/{asset}/date={DAY}/part-0.parquet" for asset in sorted(LAKE_ASSETS)
    ]
    raw, validated, dlq = (
        pl.read_parquet(
            f"s3://{landed}/lake/{asset}/date={DAY}/part-0.parquet",
            storage_options={
                "aws_endpoint_url": s3.endpoint,
                "aws_allow_http": "true",
                "aws_region": "us-east-1",
            },
        )
        for asset in ("raw_trades", "validated_trades", "trades_dlq")
    )
    records = dlq.filter(~pl.col("error_codes").list.contains("unreadable_file"))
    assert raw.height == 2_000 == validated.height + records.height
    assert dlq.height == records.height + 1
    verdicts = {e.check_name: e for e in result.get_asset_check_evaluations() if e.check_name != "freshness"}
    assert all(e.passed for name, e in verdicts.items() if name != "landing_completeness")
    # The corrupt file is kept in the DLQ, and the day is not green: it lost that file's records.
    completeness = verdicts["landing_completeness"]
    assert not completeness.passed
    assert list(completeness.metadata["unreadable"].value) == [
        f"trades/date={DAY}/trades-{DAY.replace('-', '')}-late.jsonl.gz"
    ]
    # A trade traced on S3, its day's files only, and a rejected one with its codes.
    kept, rejected = validated.row(0, named=True), records.row(0, named=True)
    for row, outcome in ((kept, "validated"), (rejected, "dead-lettered")):
        (found,) = [
            r
            for r in trace(
                f"s3://{landed}/lake", f"s3://{landed}/landing", row["trade_id"], date.fromisoformat(DAY)
            )
            if r.source_row == row["_source_row"] and r.source_file == row["_source_file"]
        ]
        assert found.outcome == outcome and found.raw["trade_id"] == row["trade_id"]
    assert found.dead_letter["error_codes"] == rejected["error_codes"]


def test_a_rerun_on_s3_replaces_the_partition_and_leaves_no_stale_objects(s3: S3, landed: str, instance):
    lake = f"s3://{landed}/lake"
    run(f"s3://{landed}/landing", lake, instance)
    client = boto3.client("s3")
    first = client.get_object(Bucket=landed, Key=f"lake/ohlcv/date={DAY}/part-0.parquet")["Body"].read()
    for stale in ("part-1.parquet", ".part-0.parquet.0123.tmp"):  # an older layout and a crashed write
        client.put_object(Bucket=landed, Key=f"lake/ohlcv/date={DAY}/{stale}", Body=b"stale")

    assert run(f"s3://{landed}/landing", lake, instance).success
    assert s3.keys(landed, f"lake/ohlcv/date={DAY}/") == [f"lake/ohlcv/date={DAY}/part-0.parquet"]
    second = client.get_object(Bucket=landed, Key=f"lake/ohlcv/date={DAY}/part-0.parquet")["Body"].read()
    assert second == first


def test_a_missing_bucket_fails_with_the_url_and_cause_without_retrying(s3: S3, landed: str, instance):
    lake = "s3://no-such-bucket-anywhere/lake"
    result = run(f"s3://{landed}/landing", lake, instance, raise_on_error=False)
    assert not result.success
    message = failure_messages(result)
    assert "s3://no-such-bucket-anywhere/lake/raw_trades/date=2026-11-20/part-0.parquet" in message
    assert "bucket does not exist" in message.lower() or "NoSuchBucket" in message
    assert restarts(result) == 0


def test_an_unreachable_endpoint_is_retried_then_fails_with_the_url(
    s3: S3, landed: str, instance, monkeypatch
):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # nothing listens on port 1
    s3fs.S3FileSystem.clear_instance_cache()
    result = run(f"s3://{landed}/landing", f"s3://{landed}/lake", instance, raise_on_error=False)
    assert not result.success
    message = failure_messages(result)
    assert f"s3://{landed}/landing/trades/date=2026-11-20/" in message
    assert "connect" in message.lower()
    assert restarts(result) == TEST_RETRIES


@pytest.fixture
def enforced_auth(s3: S3):
    """Make moto check credentials: a real IAM user's key works, anything else is refused."""
    iam = boto3.client("iam")
    iam.create_user(UserName="pipeline")
    key = iam.create_access_key(UserName="pipeline")["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="pipeline", PolicyName="all", PolicyDocument=json.dumps(policy))
    requests.post(f"{s3.endpoint}/moto-api/reset-auth", data=b"0", timeout=10)
    yield key
    requests.post(f"{s3.endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)


def test_bad_credentials_fail_with_the_url_and_cause(
    s3: S3, landed: str, instance, enforced_auth, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    s3fs.S3FileSystem.clear_instance_cache()
    result = run(f"s3://{landed}/landing", f"s3://{landed}/lake", instance, raise_on_error=False)
    assert not result.success
    message = failure_messages(result)
    assert f"s3://{landed}/landing/trades/date=2026-11-20/" in message
    assert "wrong-secret" not in message
    assert restarts(result) == 0


def test_a_transient_failure_is_retried_without_duplicating_rows(s3: S3, landed: str, instance, monkeypatch):
    from trade_platform_tests.system.flaky_proxy import flaky_proxy

    # Writes of validated_trades are throttled (after raw_trades was written) until s3fs's own
    # retries give up once, so the step fails and Dagster's RetryPolicy runs it again.
    client_attempts = s3fs.S3FileSystem.retries

    def first_validated_put(method: str, path: str) -> bool:
        return method == "PUT" and "/lake/validated_trades/" in path and len(refused) < client_attempts

    with flaky_proxy(s3.endpoint, first_validated_put) as (proxy, refused):
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy)
        s3fs.S3FileSystem.clear_instance_cache()
        result = run(f"s3://{landed}/landing", f"s3://{landed}/lake", instance)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)

    assert result.success
    assert len(refused) == client_attempts and restarts(result) == 1
    storage = {"aws_endpoint_url": s3.endpoint, "aws_allow_http": "true", "aws_region": "us-east-1"}
    raw, validated, dlq = (
        pl.read_parquet(f"s3://{landed}/lake/{asset}/date={DAY}/part-0.parquet", storage_options=storage)
        for asset in ("raw_trades", "validated_trades", "trades_dlq")
    )
    assert raw.height == 2_000  # written twice, stored once
    assert validated["trade_id"].is_unique().all()
    assert (
        raw.height
        == validated.height + dlq.filter(~pl.col("error_codes").list.contains("unreadable_file")).height
    )
    assert s3.keys(landed, "lake/raw_trades/") == [f"lake/raw_trades/date={DAY}/part-0.parquet"]
