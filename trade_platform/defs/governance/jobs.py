"""The ``retention`` job: deletes every partition past its layer's window (``core.retention``,
``TRADE_PLATFORM_RETENTION``), or with ``dry_run`` only reports what it would delete.

With Iceberg tables, a lake day is deleted through the catalog (``core.iceberg.retention``).
Every deletion, or would-be deletion, is an audit record under ``<lake>/audit/retention/``, and
the op's output metadata sums them up per layer (the run's page in the UI). A real run then
deregisters the deleted lake partitions (``deregister.py``), so Dagster shows them missing and the
Glue catalog (``TRADE_PLATFORM_GLUE_DATABASE``) no longer lists them.
"""

from collections import defaultdict
from contextlib import nullcontext
from datetime import UTC, datetime

from dagster import Config, MetadataValue, Nothing, OpExecutionContext, Out, Output, job, op

from trade_platform.core.names import ALL
from trade_platform.core.retention import (
    Partition,
    audit_record,
    summarize,
    write_audit,
)
from trade_platform.defs.governance.deregister import deregister_deleted_partitions
from trade_platform.lib.lake import Lake
from trade_platform.lib.partition_locks import holding_days
from trade_platform.lib.policies import StepSettings
from trade_platform.lib.resources import LandingZone, RetentionWindows

DAYS_HELD_AT_ONCE = 100
"""Lake days a real run locks at a time (one lock file each on a local instance)."""


class RetentionConfig(Config):
    dry_run: bool = False
    """Report (and audit) what would be deleted, and delete nothing."""


@op(
    out=Out(Nothing),
    description="Delete the landing, lake and lineage partitions past their retention window.",
)
def delete_expired_partitions(
    context: OpExecutionContext,
    config: RetentionConfig,
    landing: LandingZone,
    lake: Lake,
    retention: RetentionWindows,
    step_settings: StepSettings,
):
    """Windows are judged against the run's current UTC day. A lake day is deleted while the run
    holds it (``partition_locks``), so no run writes it meanwhile."""
    now, run_id = datetime.now(UTC), context.run_id
    records: list[dict] = []
    deleted: dict[str, list[str]] = defaultdict(list)  # {asset: [day, ...]}: to deregister
    try:
        with step_settings.retry_storage_faults(context.retry_number):
            expired = lake.expired_partitions(landing.url, retention.days, now.date())
            if config.dry_run:
                records = [audit_record(p, run_id=run_id, time=now, dry_run=True) for p in expired]
            else:
                _delete(context, lake, expired, records, deleted)
    finally:  # whatever was deleted is audited and deregistered, also when a deletion failed
        try:
            attempt = context.retry_number
            audit = (
                write_audit(lake.url, records, run_id=run_id, day=now.date(), attempt=attempt)
                if records
                else None
            )
        finally:
            deregister_deleted_partitions(context.instance, deleted, lake.glue_catalog())
    summary = summarize(expired)
    total = sum(p.bytes for p in expired)
    context.log.info(
        f"retention {'would delete' if config.dry_run else 'deleted'} {len(expired)} partitions ({total} bytes)"
        + "".join(f"; {layer}: {s['partitions']} ({s['bytes']} bytes)" for layer, s in summary.items())
    )
    yield Output(
        None,
        metadata={
            "dry_run": config.dry_run,
            "partitions": len(expired),
            "bytes": total,
            "by_layer": MetadataValue.json(summary),
            "windows_days": MetadataValue.json(dict(retention.days)),
            "audit_file": MetadataValue.path(audit) if audit else "none: nothing expired",
        },
    )


def _delete(
    context: OpExecutionContext,
    lake: Lake,
    expired: list[Partition],
    records: list[dict],
    deleted: dict[str, list[str]],
) -> None:
    """Delete the partitions in their order (oldest day first), holding up to
    ``DAYS_HELD_AT_ONCE`` lake days at a time; each deletion is appended to ``records`` (and a
    lake one to ``deleted``)."""
    days = sorted({p.partition for p in expired})
    for first in range(0, len(days), DAYS_HELD_AT_ONCE):
        batch_days = set(days[first : first + DAYS_HELD_AT_ONCE])
        batch = [p for p in expired if p.partition in batch_days]
        lake_days = sorted({p.partition for p in batch if p.layer in ALL})
        with holding_days(context, lake_days) if lake_days else nullcontext():
            for partition in batch:
                lake.delete_partition(partition)
                now = datetime.now(UTC)
                records.append(audit_record(partition, run_id=context.run_id, time=now, dry_run=False))
                if partition.layer in ALL:
                    deleted[partition.layer].append(partition.partition)


@job(
    name="retention",
    description="Delete the partitions past each layer's retention window (TRADE_PLATFORM_RETENTION); "
    "run config ops.delete_expired_partitions.config.dry_run: true only reports them.",
)
def retention_job():
    delete_expired_partitions()
