"""``trade-platform worker`` and ``trade-platform backfill``: the scale-out half of the CLI."""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import NoReturn

from trade_platform.settings import CELERY_BACKEND_URL_ENV, CELERY_BROKER_URL_ENV, Settings

CELERY_APP = "trade_platform.scaleout.celery_app"
# One run at a time, each in a fresh process (nothing leaks from one run into the next), and no
# task reserved ahead: an idle worker takes the next run instead of a busy one holding it.
WORKER_ARGS = ("--concurrency=1", "--max-tasks-per-child=1", "--disable-prefetch")
POLL_SECONDS = 5.0


def run_worker(name: str, queue: str, loglevel: str, settings: Settings) -> NoReturn:
    """Replace this process with ``dagster-celery worker start`` for our app."""
    from trade_platform.scaleout.config import celery_app_args, check_reachable

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):  # Celery names it NAME@host; runs are tagged NAME
        raise ValueError(f"--name takes letters, digits, '.', '_' and '-', got {name!r}")
    args = celery_app_args(settings)  # a missing broker or backend fails here, before Celery starts
    check_reachable(args["broker"], f"Redis, the Celery broker ({CELERY_BROKER_URL_ENV}),")
    check_reachable(args["backend"], f"Redis, the Celery result backend ({CELERY_BACKEND_URL_ENV}),")
    command = [
        str(Path(sys.executable).with_name("dagster-celery")),
        "worker", "start",
        "-A", CELERY_APP,
        "--name", name,
        "-q", queue,
        "-l", loglevel,
        "--", *WORKER_ARGS,
    ]  # fmt: skip
    print(f"worker {name}: {' '.join(command[1:])}", flush=True)
    # dagster-celery starts `celery` from PATH: this virtualenv's, also when it is not activated.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    os.execve(command[0], command, {**os.environ, "PATH": path})


def run_backfill(first: date, last: date, wait: bool, settings: Settings) -> int:
    """Submit the backfill; with ``wait``, follow its runs until it finishes."""
    from trade_platform.definitions import build_defs
    from trade_platform.scaleout.backfill import submit_backfill

    days = (last - first).days + 1
    per_run = settings.max_partitions_per_run or days
    with instance_or_clear_error() as instance:
        backfill = submit_backfill(instance, build_defs(settings), first, last)
        print(
            f"backfill {backfill.backfill_id}: {days} days {first}..{last} in {math.ceil(days / per_run)} "
            f"runs of up to {per_run} days; the daemon launches them (UI: /runs/b/{backfill.backfill_id})",
            flush=True,
        )
        return follow(instance, backfill.backfill_id) if wait else 0


@contextmanager
def instance_or_clear_error() -> Iterator:
    """The instance of ``DAGSTER_HOME``; an unreachable PostgreSQL fails naming it."""
    from dagster import DagsterInstance
    from dagster_postgres.utils import DagsterPostgresException
    from sqlalchemy.exc import OperationalError

    try:
        instance = DagsterInstance.get()
    except (OperationalError, DagsterPostgresException) as exc:
        while exc.__cause__ is not None:  # dagster-postgres gives up after retries, from the driver's error
            exc = exc.__cause__
        reason = str(getattr(exc, "orig", exc)).strip()
        raise ConnectionError(
            f"cannot reach PostgreSQL, the Dagster instance's storage (DAGSTER_PG_URL): {reason}"
        ) from None
    with instance:
        yield instance


def follow(instance, backfill_id: str) -> int:
    """Print the backfill's run counts whenever they change; 0 when the daemon finished it with
    every day materialized (a run that failed and was retried by run retries counts as retried)."""
    from dagster import DagsterRunStatus, RunsFilter

    from trade_platform.lib.dagster_private import BULK_ACTION_TERMINAL_STATUSES, BulkActionStatus

    last_line = ""
    while True:
        backfill = instance.get_backfill(backfill_id)
        runs = instance.get_runs(RunsFilter.for_backfill(backfill_id))
        counts: dict[str, int] = {}
        for run in runs:
            counts[run.status.value] = counts.get(run.status.value, 0) + 1
        line = f"{backfill.status.value}: " + (
            ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no runs yet"
        )
        if line != last_line:
            print(line, flush=True)
            last_line = line
        if backfill.status in BULK_ACTION_TERMINAL_STATUSES and all(run.is_finished for run in runs):
            retried = {run.tags.get("dagster/parent_run_id") for run in runs}
            failed = [run.run_id for run in runs if run.status != DagsterRunStatus.SUCCESS]
            if failed:
                print(
                    f"{sum(r in retried for r in failed)} of {len(failed)} failed runs were retried: {', '.join(failed)}"
                )
            return 0 if backfill.status == BulkActionStatus.COMPLETED_SUCCESS else 1
        time.sleep(POLL_SECONDS)
