"""Scale-out on real services: PostgreSQL, Redis, moto's S3 server, the daemon, the webserver and
two Celery workers (``scripts/stack.py``), against the embedded single-machine run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import boto3
import polars as pl
import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
)
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.names import ALL, TRADES_DLQ
from trade_platform.core.pseudonymise import DEVELOPMENT_KEY, PiiKey
from trade_platform.definitions import build_defs
from trade_platform.lib.dagster_private import BulkActionStatus
from trade_platform.lib.partition_locks import HOLDING, _advisory_locks
from trade_platform.settings import Settings
from trade_platform_tests.conftest import overlapping_writes, writings
from trade_platform_tests.system.conftest import stack

pytestmark = pytest.mark.slow
FIRST = date(2026, 11, 10)
DAYS = [(FIRST + timedelta(days=n)).isoformat() for n in range(6)]
EARLIER = [(FIRST - timedelta(days=n)).isoformat() for n in (2, 1)]  # landed by one test only
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    with stack.Stack(tmp_path_factory.mktemp("stack"), monitoring_seconds=5) as running:
        running.stop_sensors("landing_sensor", "freshness_sensor")  # the test launches its own runs
        yield running


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
    # The stack's key (scripts/stack.py), so that the two lakes' tokens are equal too.
    settings = Settings(landing_url=str(landing), lake_url=str(lake), pii_key=PiiKey(DEVELOPMENT_KEY))
    job = build_defs(settings).resolve_implicit_global_asset_job_def()
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


def upload(services, landing: Path) -> None:
    s3 = s3_client(services)
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        s3.upload_file(str(path), stack.BUCKET, f"landing/{path.relative_to(landing)}")


@pytest.fixture(scope="module")
def landed(services, landing) -> None:
    upload(services, landing)


@pytest.fixture
def instance(services, monkeypatch):
    """The stack's instance (PostgreSQL), as the control host sees it."""
    for name, value in services.client_env().items():
        monkeypatch.setenv(name, value)
    with DagsterInstance.get() as instance:
        yield instance


def backfill(services, first: str, last: str) -> subprocess.Popen:
    command = [str(BIN / "trade-platform"), "backfill", "--from", first, "--to", last, "--wait"]
    return subprocess.Popen(
        command, env=services.client_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(process: subprocess.Popen) -> tuple[str, str]:
    """The backfill's id and what the command printed, once ``--wait`` has seen it succeed."""
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, out + err[-3000:]
    assert "Warning" not in err  # the CLI is quiet
    [submitted] = [line for line in out.splitlines() if line.startswith("backfill ")]
    return submitted.split()[1].rstrip(":"), out


def assert_lake_equals(services, embedded_lake: Path, tmp_path: Path) -> None:
    s3 = s3_client(services)
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


def test_a_backfill_fans_out_over_both_workers_and_equals_the_embedded_run(
    services, landed, embedded_lake, instance, tmp_path
):
    backfill_id, printed = finished(backfill(services, DAYS[0], DAYS[-1]))
    assert f"6 days {DAYS[0]}..{DAYS[-1]} in 3 runs of up to 2 days" in printed
    runs = instance.get_runs(RunsFilter.for_backfill(backfill_id))
    assert len(runs) == 3 and all(run.status.value == "SUCCESS" for run in runs)
    assert {run.tags["trade_platform/worker"] for run in runs} == {"w1", "w2"}
    ranges = sorted(
        (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"])
        for run in runs
    )
    assert ranges == [(DAYS[0], DAYS[1]), (DAYS[2], DAYS[3]), (DAYS[4], DAYS[5])]
    for run in runs:  # the steps' logs are on S3, where the webserver reads what any worker wrote
        logs = s3_client(services).list_objects_v2(
            Bucket=stack.BUCKET, Prefix=f"compute-logs/storage/{run.run_id}/"
        )
        assert logs.get("KeyCount", 0) > 0, run.run_id
    every_check = [key for checks in build_defs(Settings()).asset_checks for key in checks.check_keys]
    for key in every_check:
        if key.name == "freshness":  # judges yesterday, not these days
            continue
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
        assert sorted(record.partition for record in history) == DAYS, key.to_user_string()

    assert_lake_equals(services, embedded_lake, tmp_path)


def test_the_landing_sensor_leaves_a_backfills_days_to_it_then_requests_only_a_day_changed_since(
    services, instance, tmp_path
):
    """Needs no other test's days: those the module landed are current once a test ran them."""
    landing = tmp_path / "landing"
    for index, day in enumerate(EARLIER):
        write_day(generate_day(date.fromisoformat(day), 1_000, seed=10 + index), str(landing))
    upload(services, landing)
    with _advisory_locks(services.env["DAGSTER_PG_URL"]) as lock:
        assert lock(EARLIER[0])  # the backfill's run waits for this day until the sensor has ticked
        process = backfill(services, EARLIER[0], EARLIER[-1])
        while not instance.get_backfills(status=BulkActionStatus.REQUESTED):
            time.sleep(0.2)
        services.start_sensors("landing_sensor")
        try:
            held = landing_tick(
                instance, lambda tick: "left to an unfinished backfill" in (tick.skip_reason or "")
            )
            assert (
                f"2 changed days left to an unfinished backfill: {EARLIER[0]}..{EARLIER[1]}"
                in held.skip_reason
            )
        except BaseException:
            services.stop_sensors("landing_sensor")
            raise
    try:
        backfill_id, printed = finished(process)
        assert f"{services.url}/runs/b/{backfill_id}" in printed  # a link that opens
        for asset in ALL:
            for day in EARLIER:
                records = instance.fetch_materializations(
                    AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day]), limit=5
                ).records
                assert len(records) == 1, (asset, day)

        write_day(generate_day(date.fromisoformat(EARLIER[1]), 1_200, seed=20), str(landing))  # rewritten
        upload(services, landing)
        uploaded = time.time()
        # The first tick after it: the unchanged day's files are what the backfill read, no run.
        after = landing_tick(
            instance, lambda tick: tick.timestamp > uploaded and tick.status.value != "STARTED"
        )
        assert earlier(after.run_keys) == [EARLIER[1]]
        [rerun] = sensor_runs(instance)
        assert rerun.tags["dagster/partition"] == EARLIER[1]
        deadline = time.monotonic() + 300
        while not instance.get_run_by_id(rerun.run_id).is_finished:  # not writing while later tests run
            assert time.monotonic() < deadline
            time.sleep(1)
        assert instance.get_run_by_id(rerun.run_id).status == DagsterRunStatus.SUCCESS
    finally:
        services.stop_sensors("landing_sensor")


def landing_tick(instance, wanted, timeout: float = 120.0):
    """The landing sensor's first tick ``wanted`` accepts (the sensor ticks every 30 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [state] = [state for state in instance.all_instigator_state() if state.name == "landing_sensor"]
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=20)
        for tick in reversed(ticks):  # oldest first
            if wanted(tick):
                return tick
        time.sleep(1)
    raise TimeoutError("no such tick of landing_sensor")


def earlier(run_keys) -> list[str]:
    """The days of ``EARLIER`` among the landing sensor's run keys ("DAY:fileset:storage id")."""
    return [day for day in (key.split(":")[0] for key in run_keys) if day in EARLIER]


def sensor_runs(instance):
    """The landing sensor's runs of ``EARLIER`` days."""
    runs = instance.get_runs(RunsFilter(tags={"dagster/sensor_name": "landing_sensor"}))
    return [run for run in runs if run.tags.get("dagster/partition") in EARLIER]


def test_runs_killed_while_loading_the_code_or_while_writing_are_retried_and_the_backfill_completes(
    services, landed, embedded_lake, instance, tmp_path
):
    """One backfill of two runs, each killed at its own point: one run's process while it loads the
    code (failed and retried within a minute, having written nothing), the other's worker pool
    process while it writes (failed and retried, no partial or duplicated partition)."""
    process = backfill(services, DAYS[0], DAYS[3])  # two runs, one per worker
    loading, pid = wait_for_a_run_process(instance)
    os.kill(pid, signal.SIGSTOP)  # frozen, so the run's status cannot move on while it is checked
    assert instance.get_run_by_id(loading.run_id).status == DagsterRunStatus.STARTING
    os.kill(pid, signal.SIGKILL)
    killed = time.time()  # as the event log's timestamps
    writing = wait_for_a_run_writing(instance, besides=loading.run_id)
    task = celery(services).AsyncResult(writing.tags[DAGSTER_CELERY_TASK_ID_TAG])
    os.kill(task.info["pid"], signal.SIGKILL)  # the worker's pool process that runs the run

    backfill_id, _ = finished(process)
    runs = instance.get_runs(RunsFilter.for_backfill(backfill_id))
    retries = {}
    for victim in (loading, writing):
        assert instance.get_run_by_id(victim.run_id).status == DagsterRunStatus.FAILURE
        [retries[victim.run_id]] = retries_of(runs, victim)
        assert retries[victim.run_id].status == DagsterRunStatus.SUCCESS
    assert {run.run_id for run in runs} == {*retries, *(retry.run_id for retry in retries.values())}
    loading_retry = retries[loading.run_id]
    assert min(entry.timestamp for entry in instance.all_logs(loading_retry.run_id)) - killed < 60
    ids = {run.run_id for run in runs}
    for day in days_of(loading):  # once: the run killed while loading wrote nothing
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(ALL[0]), asset_partitions=[day]), limit=50
        ).records
        assert [record.run_id for record in records if record.run_id in ids] == [loading_retry.run_id], day
    assert_lake_equals(services, embedded_lake, tmp_path)


def retries_of(runs, victim) -> list:
    return [run for run in runs if run.tags.get("dagster/parent_run_id") == victim.run_id]


def days_of(run) -> list[str]:
    """The days of a backfill's range run."""
    first, last = (
        date.fromisoformat(run.tags[f"dagster/asset_partition_range_{end}"]) for end in ("start", "end")
    )
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def wait_for_a_run_process(instance, timeout: float = 300.0):
    """A STARTING run and the pid of its process, as soon as the process says it began (it then
    loads the code location before it reports the run STARTED)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTING])):
            for entry in instance.all_logs(run.run_id):
                began = re.fullmatch(r"Started process for run \(pid: (\d+)\)\.", entry.message)
                if began:
                    return run, int(began.group(1))
        time.sleep(0.05)
    raise TimeoutError("no run process began")


def test_two_overlapping_backfills_at_once_take_turns_on_the_shared_days(
    services, landed, embedded_lake, instance, tmp_path
):
    first, second = backfill(services, DAYS[0], DAYS[3]), backfill(services, DAYS[2], DAYS[5])
    runs = [
        run.run_id
        for process in (first, second)
        for run in instance.get_runs(RunsFilter.for_backfill(finished(process)[0]))
    ]
    assert not overlapping_writes(writings(instance, runs))
    assert_lake_equals(services, embedded_lake, tmp_path)


def test_a_run_whose_whole_worker_dies_is_retried_on_the_other_worker(
    services, landed, embedded_lake, instance, tmp_path
):
    """The worker itself is gone (its machine, say): Celery cannot record the task's failure,
    so the launcher asks the worker, and gets no answer. Leaves one worker running."""
    process = backfill(services, DAYS[2], DAYS[3])  # one run
    victim = wait_for_a_run_writing(instance)
    worker = victim.tags["trade_platform/worker"]
    stack._stop(services.pids.pop(f"worker-{worker}"), signal.SIGKILL)  # the whole process group

    backfill_id, _ = finished(process)
    killed = instance.get_run_by_id(victim.run_id)
    assert killed.status == DagsterRunStatus.FAILURE
    messages = " ".join(entry.message for entry in instance.all_logs(victim.run_id))
    assert f"Celery worker {worker}@" in messages and "is gone" in messages
    [retry] = retries_of(instance.get_runs(RunsFilter.for_backfill(backfill_id)), victim)
    assert retry.status == DagsterRunStatus.SUCCESS and retry.tags["trade_platform/worker"] != worker
    assert_lake_equals(services, embedded_lake, tmp_path)


def celery(services):
    from celery import Celery

    return Celery(
        broker=services.env["TRADE_PLATFORM_CELERY_BROKER_URL"],
        backend=services.env["TRADE_PLATFORM_CELERY_BACKEND_URL"],
    )


def wait_for_a_run_writing(instance, timeout: float = 300.0, besides: str | None = None):
    """A started run of the backfill whose first step holds its days; neither the run ``besides``
    nor a retry of it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
            if besides is not None and besides in (run.run_id, run.tags.get("dagster/parent_run_id")):
                continue
            if any(e.user_message.startswith(HOLDING) for e in instance.all_logs(run.run_id)):
                return run
        time.sleep(0.5)
    raise TimeoutError("no run started writing")


def test_a_day_locked_by_one_worker_is_locked_for_every_other(services):
    from trade_platform.lib.partition_locks import _advisory_locks

    url = services.env["DAGSTER_PG_URL"]
    with _advisory_locks(url) as first:
        assert first(DAYS[0])
        with _advisory_locks(url) as second:  # another session, as on another machine
            assert not second(DAYS[0]) and second(DAYS[1])
    with _advisory_locks(url) as third:  # a closed session frees its days
        assert third(DAYS[0])


def test_a_stopped_redis_or_postgresql_is_named_with_its_address(services, landed, instance):
    """Last in this module: it stops the stack's Redis, then its daemon and PostgreSQL."""
    stack._stop(services.pids["redis"], signal.SIGTERM)
    redis_address = services.env["TRADE_PLATFORM_CELERY_BROKER_URL"].split("//")[1].split("/")[0]
    worker = subprocess.run(
        [str(BIN / "trade-platform"), "worker", "--name", "w9"],
        env=services.client_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert worker.returncode == 2
    assert (
        f"cannot reach Redis, the Celery broker (TRADE_PLATFORM_CELERY_BROKER_URL), at redis://:**@{redis_address}/0"
        in worker.stderr
    )

    submitted = subprocess.run(
        [str(BIN / "trade-platform"), "backfill", "--from", DAYS[0], "--to", DAYS[0]],
        env=services.client_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr[-2000:]
    backfill_id = submitted.stdout.split()[1].rstrip(":")
    deadline = time.monotonic() + 180
    while not (runs := instance.get_runs(RunsFilter.for_backfill(backfill_id))) or not runs[0].is_finished:
        assert time.monotonic() < deadline, "the run was neither launched nor failed"
        time.sleep(1)
    assert runs[0].status == DagsterRunStatus.FAILURE
    # The launch failure's error is recorded with the run's failure.
    messages = " ".join(
        f"{entry.message} {entry.dagster_event.event_specific_data if entry.is_dagster_event else ''}"
        for entry in instance.all_logs(runs[0].run_id)
    )
    assert f"cannot reach Redis, the Celery broker, at redis://:**@{redis_address}/0" in messages

    # The daemon first, while it can still shut down: without its database it would retry until the
    # stack's teardown kills it (stack.STOP_SECONDS). The command below reaches PostgreSQL itself.
    stack._stop(services.pids.pop("daemon"), signal.SIGTERM)
    stack._stop(services.pids["postgres"], signal.SIGINT)
    postgres_port = services.env["DAGSTER_PG_URL"].rsplit(":", 1)[1].split("/")[0]
    refused = subprocess.run(
        [str(BIN / "trade-platform"), "backfill", "--from", DAYS[0], "--to", DAYS[0]],
        env=services.client_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "cannot reach PostgreSQL, the Dagster instance's storage (DAGSTER_PG_URL)" in refused.stderr
    assert f'"127.0.0.1", port {postgres_port} failed' in refused.stderr
