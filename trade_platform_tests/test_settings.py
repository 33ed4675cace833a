"""Every TRADE_PLATFORM_* variable is parsed by ``Settings.from_env``, from any mapping."""

from datetime import date, time

import pytest

from trade_platform.core.alerts.targets import AlertTargets
from trade_platform.core.iceberg import IcebergTableSettings
from trade_platform.core.pseudonymise import PiiKey
from trade_platform.settings import QualityGates, Settings
from trade_platform_tests.conftest import ENVIRONMENT


def test_every_variable_is_read_into_one_settings_object():
    assert Settings.from_env(ENVIRONMENT) == Settings(
        landing_url="s3://landing/zone",
        lake_url="s3://lake/tables",
        start_date=date(2025, 2, 3),
        ohlcv_intervals=("1m", "15m"),
        max_retries=5,
        retry_delay_seconds=0.5,
        spill_budget_mb=64,
        freshness_deadline=time(3, 30),
        schedule_time=time(1, 45),
        gates=QualityGates(frozenset({"2024-12-25", "2024-12-26"}), 0.1, 0.3),
        max_partitions_per_run=2,
        celery_broker_url="redis://127.0.0.1:6379/0",
        celery_backend_url="redis://127.0.0.1:6379/1",
        retention={"landing": 30, "raw_trades": 90, "trades_dlq": 365},
        glue_database="trade_lake",
        pii_key=PiiKey(b"test-environment-pii-key-0123456789abcdef"),
        alerts=AlertTargets(
            webhook_url="https://hooks.example.com/services/T0/B0/token",
            smtp_url="smtps://alerts:secret@mail.example.com:465",
            email_to=("ops@example.com", "desk@example.com"),
            ui_url="https://dagster.example.com",
        ),
        table_format="iceberg",
        iceberg=IcebergTableSettings(catalog="stack", namespace="trades"),
        snapshot_retention_seconds=30 * 86_400,
        dbt_models=("symbol_hourly", "account_daily"),
    )


def test_dbt_models_are_all_none_or_models_of_the_project():
    assert Settings.from_env({"TRADE_PLATFORM_DBT_MODELS": " None "}).dbt_models == ()
    assert Settings.from_env({"TRADE_PLATFORM_DBT_MODELS": "ALL"}).dbt_models is None
    with pytest.raises(ValueError, match="TRADE_PLATFORM_DBT_MODELS: 'nope': not a model of the dbt project"):
        Settings.from_env({"TRADE_PLATFORM_DBT_MODELS": "symbol_hourly, nope"})


def test_unset_and_blank_variables_take_the_embedded_defaults():
    assert Settings.from_env({}) == Settings.from_env(dict.fromkeys(ENVIRONMENT, "  ")) == Settings()
    assert (Settings().landing_url, Settings().lake_url) == ("./data/landing", "./data/lake")


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("TRADE_PLATFORM_START_DATE", "not-a-date"),
        ("TRADE_PLATFORM_START_DATE", "2024-13-01"),
        ("TRADE_PLATFORM_OHLCV_INTERVALS", ", ,"),
        ("TRADE_PLATFORM_MAX_RETRIES", "-1"),
        ("TRADE_PLATFORM_MAX_RETRIES", "three"),
        ("TRADE_PLATFORM_RETRY_DELAY_SECONDS", "soon"),
        ("TRADE_PLATFORM_SPILL_BUDGET_MB", "1.5"),
        ("TRADE_PLATFORM_FRESHNESS_DEADLINE", "half past three"),
        ("TRADE_PLATFORM_SCHEDULE_TIME", "25:00"),
        ("TRADE_PLATFORM_HOLIDAYS", "christmas"),
        ("TRADE_PLATFORM_DLQ_WARN_RATE", "1.5"),
        ("TRADE_PLATFORM_DLQ_ERROR_RATE", "5%"),
        ("TRADE_PLATFORM_MAX_PARTITIONS_PER_RUN", "0"),
        ("TRADE_PLATFORM_MAX_PARTITIONS_PER_RUN", "two"),
        ("TRADE_PLATFORM_RETENTION", "raw=90"),
        ("TRADE_PLATFORM_TABLE_FORMAT", "delta"),
        ("TRADE_PLATFORM_ICEBERG_CATALOG", "my.catalog"),
        ("TRADE_PLATFORM_ICEBERG_NAMESPACE", "Trade-Platform"),
        ("TRADE_PLATFORM_SNAPSHOT_RETENTION", "30m"),
        ("TRADE_PLATFORM_SNAPSHOT_RETENTION", "a week"),
        ("TRADE_PLATFORM_RETENTION", "raw_trades=0"),
        ("TRADE_PLATFORM_RETENTION", "raw_trades=ninety"),
        ("TRADE_PLATFORM_RETENTION", "raw_trades"),
        ("TRADE_PLATFORM_RETENTION", "raw_trades=90,raw_trades=30"),
        ("TRADE_PLATFORM_ALERT_WEBHOOK_URL", "hooks.example.com/token"),
        ("TRADE_PLATFORM_ALERT_SMTP_URL", "mail.example.com:25"),
        ("TRADE_PLATFORM_ALERT_EMAIL_TO", "ops"),
        ("TRADE_PLATFORM_UI_URL", "dagster.example.com"),
        ("TRADE_PLATFORM_UI_URL", "127.0.0.1:3000"),
        ("TRADE_PLATFORM_UI_URL", "ftp://ui.example.com"),
        ("TRADE_PLATFORM_UI_URL", "http://ui.example.com:99999"),
    ],
)
def test_a_bad_value_is_a_clear_error_naming_its_variable(name: str, bad: str):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: bad})


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("TRADE_PLATFORM_LAKE_URL", "s3://AKIAFAKE:s3cr3t@bucket/x"),
        ("TRADE_PLATFORM_LANDING_URL", "gs://user:s3cr3t@bucket/x"),
        ("KAFKA_BOOTSTRAP_SERVERS", "sasl_ssl://user:s3cr3t@host:9092"),
        ("TRADE_PLATFORM_UI_URL", "ftp://user:s3cr3t@ui.example.com"),
    ],
)
def test_a_bad_url_is_named_without_its_credentials(name: str, bad: str):
    with pytest.raises(ValueError, match=name) as raised:
        Settings.from_env({name: bad})
    assert "s3cr3t" not in str(raised.value) and "***@" in str(raised.value)


def test_the_error_rate_may_not_be_below_the_warning_rate():
    with pytest.raises(ValueError, match="TRADE_PLATFORM_DLQ_ERROR_RATE .* must be at least"):
        Settings.from_env({"TRADE_PLATFORM_DLQ_WARN_RATE": "0.3", "TRADE_PLATFORM_DLQ_ERROR_RATE": "0.1"})


def test_retention_windows_are_days_per_layer_and_a_layer_not_named_is_kept_forever():
    every = "landing=30,raw_trades=90,trades_dlq=365,validated_trades=730,ohlcv=1825,daily_volume=1825,lineage=2555"
    assert Settings.from_env({"TRADE_PLATFORM_RETENTION": every}).retention == {
        "landing": 30,
        "raw_trades": 90,
        "trades_dlq": 365,
        "validated_trades": 730,
        "ohlcv": 1825,
        "daily_volume": 1825,
        "lineage": 2555,
    }
    spaced = Settings.from_env({"TRADE_PLATFORM_RETENTION": " raw_trades = 3 , "})
    assert spaced.retention == {"raw_trades": 3}
    assert Settings().retention == {}
    unknown = "TRADE_PLATFORM_RETENTION: unknown layer 'raw'; the layers are landing, raw_trades, "
    with pytest.raises(ValueError, match=unknown):
        Settings.from_env({"TRADE_PLATFORM_RETENTION": "raw=90"})
    with pytest.raises(
        ValueError, match="TRADE_PLATFORM_RETENTION: raw_trades: must be a whole number from 1 to 36500"
    ):
        Settings.from_env({"TRADE_PLATFORM_RETENTION": "raw_trades=0"})


@pytest.mark.parametrize("setting", ["GROUP_ID", "ENABLE_AUTO_COMMIT", "AUTO_OFFSET_RESET"])
def test_kafka_settings_the_consumer_owns_cannot_be_set(setting: str):
    """Offsets are committed only once durable, and an offset out of range resets to the earliest
    kept with the gap recorded as lost: a 'latest' would skip messages in silence."""
    with pytest.raises(ValueError, match=f"TRADE_PLATFORM_KAFKA_{setting}: .* is set by trade-platform"):
        Settings.from_env({f"TRADE_PLATFORM_KAFKA_{setting}": "latest"})


def test_kafka_batches_are_bounded_by_count_bytes_and_rotation_and_the_old_batch_seconds_is_refused():
    kafka = Settings.from_env(
        {
            "TRADE_PLATFORM_KAFKA_BATCH_MESSAGES": "5000",
            "TRADE_PLATFORM_KAFKA_BATCH_BYTES": "1048576",
            "TRADE_PLATFORM_KAFKA_ROTATE_SECONDS": "0.5",
            "TRADE_PLATFORM_KAFKA_BUFFER_BYTES": "4194304",
        }
    ).kafka
    assert (kafka.batch_messages, kafka.batch_bytes, kafka.rotate_seconds, kafka.buffer_bytes) == (
        5000,
        2**20,
        0.5,
        2**22,
    )
    default = Settings().kafka  # a quiet partition: at most 288 files a day; a busy one: 64 MiB files
    assert (default.batch_messages, default.batch_bytes, default.rotate_seconds) == (10**6, 64 * 2**20, 300.0)
    assert default.buffer_bytes == 256 * 2**20
    with pytest.raises(
        ValueError, match="TRADE_PLATFORM_KAFKA_BATCH_SECONDS is retired: use TRADE_PLATFORM_KAFKA_ROTATE"
    ):
        Settings.from_env({"TRADE_PLATFORM_KAFKA_BATCH_SECONDS": "5"})
    with pytest.raises(
        ValueError, match="TRADE_PLATFORM_KAFKA_ROTATE_SECONDS: must be a decimal number above 0"
    ):
        Settings.from_env({"TRADE_PLATFORM_KAFKA_ROTATE_SECONDS": "0"})


def test_a_lake_that_is_the_landing_zone_or_inside_its_read_folders_fails_at_load(tmp_path):
    landing = str(tmp_path / "landing")
    for lake in (
        landing,
        landing + "/",
        f"file://{landing}",
        landing + "/trades/date=2024-03-01",
        landing + "/corrections",
    ):
        with pytest.raises(ValueError, match="TRADE_PLATFORM_LAKE_URL"):
            Settings.from_env({"TRADE_PLATFORM_LANDING_URL": landing, "TRADE_PLATFORM_LAKE_URL": lake})
    for lake in (landing + "-lake", str(tmp_path), landing + "/lake"):
        assert (
            Settings.from_env(
                {"TRADE_PLATFORM_LANDING_URL": landing, "TRADE_PLATFORM_LAKE_URL": lake}
            ).lake_url
            == lake
        )
    with pytest.raises(ValueError, match="TRADE_PLATFORM_LAKE_URL"):
        Settings.from_env(
            {
                "TRADE_PLATFORM_LANDING_URL": "s3://bucket/landing",
                "TRADE_PLATFORM_LAKE_URL": "s3://bucket/landing/trades/x",
            }
        )


def test_the_ui_url_defaults_to_make_ui_and_loses_its_trailing_slash():
    assert Settings().ui_url == "http://127.0.0.1:3000"
    assert Settings.from_env({"TRADE_PLATFORM_UI_URL": "https://dagster.example.com/ui/"}).ui_url == (
        "https://dagster.example.com/ui"
    )
