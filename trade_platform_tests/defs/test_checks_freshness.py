"""Partition-aware freshness: only yesterday's partition, by the deadline, makes an asset fresh."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from dagster import AssetKey, RunRequest, SkipReason, build_sensor_context

from trade_platform.core.generate import generate_day, write_day
from trade_platform.definitions import build_defs
from trade_platform.defs.freshness.checks import FRESH_ASSETS, expected_partition, judge_freshness
from trade_platform_tests.conftest import settings_for

DEADLINE = time(2, 0)


@pytest.fixture
def defs(tmp_path):
    return build_defs(settings_for(tmp_path / "landing", tmp_path / "lake", freshness_deadline=DEADLINE))


def materialize_day(defs, instance, tmp_path, day: str):
    write_day(generate_day(date.fromisoformat(day), 300, seed=5), str(tmp_path / "landing"))
    result = defs.resolve_job_def("trades_daily_job").execute_in_process(partition_key=day, instance=instance)
    return {
        e.asset_key.to_user_string(): e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "freshness"
    }


@pytest.mark.parametrize(
    ("now", "expected", "due"),
    [
        (datetime(2024, 3, 5, 2, 0, tzinfo=UTC), "2024-03-04", datetime(2024, 3, 5, 2, 0, tzinfo=UTC)),
        (datetime(2024, 3, 5, 23, 59, tzinfo=UTC), "2024-03-04", datetime(2024, 3, 5, 2, 0, tzinfo=UTC)),
        (datetime(2024, 3, 5, 1, 59, tzinfo=UTC), "2024-03-03", datetime(2024, 3, 4, 2, 0, tzinfo=UTC)),
    ],
)
def test_yesterday_is_due_from_the_deadline_on_and_the_day_before_until_then(now, expected, due):
    assert expected_partition(now, DEADLINE) == (expected, due)


def test_backfilling_an_old_day_does_not_make_a_stale_asset_fresh(defs, instance, tmp_path):
    due_day, _ = expected_partition(datetime.now(UTC), DEADLINE)
    freshness = materialize_day(defs, instance, tmp_path, "2024-03-01")
    assert set(freshness) == set(FRESH_ASSETS)
    for asset, evaluation in freshness.items():
        assert not evaluation.passed, asset
        assert evaluation.metadata["expected_partition"].value == due_day
        assert evaluation.metadata["latest_materialized_partition"].value == "2024-03-01"
        assert due_day in evaluation.metadata["missing_in_last_7_days"].value
        assert "overdue_by" in evaluation.metadata
    assert instance.get_latest_materialization_event(AssetKey("validated_trades"))  # just materialized


def test_yesterdays_partition_makes_the_assets_fresh(defs, instance, tmp_path):
    due_day, _ = expected_partition(datetime.now(UTC), DEADLINE)
    freshness = materialize_day(defs, instance, tmp_path, due_day)
    assert all(evaluation.passed for evaluation in freshness.values()), freshness
    assert freshness["ohlcv"].metadata["expected_partition"].value == due_day


def test_freshness_sensor_evaluates_the_checks_once_per_deadline(defs, instance, tmp_path):
    sensor = defs.resolve_sensor_def("freshness_sensor")
    repo = defs.get_repository_def()
    first = sensor(build_sensor_context(instance=instance, repository_def=repo))
    assert isinstance(first, RunRequest)
    assert {key.to_user_string() for key in first.asset_check_keys} == {
        f"{a}:freshness" for a in FRESH_ASSETS
    }
    _, due = expected_partition(datetime.now(UTC), DEADLINE)
    assert first.run_key == f"freshness:{due.isoformat()}"

    materialize_day(defs, instance, tmp_path, "2024-03-01")  # evaluates the checks after the deadline
    second = sensor(build_sensor_context(instance=instance, repository_def=repo))
    assert isinstance(second, SkipReason)


def test_a_run_while_the_day_was_open_does_not_make_it_fresh(defs, instance, tmp_path):
    """Today is a partition: streamed trades materialize it during the day, but freshness wants
    the run after the day ended (daily_schedule's), which has all of its trades."""
    today = datetime.now(UTC).date()
    materialize_day(defs, instance, tmp_path, today.isoformat())
    tomorrow_after_deadline = datetime.combine(today + timedelta(days=1), time(3, 0), UTC)
    verdict = judge_freshness(
        instance, AssetKey("validated_trades"), tomorrow_after_deadline, DEADLINE, date(2024, 1, 1)
    )
    assert not verdict.passed
    assert "while the day was open" in verdict.description
