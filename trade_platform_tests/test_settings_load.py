"""Every setting fails at load or never: any text in any variable either raises at
``Settings.from_env``, naming the variable, or loads into settings whose definitions build and
whose run-time uses (candle intervals, retention cut-offs, partitions, back-off, storage URLs,
Celery and Kafka clients, PII tokens) do not raise."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import UTC, date, datetime

import polars as pl
import pytest
from dagster import RetryRequested
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from upath import UPath

from trade_platform import kafka_settings
from trade_platform import settings as settings_module
from trade_platform.core import marts
from trade_platform.core.alerts.messages import CHECK_FAILED, Alert
from trade_platform.core.alerts.targets import credentials, where
from trade_platform.core.kafka.client import consumer
from trade_platform.core.names import RETENTION_LAYERS
from trade_platform.core.quality.marts import candle_reports
from trade_platform.core.retention import corrections_window, oldest_kept_day, replay_refusal
from trade_platform.core.storage import TransientStorageError, polars_storage_options
from trade_platform.definitions import build_defs
from trade_platform.defs.freshness.checks import expected_partition
from trade_platform.lib.partitions import daily_partitions
from trade_platform.lib.policies import backfill_policy, retry_storage_faults
from trade_platform.lib.resources import platform_resources
from trade_platform.lib.scaleout.config import celery_app_args
from trade_platform.settings import VARIABLES, Settings

CLIENT_SETTINGS = ("TRADE_PLATFORM_KAFKA_SECURITY_PROTOCOL", "TRADE_PLATFORM_KAFKA_SESSION_TIMEOUT_MS")
SECRETS = {
    settings_module.PII_KEY_ENV,
    settings_module.CELERY_BROKER_URL_ENV,
    settings_module.CELERY_BACKEND_URL_ENV,
    settings_module.ALERT_WEBHOOK_URL_ENV,
    settings_module.ALERT_SMTP_URL_ENV,
}
NEAR_MISSES = [
    "0", "1", "-1", "7", "60", "1.5", ".5", "1e3", "nan", "inf", "١٢", "１２", "1_000", "+5", "0x10",
    "99999999999999999999", "1000000", "36500", "36501", " 3 ", "1m", "1m,1m", "60s,1m", "1w", "0m",
    "7m", "bogus", "1h30m", "1d", "90m", "1mo", "1M", "2h,1m", "86400s", "2024-01-01", "2024-02-30",
    "1969-12-31", "2100-01-01", "9999-12-31", "20240101", "2024-W01-1", "00:15", "02:00:30", "24:00",
    "23:59:60", "02:00+01:00", "raw_trades=90", "raw_trades=1000000", "landing=30,lineage=36500",
    "raw_trades=0", "s3://bucket/lake", "s3://Bad_Bucket/x", "s3://", "file:///tmp/x", "gs://b/x",
    "./data/lake", "s3:bucket", "redis://127.0.0.1:6379/0", "redis://h:99999/0", "foo://x", "rpc://",
    "amqp://u:p@h//", "host:9092", "h1:9092,h2:9093", "host:0", "[::1]:9092", "PLAINTEXT://h:9092",
    "http://h/x", "https://h:0/", "smtp://u:p@h:25", "smtps://h", "ops@example.com", "ftp://h", "http://[::1]:3000",
    ".", "..", "trades", "SASL_SSL", "plaintext", "6000", "a" * 31, "k" * 32, "x" * 300, "\t", "a\nb",
]  # fmt: skip
DATES = st.dates(date(1900, 1, 1), date(2200, 1, 1)).map(date.isoformat)
INTERVALS = st.lists(
    st.sampled_from(["1m", "5m", "60s", "1h", "7m", "0s", "1d", "1h30m", "45s", "2h"]), max_size=4
)
WINDOWS = st.lists(st.tuples(st.sampled_from(RETENTION_LAYERS), st.integers(-2, 10**7)), max_size=3)
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(NEAR_MISSES),
    st.integers(-(10**25), 10**25).map(str),
    st.floats().map(str),
    DATES,
    st.lists(DATES, max_size=3).map(",".join),
    st.times().map(lambda t: t.isoformat()),
    INTERVALS.map(",".join),
    WINDOWS.map(lambda pairs: ",".join(f"{layer}={days}" for layer, days in pairs)),
)
TRADES = pl.DataFrame(
    {
        "date": [date(2026, 11, 20)] * 2,
        "symbol": ["ABC"] * 2,
        "timestamp": [
            datetime(2026, 11, 20, 10, 0, 1, tzinfo=UTC),
            datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC),
        ],
        "trade_id": ["T1", "T2"],
        "price": [10.0, 11.0],
        "quantity": [1.0, 2.0],
    }
)


def use(loaded: Settings) -> None:
    """Build the definitions and run what the runs and tools do with each value."""
    build_defs(loaded).get_repository_def()
    resources = platform_resources(loaded)
    intervals = resources["mart_settings"].ohlcv_intervals
    candles = marts.ohlcv(TRADES, intervals)
    assert candle_reports(candles.lazy(), TRADES.lazy(), intervals, ["2026-11-20"])["2026-11-20"].passed
    today = datetime.now(UTC).date()
    for window in [*loaded.retention.values(), corrections_window(loaded.retention) or 1]:
        oldest_kept_day(window, today)
    replay_refusal(loaded.retention, "1970-01-01", today)
    partitions = daily_partitions(loaded.start_date)
    assert partitions.get_last_partition_key() >= loaded.start_date.isoformat()
    expected_partition(datetime.now(UTC), loaded.freshness_deadline)
    backfill_policy(loaded.max_partitions_per_run)
    with (
        pytest.raises(RetryRequested) as retry,
        retry_storage_faults(loaded.max_retries, loaded.retry_delay_seconds, loaded.max_retries),
    ):
        raise TransientStorageError("the longest back-off")
    assert retry.value.seconds_to_wait < threading.TIMEOUT_MAX
    for url in (loaded.landing_url, loaded.lake_url):
        polars_storage_options(UPath(url))
    if loaded.celery_broker_url or loaded.celery_backend_url:
        celery_app_args(
            Settings(
                celery_broker_url=loaded.celery_broker_url or "redis://127.0.0.1:6379/0",
                celery_backend_url=loaded.celery_backend_url or "redis://127.0.0.1:6379/1",
            )
        )
    kafka = loaded.kafka
    consumer(kafka if kafka.bootstrap_servers else replace(kafka, bootstrap_servers="127.0.0.1:9")).close()
    if loaded.pii_key:
        loaded.pii_key.tokens(pl.Series(["account-1"]))
    alerts = loaded.alerts
    alert = Alert(
        CHECK_FAILED, "ohlcv check ohlcv_invariants (ERROR)", "2026-11-20", f"{alerts.ui_url}/runs/1"
    )
    alert.webhook_json()
    alert.email("trade-platform@localhost", alerts.email_to)
    for url in filter(None, (alerts.webhook_url, alerts.smtp_url)):
        assert where(url).partition("://")[2] and credentials(url) != ("", "")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(VARIABLES + CLIENT_SETTINGS), text=TEXT)
def test_any_value_of_any_variable_fails_at_load_naming_it_or_works_at_run_time(name: str, text: str):
    try:
        loaded = Settings.from_env({name: text})
    except ValueError as exc:
        message = str(exc)
        assert name in message and "\n" not in message.strip(), message
        if name in SECRETS and len(text.strip()) >= 8:
            assert text.strip() not in message, message
        return
    use(loaded)


def test_the_variable_list_is_complete():
    """``VARIABLES`` names every ``*_ENV`` constant, and ``from_env`` reads nothing else."""
    constants = {
        value
        for module in (settings_module, kafka_settings)
        for key, value in vars(module).items()
        if key.endswith("_ENV")
    }
    assert constants == set(VARIABLES)

    class Recording(dict):
        def __init__(self, *args):
            super().__init__(*args)
            self.read: set[str] = set()

        def get(self, key, default=None):
            self.read.add(key)
            return super().get(key, default)

    environ = Recording({name: "" for name in CLIENT_SETTINGS})
    Settings.from_env(environ)
    assert environ.read == set(VARIABLES) | set(CLIENT_SETTINGS)


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("TRADE_PLATFORM_OHLCV_INTERVALS", "1w"),
        ("TRADE_PLATFORM_OHLCV_INTERVALS", "1m,1m"),
        ("TRADE_PLATFORM_OHLCV_INTERVALS", "60s,1m"),
        ("TRADE_PLATFORM_OHLCV_INTERVALS", "bogus"),
        ("TRADE_PLATFORM_OHLCV_INTERVALS", "0m"),
        ("TRADE_PLATFORM_OHLCV_INTERVALS", "7m"),
        ("TRADE_PLATFORM_RETENTION", "raw_trades=1000000"),
        ("TRADE_PLATFORM_MAX_RETRIES", "١٢"),
        ("TRADE_PLATFORM_RETRY_DELAY_SECONDS", "nan"),
        ("TRADE_PLATFORM_START_DATE", "2999-01-01"),
        ("TRADE_PLATFORM_SCHEDULE_TIME", "00:15:30"),
        ("TRADE_PLATFORM_SPILL_BUDGET_MB", "0"),
        ("TRADE_PLATFORM_LAKE_URL", "s3://Bad_Bucket/lake"),
        ("TRADE_PLATFORM_CELERY_BROKER_URL", "foo://user:hunter2@host"),
        ("KAFKA_BOOTSTRAP_SERVERS", "host:99999"),
        ("TRADE_PLATFORM_KAFKA_TOPIC", "a topic"),
        ("TRADE_PLATFORM_KAFKA_SECURITY_PROTOCOL", "bogus"),
    ],
)
def test_values_that_used_to_fail_only_at_run_time_fail_at_load(name: str, bad: str):
    with pytest.raises(ValueError, match=f"^{re.escape(name)}: ") as error:
        Settings.from_env({name: bad})
    assert "hunter2" not in str(error.value)
