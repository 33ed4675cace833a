"""The landing sensor (the S3-key-sensor role): one run per day whose set of landing files changed.

It lists ``<landing>/trades/date=*/`` (a local folder or ``s3://``), fingerprints each day's files
by (path, size, ETag or mtime), and requests the day's partition when the fingerprint differs
from the one in its cursor. The run key is the day plus its fingerprint, so the same files never
trigger twice, and the cursor ``{day: fingerprint}`` is the checkpoint: a restarted daemon resumes
from it without re-running old days.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from fsspec.core import url_to_fs

from trade_platform.core.landing.files import is_landing_file
from trade_platform.core.names import RAW_TRADES
from trade_platform.defs.shared.resources import LandingZone
from trade_platform.defs.shared.runs import unfinished_run

FILESET_TAG = "trade_platform/landing_fileset"
PARTITION_TAG = "dagster/partition"
MAX_RUNS_PER_TICK = 31  # a first tick over a long history catches up a month at a time
_DAY_DIRECTORY = re.compile(r"(?:^|/)trades/date=(\d{4}-\d{2}-\d{2})/")


@dataclass(frozen=True)
class Fileset:
    digest: str
    """sha256 (16 hex digits) of the sorted (path, size, ETag or mtime) lines of the day's files."""
    modified: float | None
    """The newest file's modification time (epoch seconds), when the store reports one."""


def landing_filesets(landing_url: str) -> dict[str, Fileset]:
    """The fileset of every day under ``<landing>/trades/`` that has landing files.

    The files are the ones ``core.landing.files.list_landing_files`` reads (``is_landing_file``):
    hidden paths and unsupported names are ignored, so a half-written ``.tmp`` does not trigger a run.
    """
    fs, root = url_to_fs(landing_url)
    trades = f"{root.rstrip('/')}/trades"
    fs.invalidate_cache(trades)  # a long-lived daemon must not see a cached listing
    if not fs.exists(trades):
        return {}
    lines: dict[str, list[str]] = {}
    modified: dict[str, list[float]] = {}
    for path, info in fs.find(trades, detail=True).items():
        relative = path[len(root.rstrip("/")) + 1 :]
        match = _DAY_DIRECTORY.match(relative)
        if not match or not is_landing_file(relative[match.end() :]):
            continue
        version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or ""
        lines.setdefault(match.group(1), []).append(f"{relative}\t{info.get('size') or 0}\t{version}")
        modified.setdefault(match.group(1), []).append(_modified(info))
    return {
        day: Fileset(
            digest=hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:16],
            modified=None if None in modified[day] else max(modified[day]),
        )
        for day, entries in lines.items()
    }


def _modified(info: dict) -> float | None:
    stamp = info.get("mtime") or info.get("LastModified")
    if isinstance(stamp, datetime):
        return stamp.timestamp()
    return float(stamp) if stamp is not None else None


def materialized_since(instance: DagsterInstance, day: str, fileset: Fileset) -> bool:
    """Whether ``raw_trades`` of ``day`` was materialized by a run that started after its newest
    file landed: a file landing while a run reads the day (a Kafka batch) is newer than the run's
    start, so it is requested again even though the materialization is recorded after it."""
    if fileset.modified is None:
        return False
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(RAW_TRADES), asset_partitions=[day]), limit=1
    ).records
    run = records and instance.get_run_record_by_id(records[0].run_id)
    started = run and (run.start_time or run.create_timestamp.timestamp())
    return bool(started) and started > fileset.modified


def is_partition(day: str, partitions: DailyPartitionsDefinition) -> bool:
    """Days from the start date up to today (the open day) are partitions; tomorrow's files wait."""
    last = partitions.get_last_partition_key()
    try:
        return partitions.start.date() <= date.fromisoformat(day) and last is not None and day <= last
    except ValueError:
        return False


def build_landing_sensor(job, partitions: DailyPartitionsDefinition) -> SensorDefinition:
    @sensor(
        name="landing_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests a day's run when its files under <landing>/trades/date=*/ change "
        "(the landing zone of the `landing` resource, the one the assets read).",
    )
    def landing_sensor(context: SensorEvaluationContext, landing: LandingZone) -> SensorResult:
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        filesets = landing_filesets(landing.url)
        changed = sorted(
            day for day, f in filesets.items() if seen.get(day) != f.digest and is_partition(day, partitions)
        )
        # Days already materialized from these files (a demo run, a lost cursor) need no new run.
        current = [day for day in changed if materialized_since(context.instance, day, filesets[day])]
        # A day whose run is still queued or running waits for it (today changes all day long).
        busy = {day for day in changed if unfinished_run(context.instance, job.name, {PARTITION_TAG: day})}
        due = [day for day in changed if day not in current and day not in busy][:MAX_RUNS_PER_TICK]
        requests = [
            RunRequest(
                partition_key=day,
                run_key=f"{day}:{filesets[day].digest}",
                tags={FILESET_TAG: filesets[day].digest},
            )
            for day in due
        ]
        cursor = json.dumps({**seen, **{day: filesets[day].digest for day in current + due}}, sort_keys=True)
        if not requests:
            return SensorResult(
                skip_reason=f"no new or changed files in {len(filesets)} landed days"
                + (f" ({len(busy)} changed days wait for their unfinished run)" if busy else ""),
                cursor=cursor,
            )
        waiting = len(changed) - len(current) - len(busy) - len(due)
        context.log.info(f"changed days: {', '.join(due)}" + (f" (+{waiting} next tick)" if waiting else ""))
        return SensorResult(run_requests=requests, cursor=cursor)

    return landing_sensor
