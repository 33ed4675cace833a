"""The embedded instance: Dagster's SQLite run storage and event log, with their connections kept.

Dagster's SQLite storages (dagster 1.13.27) open every connection through a new SQLAlchemy engine
without a pool, and the event log asks ``has_table`` (another engine) before each check
evaluation and asset event. Creating an engine and its first connection is most of what storing
an event costs: a 500k-trade day stores 123 events, a range run 22 more per day
(docs/performance-profile.md). These subclasses keep one engine per database file per process,
with a few idle connections, so a connection is opened once and reused; the files, schema,
migrations and queries stay Dagster's, so an instance created with Dagster's defaults reads the
same history. What kept connections change is handled here: the UI's live run logs are polled
(events stay in the write-ahead log until a checkpoint, so Dagster's watcher of the database file
would not wake), a forked child closes the connections it inherited, and a file deleted by
another process (a wipe) is opened anew. ``embedded_instance_config`` is the instance every
command of the repository, the tests and the benchmarks use (docs/configuration.md, "The
instance"); the production instance is PostgreSQL's (deploy/dagster.yaml).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, Engine, create_engine, make_url

from trade_platform.lib.dagster_private import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
    SqliteRunStorage,
    SqlPollingEventWatcher,
)

# A webserver reads the shards of many runs; each kept engine holds its file open.
RUN_SHARDS_KEPT = 8
# Connections kept idle per file; more are opened (and closed after use) as threads need them,
# without a limit, as Dagster's storages have none.
IDLE_CONNECTIONS = 2


class _Engines:
    """This process's engines, one per SQLite file, the least recently used beyond ``limit``
    disposed of. An engine whose file was deleted or replaced (a wipe by another process) is
    replaced in turn: its connections would write to the deleted file."""

    def __init__(self, limit: int, **connect_args: Any) -> None:
        self._limit = limit
        self._connect_args = connect_args
        self._engines: OrderedDict[str, tuple[Engine, tuple[int, int] | None]] = OrderedDict()
        self._lock = threading.Lock()
        _ALL_ENGINES.add(self)

    def get(self, url: str) -> tuple[Engine, bool]:
        """The engine of ``url``, and whether it is a new one."""
        path = make_url(url).database
        with self._lock:
            engine, known = self._engines.pop(url, (None, None))
            if engine is not None and known != _identity(path):
                engine.dispose()
                engine = None
            new = engine is None
            if new:
                engine = create_engine(
                    url, pool_size=IDLE_CONNECTIONS, max_overflow=-1, connect_args=self._connect_args
                )
                engine.connect().close()  # SQLite creates the file: now it has an identity
                known = _identity(path)
            self._engines[url] = (engine, known)
            while len(self._engines) > self._limit:
                # A connection still checked out stays usable; it is closed when returned.
                self._engines.popitem(last=False)[1][0].dispose()
            return engine, new

    def dispose(self) -> None:
        with self._lock:
            while self._engines:
                self._engines.popitem()[1][0].dispose()

    def after_fork(self) -> None:
        """In a forked child: close the connections inherited from the parent. SQLite keeps a
        table of the locks its connections hold per process; copied by ``fork``, it would tell the
        child's new connections that they hold the parent's locks, so they would take none, and
        the parent closing its last connection could then checkpoint and delete the write-ahead
        log the child still writes to. The child closing them cannot disturb the parent, whose
        own locks keep the log."""
        self._lock = threading.Lock()  # another thread may have held it at the fork
        self.dispose()


def _identity(path: str | None) -> tuple[int, int] | None:
    try:
        stat = os.stat(path or "")
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


_ALL_ENGINES: weakref.WeakSet[_Engines] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for engines in list(_ALL_ENGINES):
        engines.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log with kept connections (the module's docstring)."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._index = _Engines(1, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        self._run_shards = _Engines(RUN_SHARDS_KEPT, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        self._tables: set[str] = set()
        self._event_watcher: SqlPollingEventWatcher | None = None
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engines = self._index if shard == INDEX_SHARD_NAME else self._run_shards
        engine, new = engines.get(self.conn_string_for_shard(shard))
        if new:  # perhaps a file deleted by another process: create its tables again if so
            self._initialized_dbs.discard(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:  # as Dagster's: one connection of this storage at a time
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Asked before every check evaluation and asset event; a table, once there, stays."""
        if table_name not in self._tables:
            engine = self._engine(INDEX_SHARD_NAME)
            with engine.connect() as conn:
                if engine.dialect.has_table(conn, table_name):
                    self._tables.add(table_name)
        return table_name in self._tables

    def watch(self, run_id: str, cursor: str | None, callback: Any) -> None:
        """A run's new events (the UI's live run logs), polled by Dagster's watcher for SQL event
        logs, as its PostgreSQL one does. Dagster's SQLite watcher wakes when ``<run>.db``
        changes, which kept connections leave as it is until a checkpoint: the events stay in
        ``<run>.db-wal``, whose changes come before the commit is visible."""
        if self._event_watcher is None:
            self._event_watcher = SqlPollingEventWatcher(self)
        self._event_watcher.watch_run(run_id, cursor, callback)

    def end_watch(self, run_id: str, handler: Any) -> None:
        if self._event_watcher is not None:
            self._event_watcher.unwatch_run(run_id, handler)

    def wipe(self) -> None:
        self._run_shards.dispose()  # before Dagster deletes their files
        super().wipe()

    def dispose(self) -> None:
        if self._event_watcher is not None:
            self._event_watcher.close()
        super().dispose()
        self._run_shards.dispose()
        self._index.dispose()


class PooledSqliteRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage with kept connections (the module's docstring)."""

    def __init__(self, conn_string: str, inst_data: Any = None) -> None:
        self._engines = _Engines(1)  # Dagster's run storage sets no busy timeout: neither do we
        super().__init__(conn_string, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteRunStorage:
        return cls.from_local(inst_data=inst_data, **config_value)  # Dagster's names its own class

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        engine, _ = self._engines.get(self._conn_string)
        with engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


def embedded_instance_config(home: Path) -> dict[str, Any]:
    """The local instance in ``home``: Dagster's default SQLite layout (``history/``,
    ``history/runs/``), its run storage and event log as above, no telemetry."""

    def storage(name: str, base_dir: Path) -> dict[str, Any]:
        return {"module": __name__, "class": name, "config": {"base_dir": str(base_dir)}}

    history = Path(home).resolve() / "history"
    return {
        "run_storage": storage(PooledSqliteRunStorage.__name__, history),
        "event_log_storage": storage(PooledSqliteEventLogStorage.__name__, history / "runs"),
        "telemetry": {"enabled": False},
    }


def embedded_instance_yaml(home: Path, **settings: Any) -> str:
    """``embedded_instance_config`` as the ``dagster.yaml`` of ``home``, with any further top-level
    ``settings``."""
    return yaml.safe_dump(embedded_instance_config(home) | settings, sort_keys=False)
