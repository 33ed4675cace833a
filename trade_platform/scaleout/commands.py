"""``trade-platform worker`` and ``trade-platform backfill``: the scale-out half of the CLI."""

from __future__ import annotations

import math
import os
import sys
import time
from datetime import date
from pathlib import Path

from trade_platform.settings import Settings

CELERY_APP = "trade_platform.scaleout.celery_app"
# One run at a time, each in a fresh process (nothing leaks from one run into the next), and no
# task reserved ahead: an idle worker takes the next run instead of a busy one holding it.
WORKER_ARGS = ("--concurrency=1", "--max-tasks-per-child=1", "--disable-prefetch")
POLL_SECONDS = 5.0


def run_worker(name: str, queue: str, loglevel: str, settings: Settings) -> int:
    """Replace this process with ``dagster-celery worker start`` for our app."""
    from trade_platform.scaleout.config import celery_app_args

    celery_app_args(settings)  # a missing broker or backend fails here, before Celery starts
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
    return 0  # not reached


def run_backfill(first: date, last: date, wait: bool, settings: Settings) -> int:
    """Submit the backfill; with ``wait``, follow its runs until it finishes."""
    from dagster import DagsterInstance

    from trade_platform.definitions import build_defs
    from trade_platform.scaleout.backfill import submit_backfill

    days = (last - first).days + 1
    per_run = settings.max_partitions_per_run or days
    with DagsterInstance.get() as instance:
        backfill = submit_backfill(instance, build_defs(settings), first, last)
        print(
            f"backfill {backfill.backfill_id}: {days} days {first}..{last} in {math.ceil(days / per_run)} "
            f"runs of up to {per_run} days; the daemon launches them (UI: /runs/b/{backfill.backfill_id})",
            flush=True,
        )
        return follow(instance, backfill.backfill_id) if wait else 0


def follow(instance, backfill_id: str) -> int:
    """Print the backfill's run counts whenever they change; 0 when every run succeeded."""
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES, BulkActionStatus

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
        done = backfill.status in BULK_ACTION_TERMINAL_STATUSES
        if done and all(run.is_finished for run in runs):
            ok = backfill.status == BulkActionStatus.COMPLETED_SUCCESS
            return 0 if ok and all(run.status == DagsterRunStatus.SUCCESS for run in runs) else 1
        time.sleep(POLL_SECONDS)
