"""The daily schedule materializes the previous UTC day."""

from datetime import UTC, datetime, time

import pytest
from dagster import DagsterInstance, build_schedule_context

from trade_platform.definitions import build_defs
from trade_platform_tests.conftest import settings_for


def schedule(tmp_path, at=time(0, 15)):
    defs = build_defs(settings_for(tmp_path / "landing", tmp_path / "lake", schedule_time=at))
    return defs.resolve_schedule_def("daily_schedule")


@pytest.mark.parametrize(
    ("tick", "day"),
    [
        (datetime(2024, 3, 5, 0, 15, tzinfo=UTC), "2024-03-04"),
        (datetime(2024, 3, 1, 0, 15, tzinfo=UTC), "2024-02-29"),  # leap day
        (datetime(2025, 1, 1, 0, 15, tzinfo=UTC), "2024-12-31"),
    ],
)
def test_schedule_targets_the_previous_utc_day(tmp_path, tick, day):
    daily = schedule(tmp_path)
    assert daily.cron_schedule == "15 0 * * *"
    assert daily.execution_timezone == "UTC"
    assert daily.job_name == "trades_daily_job"
    with DagsterInstance.ephemeral() as instance:
        requests = daily.evaluate_tick(
            build_schedule_context(instance=instance, scheduled_execution_time=tick)
        ).run_requests
    assert [request.partition_key for request in requests] == [day]
