"""``trade-platform backfill``: submit a backfill of every asset over a range of days to the
instance's daemon, and with ``--wait`` follow its runs."""

from __future__ import annotations

import argparse
import math
import time
from datetime import date

from trade_platform.cli.instance import instance_of_dagster_home
from trade_platform.settings import Settings

POLL_SECONDS = 5.0


def add_parser(commands, current: Settings) -> argparse.ArgumentParser:
    backfill = commands.add_parser(
        "backfill", help="submit a backfill of every asset over a range of days to the instance's daemon"
    )
    backfill.add_argument(
        "--from", dest="first", type=date.fromisoformat, required=True, help="first day (UTC)"
    )
    backfill.add_argument("--to", dest="last", type=date.fromisoformat, required=True, help="last day (UTC)")
    backfill.add_argument(
        "--wait",
        action="store_true",
        help="follow the runs until the backfill finishes (its page in the UI: TRADE_PLATFORM_UI_URL)",
    )
    return backfill


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> int:
    try:
        return run_backfill(args.first, args.last, args.wait, current)
    except (ValueError, ConnectionError) as exc:
        parser.error(str(exc))


def run_backfill(first: date, last: date, wait: bool, settings: Settings) -> int:
    """Submit the backfill; with ``wait``, follow its runs until it finishes."""
    from trade_platform.definitions import build_defs
    from trade_platform.lib.scaleout.backfills import submit_backfill

    days = (last - first).days + 1
    per_run = settings.max_partitions_per_run or days
    with instance_of_dagster_home() as instance:
        backfill = submit_backfill(instance, build_defs(settings), first, last)
        print(
            f"backfill {backfill.backfill_id}: {days} days {first}..{last} in {math.ceil(days / per_run)} "
            f"runs of up to {per_run} days; the daemon launches them: {settings.ui_url}/runs/b/{backfill.backfill_id}",
            flush=True,
        )
        return follow(instance, backfill.backfill_id) if wait else 0


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
