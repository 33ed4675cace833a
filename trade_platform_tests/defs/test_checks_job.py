"""``trades_checks_job``: a day's checks re-run on the lake's stored partition, from a job the
UI launches per partition, without materializing anything."""

from datetime import date

import polars as pl
from dagster import AssetCheckKey, AssetKey, AssetRecordsFilter, DagsterEventType

from trade_platform.core.generate import generate_day, write_day
from trade_platform_tests.conftest import DAY

CHECKS_JOB = "trades_checks_job"
UNIQUE = AssetCheckKey(AssetKey("validated_trades"), "unique_trade_id")


def test_the_checks_job_is_partitioned_by_day_and_selects_every_check_and_no_asset(platform):
    defs = platform.definitions()
    job = defs.resolve_job_def(CHECKS_JOB)
    assert job.partitions_def.get_first_partition_key() == "2024-01-01"
    assert job.partitions_def == defs.resolve_job_def("trades_daily_job").partitions_def
    assert job.asset_layer.executable_asset_keys == set()
    assert (
        job.asset_layer.asset_graph.asset_check_keys == defs.get_repository_def().asset_graph.asset_check_keys
    )


def latest_evaluation(platform, check: AssetCheckKey):
    [record] = platform.instance.event_log_storage.get_asset_check_execution_history(check, limit=1)
    return record


def test_a_changed_stored_file_flips_its_check_when_the_day_is_re_checked_without_a_materialization(platform):
    write_day(generate_day(date.fromisoformat(DAY), 500, seed=5), str(platform.landing))
    materialized = platform.run_job("trades_daily_job")
    stored = platform.read("validated_trades")
    pl.concat([stored, stored.head(1)]).write_parquet(platform.partition_file("validated_trades"))

    broken = platform.run_job(CHECKS_JOB, raise_on_error=False)
    stored.write_parquet(platform.partition_file("validated_trades"))  # the file is fixed
    fixed = platform.run_job(CHECKS_JOB)

    for run, passed in ((broken, False), (fixed, True)):
        assert not platform.instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
        ).records
        [unique] = [e for e in run.get_asset_check_evaluations() if e.check_name == UNIQUE.name]
        assert (unique.partition, unique.passed) == (DAY, passed)
        # Each judged the stored materialization, which is still the day's only one.
        assert unique.target_materialization_data.run_id == materialized.run_id
    assert not broken.success  # a blocking check failed: the checks of the marts wait for a fix
    assert {e.check_name for e in fixed.get_asset_check_evaluations() if e.partition == DAY} >= {
        "ohlcv_invariants",
        "daily_volume_totals",
    }
    records = platform.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("validated_trades"), asset_partitions=[DAY]), limit=5
    ).records
    assert [r.run_id for r in records] == [materialized.run_id]
    latest = latest_evaluation(platform, UNIQUE)
    assert (latest.run_id, latest.partition) == (fixed.run_id, DAY)
