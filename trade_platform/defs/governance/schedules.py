"""``retention_schedule``: runs the ``retention`` job once a day; off until someone turns it on.

Deleting data is a decision: the schedule is created STOPPED, so retention runs only after it
is started in the UI (*Automation → retention_schedule*) or with ``dagster schedule start``; a
dry run of the job first shows what the windows would delete.
"""

from __future__ import annotations

from dagster import DefaultScheduleStatus, JobDefinition, ScheduleDefinition

RETENTION_CRON = "0 3 * * *"
"""03:00 UTC: after the daily run (``TRADE_PLATFORM_SCHEDULE_TIME``) and the freshness deadline."""


def build_retention_schedule(job: JobDefinition) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="retention_schedule",
        job=job,
        cron_schedule=RETENTION_CRON,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
        description="At 03:00 UTC, deletes the partitions past each layer's retention window "
        "(TRADE_PLATFORM_RETENTION). Stopped until started.",
    )
