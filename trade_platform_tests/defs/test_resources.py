"""A run's config may override the resources' settings; it is held to what the variables are held to."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterResourceFunctionError, build_resources

from trade_platform.core.names import OHLCV
from trade_platform.lib.resources import QualityGateSettings
from trade_platform_tests.conftest import DAY


def test_a_run_config_with_an_interval_that_does_not_divide_a_day_fails_before_any_candle(platform):
    job = platform.definitions().resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        partition_key=DAY,
        instance=platform.instance,
        asset_selection=[AssetKey(OHLCV)],
        run_config={"resources": {"mart_settings": {"config": {"ohlcv_intervals": ["1m", "7m"]}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure)
    assert "'7m' does not divide a day" in str(failure.event_specific_data)
    assert not (platform.lake / OHLCV).exists()


def test_quality_gates_with_an_error_rate_below_the_warning_rate_are_refused():
    gates = QualityGateSettings(holidays=[], dlq_warn_rate=0.3, dlq_error_rate=0.1)
    with pytest.raises(DagsterResourceFunctionError) as refused, build_resources({"quality_gates": gates}):
        pass
    assert "TRADE_PLATFORM_DLQ_ERROR_RATE (0.1) must be at least" in str(refused.value.__cause__)
