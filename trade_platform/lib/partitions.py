"""The one partitioning of the platform: UTC days from the configured start date.

Today is a partition too (``end_offset=1``): trades streamed in during the day can be
materialized as they land, each run overwriting the day's partition with everything landed so
far. The daily schedule materializes each day once more after it is over.
"""

from __future__ import annotations

from datetime import date

from dagster import DailyPartitionsDefinition


def daily_partitions(start: date) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)
