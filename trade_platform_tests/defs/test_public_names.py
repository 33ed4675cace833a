"""The public names are a contract: this snapshot fails on any change to them, so a rename shows
up in review (acceptance tests, UIs, alerts and lineage consumers rely on each of them). The
definitions are built from a ``Settings`` object alone."""

from __future__ import annotations

from dagster import BackfillPolicy

from trade_platform.definitions import build_defs
from trade_platform.settings import Settings
from trade_platform_tests.conftest import ENVIRONMENT

ASSETS = [
    "account_daily",
    "daily_volume",
    "dlq_daily_summary",
    "ohlcv",
    "raw_trades",
    "symbol_hourly",
    "trades_dlq",
    "validated_trades",
]
CHECKS = [
    "account_daily:not_null_account_daily_buy_notional",
    "account_daily:not_null_account_daily_date",
    "account_daily:not_null_account_daily_notional",
    "account_daily:not_null_account_daily_sell_notional",
    "account_daily:not_null_account_daily_trade_count",
    "account_daily:unique_columns_account_daily_date__account_id",
    "daily_volume:daily_volume_totals",
    "daily_volume:freshness",
    "dlq_daily_summary:dlq_daily_summary_error_code_is_a_dlq_code",
    "dlq_daily_summary:not_null_dlq_daily_summary_date",
    "dlq_daily_summary:not_null_dlq_daily_summary_error_code",
    "dlq_daily_summary:not_null_dlq_daily_summary_records",
    "dlq_daily_summary:unique_columns_dlq_daily_summary_date__error_code",
    "ohlcv:freshness",
    "ohlcv:ohlcv_invariants",
    "raw_trades:column_schema",
    "raw_trades:landing_completeness",
    "raw_trades:record_count",
    "symbol_hourly:not_null_symbol_hourly_date",
    "symbol_hourly:not_null_symbol_hourly_high",
    "symbol_hourly:not_null_symbol_hourly_hour",
    "symbol_hourly:not_null_symbol_hourly_low",
    "symbol_hourly:not_null_symbol_hourly_notional",
    "symbol_hourly:not_null_symbol_hourly_symbol",
    "symbol_hourly:not_null_symbol_hourly_trade_count",
    "symbol_hourly:not_null_symbol_hourly_volume",
    "symbol_hourly:not_null_symbol_hourly_vwap",
    "symbol_hourly:symbol_hourly_reconciles_with_daily_volume",
    "symbol_hourly:unique_columns_symbol_hourly_date__hour__symbol",
    "trades_dlq:dlq_rate",
    "validated_trades:column_schema",
    "validated_trades:freshness",
    "validated_trades:price_range",
    "validated_trades:reconciliation",
    "validated_trades:record_count",
    "validated_trades:unique_trade_id",
]
JOBS = [
    "freshness_checks_job",
    "kafka_ingest",
    "replay_dlq",
    "retention",
    "table_maintenance",
    "trades_checks_job",
    "trades_daily_job",
]
SENSORS = ["freshness_sensor", "kafka_lag_sensor", "landing_sensor", "openlineage_sensor"]
SCHEDULES = ["daily_schedule", "retention_schedule", "table_maintenance_schedule"]


def test_the_public_names_of_assets_checks_jobs_sensors_and_schedules_do_not_change(tmp_path):
    defs = build_defs(Settings())
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    assert sorted(key.to_user_string() for key in graph.get_all_asset_keys()) == ASSETS
    assert sorted(key.to_user_string() for key in graph.asset_check_keys) == CHECKS
    assert sorted(job.name for job in repository.get_all_jobs() if not job.name.startswith("__")) == JOBS
    assert sorted(sensor.name for sensor in repository.sensor_defs) == SENSORS
    assert sorted(schedule.name for schedule in repository.schedule_defs) == SCHEDULES
    assert {
        key.to_user_string(): graph.get(key).partitions_def.get_first_partition_key()
        for key in graph.get_all_asset_keys()
    } == dict.fromkeys(ASSETS, "2024-01-01")


def test_the_definitions_are_built_from_the_settings_object_alone(monkeypatch):
    # A poisoned environment: building from a Settings object must not read it.
    for name in ENVIRONMENT:
        monkeypatch.setenv(name, "poison")
    defs = build_defs(Settings.from_env(ENVIRONMENT))
    job = defs.resolve_job_def("trades_daily_job")
    assert job.partitions_def.get_first_partition_key() == "2025-02-03"
    assert defs.resolve_schedule_def("daily_schedule").cron_schedule == "45 1 * * *"
    resources = defs.resources
    assert resources["landing"].url == "s3://landing/zone" and resources["lake"].url == "s3://lake/tables"
    lake = resources["lake"]
    assert (
        lake.table_format,
        lake.iceberg_catalog,
        lake.iceberg_namespace,
        lake.snapshot_retention_seconds,
    ) == (
        "iceberg",
        "stack",
        "trades",
        30 * 86_400,
    )
    assert type(resources["io_manager"]).__name__ == "IcebergLakeIOManager"
    assert resources["mart_settings"].ohlcv_intervals == ["1m", "15m"]
    assert resources["step_settings"].spill_budget_mb == 64
    gates = resources["quality_gates"]
    assert (gates.holidays, gates.dlq_warn_rate, gates.dlq_error_rate) == (
        ["2024-12-25", "2024-12-26"],
        0.1,
        0.3,
    )
    assert resources["retention"].days == {"landing": 30, "raw_trades": 90, "trades_dlq": 365}
    assert resources["lake"].glue_database == "trade_lake"
    # The I/O manager is given the lake and step settings resources, not copies of their knobs.
    assert resources["io_manager"].lake is resources["lake"]
    assert resources["io_manager"].step_settings is resources["step_settings"]
    deadlines = {
        spec.metadata["deadline_utc"]
        for checks in defs.asset_checks
        for spec in checks.check_specs
        if spec.name == "freshness"
    }
    assert deadlines == {"03:30"}
    policies = {assets.backfill_policy for assets in defs.assets}
    assert policies == {BackfillPolicy.multi_run(2)}  # fan-out: a backfill becomes runs of 2 days
    assert {a.backfill_policy for a in build_defs(Settings()).assets} == {BackfillPolicy.single_run()}
