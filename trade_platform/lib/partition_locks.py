"""One writer per partition: a step holds a lock on every day it writes, for as long as it writes.

Two runs over overlapping days (two backfills, or a landing-sensor run during a backfill) then
take turns instead of writing the same partition files at once; Dagster's run queue can only
keep apart runs that carry the same ``dagster/partition`` tag, not range runs. On a PostgreSQL
instance the locks are session advisory locks in the instance's database, which every worker
reaches; on a local instance they are ``flock``s on files under ``$DAGSTER_HOME/locks``. Either
way the lock dies with the process that holds it (SIGKILL included), so a lost worker never
leaves a day locked. Days are locked in order, so two runs cannot deadlock.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from dagster import DagsterInstance

POLL_SECONDS = 1.0
HOLDING = "holding the days"
# The first key of pg_advisory_lock(int, int): the platform's own namespace of advisory locks.
ADVISORY_NAMESPACE = 0x7470  # "tp"


@contextmanager
def holding_days(context, days: Sequence[str]) -> Iterator[None]:
    """Wait for, then hold, every day of ``days``; logs a wait and what is held."""
    ordered = sorted(set(days))
    with _locker(context.instance) as try_lock:
        waiting_for = None
        for day in ordered:
            while not try_lock(day):
                if waiting_for != day:
                    context.log.info(f"waiting for {day}: another run is writing it")
                    waiting_for = day
                time.sleep(POLL_SECONDS)
        context.log.info(f"{HOLDING} {', '.join(ordered)}")
        yield


@contextmanager
def _locker(instance: DagsterInstance):
    from dagster_postgres import PostgresEventLogStorage  # only where a PostgreSQL instance is used

    storage = instance.event_log_storage
    if isinstance(storage, PostgresEventLogStorage):
        with _advisory_locks(storage.postgres_url) as try_lock:
            yield try_lock
    else:
        with _file_locks(Path(instance.root_directory) / "locks") as try_lock:
            yield try_lock


@contextmanager
def _advisory_locks(postgres_url: str):
    import psycopg2
    from sqlalchemy.engine import make_url

    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    cursor = connection.cursor()

    def try_lock(day: str) -> bool:
        cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (ADVISORY_NAMESPACE, day))
        return cursor.fetchone()[0]

    try:
        yield try_lock
    finally:
        connection.close()  # ends the session: PostgreSQL releases its advisory locks


@contextmanager
def _file_locks(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        handles = {}

        def try_lock(day: str) -> bool:
            if day not in handles:
                handles[day] = held.enter_context((folder / f"{day}.lock").open("a"))
            handle = handles[day]
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        yield try_lock
