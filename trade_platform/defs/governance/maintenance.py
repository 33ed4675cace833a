"""The ``table_maintenance`` job and its schedule (stopped until started): with Iceberg tables
(``TRADE_PLATFORM_TABLE_FORMAT=iceberg``), each asset's table, and each dbt model's, has its days
of many small files compacted, its snapshots older than ``TRADE_PLATFORM_SNAPSHOT_RETENTION``
expired and the files no live snapshot references deleted (``core.iceberg.maintenance``). A
Parquet lake has nothing to maintain.
"""

from datetime import timedelta

from dagster import (
    Config,
    DefaultScheduleStatus,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    ScheduleDefinition,
    job,
    op,
)

from trade_platform.core.dbt_project import model_names
from trade_platform.core.names import ALL
from trade_platform.lib.lake import ICEBERG, Lake
from trade_platform.lib.partition_locks import holding_days
from trade_platform.lib.policies import StepSettings

MAINTENANCE_CRON = "30 4 * * *"
"""04:30 UTC: after the daily run and the retention job."""


class TableMaintenanceConfig(Config):
    grace_hours: float = 72.0
    """Files younger than this are never deleted: a run's data files exist before its commit names
    them, and the longest backfill run must commit within this."""


@op(out=Out(Nothing), description="Compact, expire old snapshots and delete unreferenced files.")
def maintain_tables(
    context: OpExecutionContext, config: TableMaintenanceConfig, lake: Lake, step_settings: StepSettings
):
    """Each compacted day is held (``partition_locks``) while it is rewritten."""
    if lake.table_format != ICEBERG:
        context.log.info("the lake is Parquet: no tables to maintain")
        yield Output(None, metadata={"table_format": lake.table_format})
        return
    from trade_platform.core.iceberg.maintenance import compact_day, days_to_compact, expire_and_clean

    tables, report = lake.iceberg_tables(), {}
    with step_settings.retry_storage_faults(context.retry_number):
        for asset in (*ALL, *model_names()):  # the dbt models' tables too
            table = tables.existing(asset)
            if table is None:
                continue
            days = days_to_compact(table)
            if days:
                with holding_days(context, days):
                    for day in days:
                        compact_day(tables, asset, day)
            cleanup = expire_and_clean(
                tables.table(asset), lake.snapshot_retention_seconds, timedelta(hours=config.grace_hours)
            )
            report[asset] = {"compacted_days": len(days), **vars(cleanup)}
            context.log.info(f"{tables.identifier(asset)}: {report[asset]}")
    yield Output(None, metadata={"tables": MetadataValue.json(report)})


@job(name="table_maintenance", description="Maintain the Iceberg tables (docs/iceberg.md#maintenance).")
def table_maintenance_job():
    maintain_tables()


table_maintenance_schedule = ScheduleDefinition(
    name="table_maintenance_schedule",
    job=table_maintenance_job,
    cron_schedule=MAINTENANCE_CRON,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="At 04:30 UTC, maintains the Iceberg tables. Stopped until started.",
)
