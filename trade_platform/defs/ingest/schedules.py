"""The daily schedule: materialize the previous UTC day, every day, whatever has landed.

The landing sensor reacts to files (today's included, while the day is open); the schedule
closes each day once it is over, so an empty day fails ``record_count`` instead of passing
unnoticed and a day's last files are never left out.
"""

from __future__ import annotations

from datetime import time, timedelta

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule


def build_daily_schedule(job, at: time):
    @schedule(
        name="daily_schedule",
        job=job,
        cron_schedule=f"{at.minute} {at.hour} * * *",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"At {at:%H:%M} UTC, materializes the previous UTC day with all its checks.",
    )
    def daily_schedule(context: ScheduleEvaluationContext) -> RunRequest:
        day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
        # The partition tag resolves the request here, as Dagster's own partitioned schedules do.
        return RunRequest(run_key=day, partition_key=day, tags={"dagster/partition": day})

    return daily_schedule
