"""Scale-out on real services: PostgreSQL, Redis, moto's S3 server, the daemon, the webserver and
two Celery workers (``scripts/stack.py``), against the embedded single-machine run."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import boto3
import polars as pl
import pytest
from dagster import DagsterInstance, RunsFilter

from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.names import ALL, TRADES_DLQ
from trade_platform.definitions import build_defs
from trade_platform.settings import Settings
from trade_platform_tests.system.conftest import REPO, stack

pytestmark = pytest.mark.slow
FIRST = date(2026, 11, 10)
DAYS = [(FIRST + timedelta(days=n)).isoformat() for n in range(6)]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    with stack.Stack(tmp_path_factory.mktemp("stack")) as running:
        for sensor in ("landing_sensor", "freshness_sensor"):  # the test launches its own runs
            dagster(running, "sensor", "stop", sensor)
        yield running


def dagster(running, *args: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "dagster"), *args, "-w", str(REPO / "workspace.yaml")]
    return subprocess.run(command, env=environment(running), capture_output=True, text=True, check=True)


def environment(running) -> dict[str, str]:
    return {
        **os.environ,
        **running.env,
        "DAGSTER_HOME": str(running.directory / "control" / "dagster_home"),
    }


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("landing")
    for index, day in enumerate(DAYS):
        write_day(
            generate_day(date.fromisoformat(day), 3_000, seed=index), str(folder), corrupt_file=index % 3 == 0
        )
    return folder


@pytest.fixture(scope="module")
def embedded_lake(landing, tmp_path_factory) -> Path:
    """The same landing data through the embedded default: one in-process range run, local disk."""
    lake = tmp_path_factory.mktemp("embedded") / "lake"
    job = build_defs(
        Settings(landing_url=str(landing), lake_url=str(lake))
    ).resolve_implicit_global_asset_job_def()
    tags = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}
    with DagsterInstance.ephemeral() as instance:
        assert job.execute_in_process(tags=tags, instance=instance).success
    return lake


def s3_client(running):
    env = running.env
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )


def test_a_backfill_fans_out_over_both_workers_and_equals_the_embedded_run(
    services, landing, embedded_lake, tmp_path, monkeypatch
):
    s3 = s3_client(services)
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        s3.upload_file(str(path), stack.BUCKET, f"landing/{path.relative_to(landing)}")

    command = [str(BIN / "trade-platform"), "backfill", "--from", DAYS[0], "--to", DAYS[-1], "--wait"]
    done = subprocess.run(command, env=environment(services), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "6 days" in done.stdout and "in 3 runs of up to 2 days" in done.stdout
    assert "Warning" not in done.stderr  # the CLI is quiet

    for name, value in {**services.env, "DAGSTER_HOME": environment(services)["DAGSTER_HOME"]}.items():
        monkeypatch.setenv(name, value)
    with DagsterInstance.get() as instance:
        backfill_id = done.stdout.split()[1].rstrip(":")
        runs = instance.get_runs(RunsFilter.for_backfill(backfill_id))
        assert len(runs) == 3 and all(run.status.value == "SUCCESS" for run in runs)
        assert {run.tags["trade_platform/worker"] for run in runs} == {"w1", "w2"}
        ranges = sorted(
            (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"])
            for run in runs
        )
        assert ranges == [(DAYS[0], DAYS[1]), (DAYS[2], DAYS[3]), (DAYS[4], DAYS[5])]
        every_check = [key for checks in build_defs(Settings()).asset_checks for key in checks.check_keys]
        for key in every_check:
            if key.name == "freshness":  # judges yesterday, not these days
                continue
            history = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
            assert sorted(record.partition for record in history) == DAYS, key.to_user_string()

    for asset in ALL:
        for day in DAYS:
            key = f"lake/{asset}/date={day}/part-0.parquet"
            stored = tmp_path / key
            stored.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(stack.BUCKET, key, str(stored))
            local = embedded_lake / asset / f"date={day}" / "part-0.parquet"
            if asset == TRADES_DLQ:
                stamps = ["run_id", "rejected_at"]
                assert pl.read_parquet(stored).drop(stamps).equals(pl.read_parquet(local).drop(stamps)), key
            else:
                assert stored.read_bytes() == local.read_bytes(), key
