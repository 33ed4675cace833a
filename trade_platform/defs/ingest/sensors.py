"""The landing sensor (the S3-key-sensor role): one run per day whose set of landing files changed.

It lists ``<landing>/trades/date=*/`` (a local folder or ``s3://``), fingerprints each day's files
by (path, size, version: ETag, or mtime with inode and change time), and requests the day's
partition when the fingerprint differs from the one its last ``raw_trades`` materialization read
(recorded in that materialization's metadata). Modification times are never compared with run
times: a late file copied with an old mtime (``cp -p``, ``rsync -a``, ``tar x``) is a change like
any other. The run key is the day, its fingerprint and the day's last materialization, so the
same files never trigger twice after the same run, and the cursor ``{day: fingerprint}`` is the checkpoint: a restarted daemon resumes from it
without re-running old days. Days that an unfinished backfill (``trade-platform backfill`` or the
UI's) will materialize are left to it, their cursor entries unchanged: once it has finished, the
comparison with what its run read requests only the days whose files changed since.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

from dagster import (
    AssetKey,
    DagsterInstance,
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from fsspec.core import url_to_fs

from trade_platform.core.lake_layout import DAY_FOLDER
from trade_platform.core.landing.files import TRADES
from trade_platform.core.landing.fileset import fileset_digest, is_tracked
from trade_platform.core.landing.listing import ListedFile, is_file, listed
from trade_platform.core.names import RAW_TRADES
from trade_platform.defs.ingest.metadata import LANDING_FILESET, latest_read
from trade_platform.lib.dagster_private import BulkActionStatus
from trade_platform.lib.resources import LandingZone
from trade_platform.lib.runs import unfinished_run

FILESET_TAG = "trade_platform/landing_fileset"
PARTITION_TAG = "dagster/partition"
MAX_RUNS_PER_TICK = 31  # a first tick over a long history catches up a month at a time
_DAY_DIRECTORY = re.compile(rf"(?:^|/){TRADES}/{DAY_FOLDER.pattern}/")


def landing_filesets(landing_url: str) -> dict[str, str]:
    """The fileset digest (``core.landing.fileset.fileset_digest``) of every day under
    ``<landing>/trades/`` that has tracked files (``is_tracked``): what a run reads, and what its
    completeness check would name (a late ``.tsv``); hidden temporary files do not count."""
    fs, root = url_to_fs(landing_url)
    trades = f"{root.rstrip('/')}/trades"
    fs.invalidate_cache(trades)  # a long-lived daemon must not see a cached listing
    if not fs.exists(trades):
        return {}
    days: dict[str, list[ListedFile]] = {}
    for path, info in fs.find(trades, detail=True).items():
        if not is_file(path, info):
            continue
        file = listed(fs, root, path, info)
        match = _DAY_DIRECTORY.match(file.path)
        if match and is_tracked(file.path):
            days.setdefault(match.group(1), []).append(file)
    return {day: fileset_digest(files) for day, files in days.items()}


def last_read(instance: DagsterInstance, day: str) -> tuple[str | None, int]:
    """(the fileset digest the day's latest ``raw_trades`` materialization read, that
    materialization's storage id); ``(None, 0)`` before the first."""
    record = latest_read(instance, day)
    if record is None:
        return None, 0
    entry = record.asset_materialization.metadata.get(LANDING_FILESET)
    return (entry.value if entry is not None else None), record.storage_id


def is_partition(day: str, partitions: DailyPartitionsDefinition) -> bool:
    """Days from the start date up to today (the open day) are partitions; tomorrow's files wait."""
    last = partitions.get_last_partition_key()
    try:
        return partitions.start.date() <= date.fromisoformat(day) and last is not None and day <= last
    except ValueError:
        return False


def backfilled_days(context: SensorEvaluationContext) -> set[str]:
    """The days of ``raw_trades`` that a requested, unfinished backfill will materialize (the UI
    launches a backfill of an asset job's partitions as an asset backfill too)."""
    days: set[str] = set()
    for backfill in context.instance.get_backfills(status=BulkActionStatus.REQUESTED):
        if backfill.is_asset_backfill:
            target = backfill.get_asset_backfill_data(context.repository_def.asset_graph).target_subset
            if AssetKey(RAW_TRADES) in target.asset_keys:
                days.update(target.get_partitions_subset(AssetKey(RAW_TRADES)).get_partition_keys())
    return days


def span(days: list[str]) -> str:
    return days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"


def paced(instance: DagsterInstance, job_name: str, day: str, interval_seconds: int) -> bool:
    """Whether the open day's last run was created less than ``interval_seconds`` ago."""
    records = instance.get_run_records(RunsFilter(job_name=job_name, tags={PARTITION_TAG: day}), limit=1)
    age = records and (datetime.now(UTC) - records[0].create_timestamp).total_seconds()
    return bool(records) and age < interval_seconds


def build_landing_sensor(
    job, partitions: DailyPartitionsDefinition, open_day_interval_seconds: int
) -> SensorDefinition:
    @sensor(
        name="landing_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests a day's run when its files under <landing>/trades/date=*/ differ from "
        "what its last run read (the landing zone of the `landing` resource, the one the assets "
        f"read); today's at most every {open_day_interval_seconds} s (TRADE_PLATFORM_OPEN_DAY_INTERVAL); "
        "days an unfinished backfill will materialize are left to it.",
    )
    def landing_sensor(context: SensorEvaluationContext, landing: LandingZone) -> SensorResult:
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        filesets = landing_filesets(landing.url)
        candidates = sorted(
            day
            for day, digest in filesets.items()
            if seen.get(day) != digest and is_partition(day, partitions)
        )
        # Days a backfill will materialize are its own; afterwards they compare with what it read.
        held = backfilled_days(context) if candidates else set()
        backfilled = [day for day in candidates if day in held]
        changed = [day for day in candidates if day not in held]
        # Days whose last run read exactly these files (a demo run, a lost cursor) need no new run.
        read = {day: last_read(context.instance, day) for day in changed}
        current = [day for day in changed if read[day][0] == filesets[day]]
        # A day whose run is still queued or running waits for it.
        busy = {day for day in changed if unfinished_run(context.instance, job.name, {PARTITION_TAG: day})}
        # The open day changes all day long: its runs are paced; a closed day's run is due at once.
        open_day = partitions.get_last_partition_key()
        if open_day in changed and open_day not in busy and open_day not in current:
            if paced(context.instance, job.name, open_day, open_day_interval_seconds):
                busy.add(open_day)
        due = [day for day in changed if day not in current and day not in busy][:MAX_RUNS_PER_TICK]
        requests = [
            RunRequest(
                partition_key=day,
                # A file set seen before (an S3 object changed and restored) is a new run after
                # another was read: the key names what the day's last run read, too.
                run_key=f"{day}:{filesets[day]}:{read[day][1]}",
                tags={FILESET_TAG: filesets[day]},
            )
            for day in due
        ]
        cursor = json.dumps({**seen, **{day: filesets[day] for day in current + due}}, sort_keys=True)
        if not requests:
            waits = [f"{len(busy)} changed days wait for their unfinished or paced run"] if busy else []
            if backfilled:
                waits.append(
                    f"{len(backfilled)} changed days left to an unfinished backfill: {span(backfilled)}"
                )
            nothing = "nothing to request" if waits else "no new or changed files"
            return SensorResult(
                skip_reason=f"{nothing} in {len(filesets)} landed days"
                + "".join(f" ({wait})" for wait in waits),
                cursor=cursor,
            )
        waiting = len(changed) - len(current) - len(busy) - len(due)
        context.log.info(
            f"changed days: {', '.join(due)}"
            + (f" (+{waiting} next tick)" if waiting else "")
            + (f"; {span(backfilled)} left to an unfinished backfill" if backfilled else "")
        )
        return SensorResult(run_requests=requests, cursor=cursor)

    return landing_sensor
