"""The embedded instance: Dagster's SQLite run storage and event log, with their connections kept.

Dagster's SQLite storages (dagster 1.13.27) open every connection through a new SQLAlchemy engine
without a pool, and the event log asks ``has_table`` (another engine) before each check
evaluation and asset event. Creating an engine and its first connection is most of what storing
an event costs: a 500k-trade day stores 123 events, a range run 22 more per day
(docs/performance-profile.md). These subclasses keep one engine per database file per process
with SQLAlchemy's default pool for SQLite files, so a connection is opened once and reused; the
files, schema, migrations, queries and watchers stay Dagster's, so an instance created with
Dagster's defaults reads the same history. ``embedded_instance_config`` is the instance every
command of the repository, the tests and the benchmarks use (docs/configuration.md, "The
instance"); the production instance is PostgreSQL's (deploy/dagster.yaml).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, Engine, create_engine

from trade_platform.lib.dagster_private import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
    SqliteRunStorage,
)

# A webserver reads the shards of many runs; each kept engine holds its file open.
RUN_SHARDS_KEPT = 8


class _Engines:
    """This process's engines, one per database URL, the least recently used beyond ``limit``
    disposed of. A forked child drops its parent's without closing their connections, as
    SQLAlchemy requires of pools across ``fork``."""

    def __init__(self, limit: int, **connect_args: Any) -> None:
        self._limit = limit
        self._connect_args = connect_args
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self, url: str) -> Engine:
        with self._lock:
            if self._pid != os.getpid():
                for engine in self._engines.values():
                    engine.dispose(close=False)
                self._engines.clear()
                self._pid = os.getpid()
            engine = self._engines.pop(url, None) or create_engine(url, connect_args=self._connect_args)
            self._engines[url] = engine
            while len(self._engines) > self._limit:
                # A connection still checked out stays usable; it is closed when returned.
                self._engines.popitem(last=False)[1].dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            while self._engines:
                self._engines.popitem()[1].dispose(close=self._pid == os.getpid())


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log with kept connections (the module's docstring)."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._index = _Engines(1, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        self._run_shards = _Engines(RUN_SHARDS_KEPT, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engines = self._index if shard == INDEX_SHARD_NAME else self._run_shards
        return engines.get(self.conn_string_for_shard(shard))

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

    def wipe(self) -> None:
        self._run_shards.dispose()  # before Dagster deletes their files
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._run_shards.dispose()
        self._index.dispose()


class PooledSqliteRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage with a kept connection (the module's docstring)."""

    def __init__(self, conn_string: str, inst_data: Any = None) -> None:
        self._engines = _Engines(1)  # Dagster's run storage sets no busy timeout: neither do we
        super().__init__(conn_string, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteRunStorage:
        return cls.from_local(inst_data=inst_data, **config_value)  # Dagster's names its own class

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engines.get(self._conn_string).connect() as conn, conn.begin():
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


def embedded_instance_yaml(home: Path) -> str:
    """``embedded_instance_config`` as the ``dagster.yaml`` of ``home``."""
    return yaml.safe_dump(embedded_instance_config(home), sort_keys=False)
