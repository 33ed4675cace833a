"""The embedded instance's SQLite storages (``lib/sqlite_storage.py``): Dagster's files and
schema, read back by Dagster's own storages, with a connection kept per database file instead of
one opened per event; bounded in a long-lived process, fresh after ``fork`` and ``wipe``, safe
from several threads."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from sqlalchemy import Engine, event

from trade_platform.lib.sqlite_storage import (
    RUN_SHARDS_KEPT,
    PooledSqliteEventLogStorage,
    PooledSqliteRunStorage,
    embedded_instance_config,
)
from trade_platform_tests.conftest import new_dagster_home

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01")


@dg.asset(partitions_def=DAYS)
def upstream() -> int:
    return 1


@dg.asset(partitions_def=DAYS)
def downstream(upstream: int) -> int:
    return upstream + 1


@dg.asset_check(asset=downstream)
def downstream_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(new_dagster_home(tmp_path))) as instance:
        yield instance


@pytest.fixture
def connections_opened() -> Iterator[list[int]]:
    """Every SQLite connection any engine of this process opens, counted as it opens."""
    opened: list[int] = []

    def count(*_):
        opened.append(1)

    event.listen(Engine, "connect", count)
    yield opened
    event.remove(Engine, "connect", count)


def user_event(run_id: str, message: str) -> dg.EventLogEntry:
    return dg.EventLogEntry(
        error_info=None,
        level=logging.INFO,
        user_message=message,
        run_id=run_id,
        timestamp=time.time(),
    )


def run_shard_files_open(home: Path) -> set[str]:
    """The run shards this process holds open (the index shard aside)."""
    shards, targets = f"{home / 'history' / 'runs'}/", []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the listing's own descriptor
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
    return {t for t in targets if t.startswith(shards) and t.endswith(".db") and not t.endswith("/index.db")}


def test_the_repositorys_instance_uses_them_and_dagsters_own_storages_read_what_they_wrote(
    tmp_path: Path, instance: dg.DagsterInstance, connections_opened: list[int]
):
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    assert isinstance(instance.run_storage, PooledSqliteRunStorage)
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        result = dg.materialize(
            [upstream, downstream, downstream_positive], partition_key=day, instance=instance
        )
        assert result.success
    events = sum(len(instance.all_logs(run.run_id)) for run in instance.get_runs())
    # Dagster's storages open a connection, through a new engine, per event and per has_table.
    assert events == 90
    assert len(connections_opened) < 10

    # The same folder opened with Dagster's defaults: the same runs, events, partitions, checks.
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as plain:
        assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert [r.run_id for r in plain.get_runs()] == [r.run_id for r in instance.get_runs()]
        assert sum(len(plain.all_logs(run.run_id)) for run in plain.get_runs()) == events
        assert plain.get_materialized_partitions(dg.AssetKey("downstream")) == {
            "2024-01-01",
            "2024-01-02",
            "2024-01-03",
        }
        summary = plain.event_log_storage.get_asset_check_summary_records(
            [dg.AssetCheckKey(dg.AssetKey("downstream"), "downstream_positive")]
        )
        assert next(iter(summary.values())).last_check_execution_record.status.value == "SUCCEEDED"


def test_a_long_lived_process_keeps_only_the_latest_run_shards_open(tmp_path: Path, instance):
    home = tmp_path / "dagster_home"
    for n in range(3 * RUN_SHARDS_KEPT):
        instance.event_log_storage.store_event(user_event(f"run-{n}", "hello"))
    assert 0 < len(run_shard_files_open(home)) <= RUN_SHARDS_KEPT
    # An evicted shard is opened again when needed; nothing was lost.
    assert [e.user_message for e in instance.all_logs("run-0")] == ["hello"]
    instance.dispose()
    assert run_shard_files_open(home) == set()


def test_threads_share_the_kept_connections_without_losing_an_event(instance):
    """More threads than SQLAlchemy's default pool would hold (5 + 10): none waits for another."""

    def store(thread: int) -> None:
        for n in range(10):
            instance.event_log_storage.store_event(user_event("shared", f"{thread}-{n}"))
            instance.get_run_records(limit=1)

    threads = [threading.Thread(target=store, args=(t,)) for t in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(instance.all_logs("shared")) == 200


def _child_stores_around_the_parents_close(instance, stored, parent_closed) -> None:
    instance.event_log_storage.store_event(user_event("forked", "child, first"))
    stored.set()
    parent_closed.wait(30)
    instance.event_log_storage.store_event(user_event("forked", "child, after the parent closed"))


def test_a_forked_child_writes_survive_the_parent_closing_its_connections(tmp_path: Path, instance):
    """A child that used its parent's connections would take no lock of its own: the parent
    closing its last connection would then checkpoint and delete the write-ahead log under it."""
    context = multiprocessing.get_context("fork")
    stored, parent_closed = context.Event(), context.Event()
    instance.event_log_storage.store_event(user_event("forked", "parent"))
    instance.get_run_records(limit=1)  # both storages hold a connection when the child is forked
    child = context.Process(
        target=_child_stores_around_the_parents_close, args=(instance, stored, parent_closed)
    )
    child.start()
    assert stored.wait(30)
    instance.dispose()
    parent_closed.set()
    child.join(30)
    assert child.exitcode == 0
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as reopened:
        messages = [e.user_message for e in reopened.all_logs("forked")]
    assert messages == ["parent", "child, first", "child, after the parent closed"]


def in_another_process(home: Path, code: str) -> subprocess.Popen:
    """``code`` run with ``instance``, the embedded instance of ``home``, in a new process."""
    script = f"import dagster as dg\nwith dg.DagsterInstance.from_config({str(home)!r}) as instance:\n"
    script += "".join(f"    {line}\n" for line in code.strip().splitlines())
    return subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, text=True)


def test_the_uis_live_run_logs_see_events_another_process_is_still_writing(tmp_path: Path, instance):
    """The webserver watches a run's shard while the run's process writes it, both keeping their
    connections: the events stay in the write-ahead log until a checkpoint."""
    seen: list[str] = []
    instance.event_log_storage.store_event(user_event("live", "start"))
    instance.watch_event_logs("live", None, lambda entry, cursor: seen.append(entry.user_message))
    writer = in_another_process(
        tmp_path / "dagster_home",
        """
import logging, sys, time
for n in range(5):
    instance.event_log_storage.store_event(dg.EventLogEntry(error_info=None, level=logging.INFO, user_message=str(n), run_id="live", timestamp=time.time()))
    time.sleep(0.2)
sys.stdin.readline()  # alive, its connections kept, until the test is done
""",
    )
    try:
        deadline = time.monotonic() + 30
        while len(seen) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert seen == ["start", "0", "1", "2", "3", "4"]
    finally:
        writer.communicate("\n", timeout=30)


def test_a_run_shard_wiped_by_another_process_is_written_anew_not_into_the_deleted_file(
    tmp_path: Path, instance
):
    instance.event_log_storage.store_event(user_event("wiped", "before"))
    wiper = in_another_process(tmp_path / "dagster_home", "instance.event_log_storage.wipe()")
    assert wiper.wait(60) == 0
    instance.event_log_storage.store_event(user_event("wiped", "after"))
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as reopened:
        assert [e.user_message for e in reopened.all_logs("wiped")] == ["after"]


def test_wipe_closes_the_run_shards_it_deletes_and_the_storage_goes_on(tmp_path: Path, instance):
    instance.event_log_storage.store_event(user_event("wiped", "before"))
    instance.event_log_storage.wipe()
    assert run_shard_files_open(tmp_path / "dagster_home") == set()
    assert not (tmp_path / "dagster_home" / "history" / "runs" / "wiped.db").exists()
    instance.event_log_storage.store_event(user_event("wiped", "after"))
    assert [e.user_message for e in instance.all_logs("wiped")] == ["after"]


def test_the_configuration_names_dagsters_default_folders(tmp_path: Path):
    config = yaml.safe_load((new_dagster_home(tmp_path) / "dagster.yaml").read_text())
    assert config == embedded_instance_config(tmp_path / "dagster_home")
    history = tmp_path.resolve() / "dagster_home" / "history"
    assert config["run_storage"]["config"]["base_dir"] == str(history)
    assert config["event_log_storage"]["config"]["base_dir"] == str(history / "runs")
