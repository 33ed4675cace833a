"""The landing sensor: one run per day whose file set changed, never twice for the same files."""

import json
import os
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import fsspec
import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, SensorResult, build_sensor_context

from trade_platform.core.generate import generate_day, write_day
from trade_platform.definitions import build_defs
from trade_platform.defs.ingest.sensors import FILESET_TAG, landing_filesets
from trade_platform.lib.dagster_private import BulkActionStatus
from trade_platform.lib.scaleout.backfills import submit_backfill
from trade_platform_tests.conftest import settings_for

DAYS = ("2024-03-01", "2024-03-02")


@pytest.fixture
def instance(dagster_home, monkeypatch):
    """A real instance in a temporary DAGSTER_HOME (the ``dagster_home`` fixture)."""
    with DagsterInstance.get() as instance:
        yield instance


def land(landing_url: str, day: str, trades: int = 50) -> list[str]:
    return write_day(generate_day(date.fromisoformat(day), trades, seed=11), landing_url)


class Daemon:
    """Ticks the sensor the way the daemon does: the cursor of one tick is the next one's input."""

    def __init__(self, landing_url: str, instance: DagsterInstance, cursor: str | None = None, **settings):
        self.defs = build_defs(settings_for(landing_url, landing_url + "-lake", **settings))
        self.sensor = self.defs.resolve_sensor_def("landing_sensor")
        self.instance, self.cursor = instance, cursor

    def tick(self) -> SensorResult:
        with build_sensor_context(
            instance=self.instance, cursor=self.cursor, definitions=self.defs, resources=self.defs.resources
        ) as context:
            result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result

    def requested(self) -> dict[str, str]:
        return {request.partition_key: request.run_key for request in self.tick().run_requests}


@pytest.fixture
def landing(tmp_path):
    url = str(tmp_path / "landing")
    for day in DAYS:
        land(url, day)
    return url


def test_first_tick_requests_every_landed_day_with_a_run_key_from_its_files(landing, instance):
    daemon = Daemon(landing, instance)
    result = daemon.tick()
    assert daemon.sensor.job_name == "trades_daily_job"
    assert [r.partition_key for r in result.run_requests] == list(DAYS)
    filesets = landing_filesets(landing)
    for request in result.run_requests:
        assert request.run_key == f"{request.partition_key}:{filesets[request.partition_key]}:0"
        assert request.tags[FILESET_TAG] == filesets[request.partition_key]
    assert json.loads(daemon.cursor) == filesets


def test_second_tick_on_unchanged_files_requests_nothing(landing, instance):
    daemon = Daemon(landing, instance)
    daemon.tick()
    second = daemon.tick()
    assert second.run_requests == [] and second.skip_message


def test_a_new_file_requests_exactly_its_day_with_a_new_run_key(landing, instance):
    daemon = Daemon(landing, instance)
    first = daemon.requested()
    with fsspec.open(f"{landing}/trades/date={DAYS[1]}/late-arrivals.csv", "w") as handle:
        handle.write("trade_id,symbol,side,price,quantity,timestamp,exchange\n")
    second = daemon.requested()
    assert list(second) == [DAYS[1]]
    assert second[DAYS[1]] != first[DAYS[1]]


def test_a_rewritten_file_of_the_same_name_counts_as_a_change(landing, instance):
    daemon = Daemon(landing, instance)
    daemon.tick()
    path = f"{landing}/trades/date={DAYS[0]}/trades-20240301.csv"
    with fsspec.open(path, "a") as handle:
        handle.write("extra,row\n")
    assert list(daemon.requested()) == [DAYS[0]]


def test_a_restarted_daemon_resumes_from_the_cursor_without_rerunning_old_days(landing, instance):
    before = Daemon(landing, instance)
    before.tick()
    land(landing, "2024-03-03")
    after_restart = Daemon(landing, instance, cursor=before.cursor)  # a new process, the stored cursor
    assert list(after_restart.requested()) == ["2024-03-03"]


def test_a_day_materialized_after_its_files_landed_is_not_requested_again(landing, instance, tmp_path):
    daemon = Daemon(landing, instance)
    job = daemon.defs.resolve_job_def("trades_daily_job")
    assert job.execute_in_process(partition_key=DAYS[0], instance=instance).success  # e.g. `make demo`
    assert list(daemon.requested()) == [DAYS[1]]
    assert set(json.loads(daemon.cursor)) == set(DAYS)
    land(landing, DAYS[0], trades=60)  # new files after that run do trigger it
    assert list(daemon.requested()) == [DAYS[0]]


def test_days_an_unfinished_backfill_will_materialize_are_left_to_it_and_compared_with_what_it_read(
    landing, instance
):
    daemon = Daemon(landing, instance)
    backfill = submit_backfill(
        instance, daemon.defs, date.fromisoformat(DAYS[0]), date.fromisoformat(DAYS[0])
    )
    assert list(daemon.requested()) == [DAYS[1]]
    assert "1 changed days left to an unfinished backfill: 2024-03-01" in daemon.tick().skip_message
    job = daemon.defs.resolve_job_def("trades_daily_job")
    assert job.execute_in_process(partition_key=DAYS[0], instance=instance).success  # the backfill's run
    instance.update_backfill(backfill.with_status(BulkActionStatus.COMPLETED_SUCCESS))
    assert daemon.requested() == {}  # it read these very files
    land(landing, DAYS[0], trades=60)
    assert list(daemon.requested()) == [DAYS[0]]


OLD = 1_000_000_000  # an mtime from 2001, as copy tools that keep mtimes give a staged file


@pytest.mark.parametrize("copy", ["cp -p", "mv"])
def test_a_late_file_with_an_old_mtime_after_a_run_is_requested(landing, instance, tmp_path, copy):
    """``cp -p``, ``mv`` from staging, ``rsync -a`` and ``tar x`` keep the source's mtime: the
    sensor compares the file set the last run read, never mtimes with run times."""
    daemon = Daemon(landing, instance)
    job = daemon.defs.resolve_job_def("trades_daily_job")
    assert job.execute_in_process(partition_key=DAYS[0], instance=instance).success
    assert list(daemon.requested()) == [DAYS[1]]
    staged = tmp_path / "staged.csv"
    staged.write_text("trade_id,symbol,side,price,quantity,timestamp,exchange\n")
    os.utime(staged, (OLD, OLD))
    subprocess.run([*copy.split(), str(staged), f"{landing}/trades/date={DAYS[0]}/late.csv"], check=True)
    assert list(daemon.requested()) == [DAYS[0]]


def test_a_file_replaced_by_one_of_the_same_size_and_mtime_is_requested(landing, instance, tmp_path):
    daemon = Daemon(landing, instance)
    job = daemon.defs.resolve_job_def("trades_daily_job")
    assert job.execute_in_process(partition_key=DAYS[0], instance=instance).success
    daemon.tick()
    target = Path(f"{landing}/trades/date={DAYS[0]}/trades-20240301.csv")
    stat = target.stat()
    staged = tmp_path / "staged.csv"
    staged.write_bytes(target.read_bytes().replace(b"buy", b"BUY"))
    os.utime(staged, (stat.st_atime, stat.st_mtime))
    subprocess.run(["cp", "-p", str(staged), str(target)], check=True)
    assert (target.stat().st_size, target.stat().st_mtime) == (stat.st_size, stat.st_mtime)
    assert list(daemon.requested()) == [DAYS[0]]


def test_a_late_file_that_is_not_a_landing_format_requests_its_day(landing, instance):
    """So that the day's landing_completeness check runs again and names it."""
    daemon = Daemon(landing, instance)
    job = daemon.defs.resolve_job_def("trades_daily_job")
    assert job.execute_in_process(partition_key=DAYS[0], instance=instance).success
    daemon.tick()
    with fsspec.open(f"{landing}/trades/date={DAYS[0]}/late.tsv", "w") as handle:
        handle.write("trade_id\tprice\n")
    assert list(daemon.requested()) == [DAYS[0]]


def test_hidden_files_and_unfinished_days_do_not_trigger(tmp_path, instance):
    landing = str(tmp_path / "landing")
    folder = f"{landing}/trades/date=2024-03-01"
    for name in (".trades.csv.tmp", "_SUCCESS", "_temporary/0/part-0.csv", ".staging/t.csv"):
        with fsspec.open(f"{folder}/{name}", "w", auto_mkdir=True) as handle:
            handle.write("x")
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    land(landing, tomorrow)  # not a partition yet
    daemon = Daemon(landing, instance)
    assert daemon.requested() == {}
    assert tomorrow not in json.loads(daemon.cursor)  # so it is requested once the day begins


def test_todays_files_are_materialized_while_the_day_is_open(tmp_path, instance):
    """Streamed trades land all day: today is a partition, requested again as its files change."""
    landing = str(tmp_path / "landing")
    today = datetime.now(UTC).date().isoformat()
    land(landing, today)
    daemon = Daemon(landing, instance)
    assert list(daemon.requested()) == [today]
    land(landing, today, trades=60)
    assert list(daemon.requested()) == [today]


@pytest.fixture
def s3_landing(s3):
    """A landing zone in a fresh bucket of the moto S3 server (the ``s3`` fixture)."""
    return f"s3://{s3.new_bucket()}/landing"


def test_landing_sensor_watches_s3_too(s3_landing, instance):
    land(s3_landing, DAYS[0])
    daemon = Daemon(s3_landing, instance)
    assert list(daemon.requested()) == [DAYS[0]]
    assert daemon.requested() == {}
    land(s3_landing, DAYS[1])
    assert list(daemon.requested()) == [DAYS[1]]


def test_an_s3_object_replaced_by_one_of_the_same_size_and_restored_is_requested_each_time(
    s3_landing, instance
):
    land(s3_landing, DAYS[0])
    daemon = Daemon(s3_landing, instance)
    first_key = daemon.requested()[DAYS[0]]
    job = daemon.defs.resolve_job_def("trades_daily_job")
    assert job.execute_in_process(partition_key=DAYS[0], instance=instance).success
    assert daemon.requested() == {}
    path = f"{s3_landing}/trades/date={DAYS[0]}/trades-20240301.csv"
    with fsspec.open(path, "rb") as handle:
        content = handle.read()
    with fsspec.open(path, "wb") as handle:
        handle.write(content.replace(b"buy", b"BUY"))
    changed = daemon.requested()
    assert list(changed) == [DAYS[0]]
    assert job.execute_in_process(partition_key=DAYS[0], instance=instance).success
    with fsspec.open(path, "wb") as handle:  # v1 again: its ETag, its digest, but after another run
        handle.write(content)
    restored = daemon.requested()
    assert list(restored) == [DAYS[0]] and restored[DAYS[0]] not in (changed[DAYS[0]], first_key)


def test_the_open_day_is_requested_at_most_every_open_day_interval(tmp_path, instance):
    """Freshness against cost: today's runs are paced, a closed day's changes run at once."""
    landing = str(tmp_path / "landing")
    today = datetime.now(UTC).date().isoformat()
    land(landing, today)
    land(landing, DAYS[0])
    daemon = Daemon(landing, instance, open_day_interval_seconds=3600)
    assert sorted(daemon.requested()) == [DAYS[0], today]
    for day in (DAYS[0], today):  # both ran just now
        instance.add_run(
            DagsterRun(
                job_name="trades_daily_job", status=DagsterRunStatus.SUCCESS, tags={"dagster/partition": day}
            )
        )
    land(landing, today, trades=60)
    land(landing, DAYS[0], trades=60)
    result = daemon.tick()
    assert [r.partition_key for r in result.run_requests] == [DAYS[0]]
    assert "paced" in (daemon.tick().skip_message or "")
    unpaced = Daemon(landing, instance, cursor=daemon.cursor, open_day_interval_seconds=0)
    assert list(unpaced.requested()) == [today]


def test_a_day_with_an_unfinished_run_waits_for_it_before_it_is_requested_again(tmp_path, instance):
    """Streamed files change today all day: one run of it at a time, then one for what came meanwhile."""
    landing = str(tmp_path / "landing")
    land(landing, DAYS[0])
    daemon = Daemon(landing, instance)
    assert list(daemon.requested()) == [DAYS[0]]
    tags = {"dagster/partition": DAYS[0]}
    running = DagsterRun(job_name="trades_daily_job", status=DagsterRunStatus.STARTED, tags=tags)
    instance.add_run(running)
    land(landing, DAYS[0], trades=60)
    assert daemon.requested() == {}
    instance.report_run_failed(running)
    assert list(daemon.requested()) == [DAYS[0]]
