"""The one partitioning of the platform: UTC days from TRADE_PLATFORM_START_DATE."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition

from trade_platform.settings import Settings

daily_partitions = DailyPartitionsDefinition(
    start_date=Settings.from_env().start_date.isoformat(), timezone="UTC"
)
