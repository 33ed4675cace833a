"""``trade-platform worker``: a Celery run worker (dagster-celery) that takes runs from the queue."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import NoReturn

from trade_platform.settings import CELERY_BACKEND_URL_ENV, CELERY_BROKER_URL_ENV, Settings

CELERY_APP = "trade_platform.lib.scaleout.celery_app"
# One run at a time, each in a fresh process (nothing leaks from one run into the next), and no
# task reserved ahead: an idle worker takes the next run instead of a busy one holding it.
WORKER_ARGS = ("--concurrency=1", "--max-tasks-per-child=1", "--disable-prefetch")


def add_parser(commands, current: Settings) -> argparse.ArgumentParser:
    worker = commands.add_parser(
        "worker",
        help="start a Celery run worker (dagster-celery): one run at a time, a fresh process per run",
    )
    worker.add_argument("--name", required=True, help="recorded on each run it runs as trade_platform/worker")
    worker.add_argument("--queue", default="dagster", help="Celery queue to take runs from")
    worker.add_argument("--loglevel", default="INFO", help="Celery log level (DEBUG, INFO, WARNING, ERROR)")
    return worker


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> int:
    try:
        return run_worker(args.name, args.queue, args.loglevel, current)
    except (ValueError, ConnectionError) as exc:
        parser.error(str(exc))


def run_worker(name: str, queue: str, loglevel: str, settings: Settings) -> NoReturn:
    """Replace this process with ``dagster-celery worker start`` for our app."""
    from trade_platform.lib.scaleout.config import celery_app_args, check_reachable

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
