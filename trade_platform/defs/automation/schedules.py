"""The daily schedule: materialize the previous UTC day, every day, whatever has landed.

The landing sensor reacts to files; the schedule guarantees one run per day even when nothing
landed, so an empty day fails ``record_count`` instead of passing unnoticed.
"""

from __future__ import annotations

from datetime import time

from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job


def build_daily_schedule(job, at: time):
    return build_schedule_from_partitioned_job(
        job,
        name="daily_schedule",
        hour_of_day=at.hour,
        minute_of_hour=at.minute,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"At {at:%H:%M} UTC, materializes the previous UTC day with all its checks.",
    )
