"""The code location: assets, checks, sensors, schedule and resources, built from one ``Settings``.

Dagster (``dagster dev``, ``dg``, the daemon, every run worker) loads ``defs``, which reads the
environment when it is called, never at import; tests and tools call ``build_defs`` with their
own ``Settings``.
"""

from __future__ import annotations

import dagster as dg

from trade_platform.defs.automation.jobs import replay_dlq_job, trades_daily_job
from trade_platform.defs.automation.schedules import build_daily_schedule
from trade_platform.defs.freshness.checks import build_freshness_checks
from trade_platform.defs.freshness.sensors import build_freshness_sensor
from trade_platform.defs.governance.jobs import retention_job
from trade_platform.defs.governance.schedules import build_retention_schedule
from trade_platform.defs.ingest.assets import build_ingest_assets
from trade_platform.defs.ingest.checks import build_ingest_checks
from trade_platform.defs.ingest.sensors import build_landing_sensor
from trade_platform.defs.lineage.sensors import build_lineage_sensor
from trade_platform.defs.marts.assets import build_mart_assets
from trade_platform.defs.marts.checks import build_mart_checks
from trade_platform.defs.shared.partitions import daily_partitions
from trade_platform.defs.shared.policies import backfill_policy
from trade_platform.defs.shared.resources import platform_resources
from trade_platform.defs.streaming.jobs import build_kafka_ingest_job
from trade_platform.defs.streaming.sensors import build_kafka_lag_sensor
from trade_platform.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    """Everything wired to the landing zone, lake and knobs of ``settings``."""
    partitions = daily_partitions(settings.start_date)
    backfills = backfill_policy(settings.max_partitions_per_run)
    freshness_checks = build_freshness_checks(settings.freshness_deadline, settings.start_date)
    kafka_ingest = build_kafka_ingest_job(settings.kafka, settings.start_date)
    return dg.Definitions(
        assets=[
            build_ingest_assets(partitions, backfills, settings.pii_key),
            *build_mart_assets(partitions, backfills),
        ],
        asset_checks=[*build_ingest_checks(partitions), *build_mart_checks(partitions), freshness_checks],
        jobs=[trades_daily_job, replay_dlq_job, kafka_ingest, retention_job],
        schedules=[
            build_daily_schedule(trades_daily_job, settings.schedule_time),
            build_retention_schedule(retention_job),
        ],
        sensors=[
            build_landing_sensor(trades_daily_job, partitions, settings.open_day_interval_seconds),
            build_freshness_sensor(freshness_checks, settings.freshness_deadline),
            build_lineage_sensor(partitions),
            build_kafka_lag_sensor(settings.kafka, kafka_ingest),
        ],
        resources=platform_resources(settings),
        # Steps run in the run's process: polars already uses every core inside a step, and a
        # process per step would re-import the code location (seconds) for each of 14 steps.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location as the environment configures it (``TRADE_PLATFORM_*``)."""
    return build_defs(Settings.from_env())
