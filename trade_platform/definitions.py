"""The code location: assets, checks, sensors, schedule and resources, configured from the environment."""

from __future__ import annotations

from datetime import time

from dagster import Definitions, in_process_executor

from trade_platform.defs.automation.jobs import ASSETS, replay_dlq_job, trades_daily_job
from trade_platform.defs.automation.schedules import build_daily_schedule
from trade_platform.defs.freshness.checks import build_freshness_checks
from trade_platform.defs.freshness.sensors import build_freshness_sensor
from trade_platform.defs.ingest.checks import INGEST_CHECKS
from trade_platform.defs.ingest.sensors import build_landing_sensor
from trade_platform.defs.lineage.sensors import build_lineage_sensor
from trade_platform.defs.marts.checks import MART_CHECKS
from trade_platform.defs.shared.resources import local_resources, resources_from_env
from trade_platform.settings import QualityGates, Settings, deadline_from_env, schedule_time_from_env


def build_defs(
    *,
    landing_url: str,
    lake_url: str,
    resources: dict | None = None,
    freshness_deadline: time | None = None,
    schedule_time: time | None = None,
) -> Definitions:
    """Everything wired to one landing zone and one lake (``resources`` default to those URLs)."""
    QualityGates.from_env()  # a bad threshold fails when the code location loads, not in a run
    freshness_deadline = freshness_deadline or deadline_from_env()
    freshness_checks = build_freshness_checks(freshness_deadline)
    return Definitions(
        assets=ASSETS,
        asset_checks=[*INGEST_CHECKS, *MART_CHECKS, freshness_checks],
        jobs=[trades_daily_job, replay_dlq_job],
        schedules=[build_daily_schedule(trades_daily_job, schedule_time or schedule_time_from_env())],
        sensors=[
            build_landing_sensor(trades_daily_job),
            build_freshness_sensor(freshness_checks, freshness_deadline),
            build_lineage_sensor(),
        ],
        resources=resources or local_resources(landing_url, lake_url),
        # Steps run in the run's process: polars already uses every core inside a step, and a
        # process per step would re-import the code location (seconds) for each of 14 steps.
        executor=in_process_executor,
    )


_settings = Settings.from_env()
defs = build_defs(
    landing_url=_settings.landing_url, lake_url=_settings.lake_url, resources=resources_from_env()
)
