"""Trades ingest: ``raw_trades``, ``validated_trades`` and ``trades_dlq`` with their checks, the
jobs that materialize a day (``trades_daily_job``), re-check it (``trades_checks_job``) or replay
its DLQ (``replay_dlq``), the ``landing_sensor`` and the ``daily_schedule``."""

from __future__ import annotations

import dagster as dg

from trade_platform.defs.ingest.assets import build_ingest_assets
from trade_platform.defs.ingest.checks import build_ingest_checks
from trade_platform.defs.ingest.jobs import build_trades_checks_job, replay_dlq_job, trades_daily_job
from trade_platform.defs.ingest.schedules import build_daily_schedule
from trade_platform.defs.ingest.sensors import build_landing_sensor
from trade_platform.lib.partitions import daily_partitions
from trade_platform.lib.policies import backfill_policy
from trade_platform.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    partitions = daily_partitions(settings.start_date)
    return dg.Definitions(
        assets=[
            build_ingest_assets(
                partitions,
                backfill_policy(settings.max_partitions_per_run),
                settings.table_format,
                settings.pii_key,
            )
        ],
        asset_checks=build_ingest_checks(partitions),
        jobs=[trades_daily_job, build_trades_checks_job(partitions), replay_dlq_job],
        schedules=[build_daily_schedule(trades_daily_job, settings.schedule_time)],
        sensors=[build_landing_sensor(trades_daily_job, partitions, settings.open_day_interval_seconds)],
    )
