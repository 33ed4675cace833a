"""The one partitioning of the platform: UTC days from the configured start date."""

from __future__ import annotations

from datetime import date

from dagster import DailyPartitionsDefinition


def daily_partitions(start: date) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")
