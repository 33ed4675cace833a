"""The embedded instance's SQLite storages (``lib/sqlite_storage.py``): Dagster's files and
schema, read back by Dagster's own storages, with a connection kept per database file instead of
one opened per event; bounded in a long-lived process, fresh after ``fork`` and ``wipe``, safe
from several threads."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
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
    def store(thread: int) -> None:
        for n in range(50):
            instance.event_log_storage.store_event(user_event("shared", f"{thread}-{n}"))
            instance.get_run_records(limit=1)

    threads = [threading.Thread(target=store, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(instance.all_logs("shared")) == 200


def _store_in_child(instance: dg.DagsterInstance) -> None:
    instance.event_log_storage.store_event(user_event("forked", "from the child"))
    instance.get_run_records(limit=1)


def test_a_forked_child_opens_its_own_connections_and_leaves_the_parents_working(instance):
    instance.event_log_storage.store_event(user_event("forked", "before"))
    instance.get_run_records(limit=1)  # both storages hold a connection when the child is forked
    child = multiprocessing.get_context("fork").Process(target=_store_in_child, args=(instance,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    instance.event_log_storage.store_event(user_event("forked", "after"))
    messages = [e.user_message for e in instance.all_logs("forked")]
    assert messages == ["before", "from the child", "after"]


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
