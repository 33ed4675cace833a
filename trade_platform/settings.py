"""Every ``TRADE_PLATFORM_*`` setting, parsed in one place; no Dagster imports here.

``Settings.from_env()`` reads the environment once (the code location calls it when it loads,
the CLI when it starts); everything else receives the ``Settings`` object. Every knob has a
default that runs the embedded set-up (local disk under ``./data``), so a fresh clone works with
no configuration and swapping to S3 is only a URL change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time

from trade_platform import setting_values as values
from trade_platform.core.alerts.targets import AlertTargets
from trade_platform.core.iceberg import IcebergTableSettings
from trade_platform.core.pseudonymise import DEVELOPMENT_KEY, PiiKey
from trade_platform.core.storage import without_credentials
from trade_platform.kafka_settings import KAFKA_VARIABLES, KafkaSettings

LANDING_URL_ENV = "TRADE_PLATFORM_LANDING_URL"
LAKE_URL_ENV = "TRADE_PLATFORM_LAKE_URL"
START_DATE_ENV = "TRADE_PLATFORM_START_DATE"
OHLCV_INTERVALS_ENV = "TRADE_PLATFORM_OHLCV_INTERVALS"
MAX_RETRIES_ENV = "TRADE_PLATFORM_MAX_RETRIES"
RETRY_DELAY_ENV = "TRADE_PLATFORM_RETRY_DELAY_SECONDS"
SPILL_BUDGET_ENV = "TRADE_PLATFORM_SPILL_BUDGET_MB"
FRESHNESS_DEADLINE_ENV = "TRADE_PLATFORM_FRESHNESS_DEADLINE"
SCHEDULE_TIME_ENV = "TRADE_PLATFORM_SCHEDULE_TIME"
MAX_PARTITIONS_PER_RUN_ENV = "TRADE_PLATFORM_MAX_PARTITIONS_PER_RUN"
CELERY_BROKER_URL_ENV = "TRADE_PLATFORM_CELERY_BROKER_URL"
CELERY_BACKEND_URL_ENV = "TRADE_PLATFORM_CELERY_BACKEND_URL"
HOLIDAYS_ENV = "TRADE_PLATFORM_HOLIDAYS"
DLQ_WARN_RATE_ENV = "TRADE_PLATFORM_DLQ_WARN_RATE"
DLQ_ERROR_RATE_ENV = "TRADE_PLATFORM_DLQ_ERROR_RATE"
RETENTION_ENV = "TRADE_PLATFORM_RETENTION"
GLUE_DATABASE_ENV = "TRADE_PLATFORM_GLUE_DATABASE"
TABLE_FORMAT_ENV = "TRADE_PLATFORM_TABLE_FORMAT"
ICEBERG_CATALOG_ENV = "TRADE_PLATFORM_ICEBERG_CATALOG"
ICEBERG_NAMESPACE_ENV = "TRADE_PLATFORM_ICEBERG_NAMESPACE"
SNAPSHOT_RETENTION_ENV = "TRADE_PLATFORM_SNAPSHOT_RETENTION"
PII_KEY_ENV = "TRADE_PLATFORM_PII_KEY"
PII_KEY_FILE_ENV = "TRADE_PLATFORM_PII_KEY_FILE"
PII_DEVELOPMENT_KEY_ENV = "TRADE_PLATFORM_PII_DEVELOPMENT_KEY"
"""true: with neither key variable set, the public ``DEVELOPMENT_KEY`` (the repository's ``.env``)."""
OPEN_DAY_INTERVAL_ENV = "TRADE_PLATFORM_OPEN_DAY_INTERVAL"
DBT_MODELS_ENV = "TRADE_PLATFORM_DBT_MODELS"
ALERT_WEBHOOK_URL_ENV = "TRADE_PLATFORM_ALERT_WEBHOOK_URL"
ALERT_SMTP_URL_ENV = "TRADE_PLATFORM_ALERT_SMTP_URL"
ALERT_EMAIL_TO_ENV = "TRADE_PLATFORM_ALERT_EMAIL_TO"
UI_URL_ENV = "TRADE_PLATFORM_UI_URL"
ALERT_VARIABLES = (ALERT_WEBHOOK_URL_ENV, ALERT_SMTP_URL_ENV, ALERT_EMAIL_TO_ENV, UI_URL_ENV)
VARIABLES = (
    LANDING_URL_ENV, LAKE_URL_ENV, START_DATE_ENV, OHLCV_INTERVALS_ENV, MAX_RETRIES_ENV,
    RETRY_DELAY_ENV, SPILL_BUDGET_ENV, FRESHNESS_DEADLINE_ENV, SCHEDULE_TIME_ENV,
    MAX_PARTITIONS_PER_RUN_ENV, CELERY_BROKER_URL_ENV, CELERY_BACKEND_URL_ENV, HOLIDAYS_ENV,
    DLQ_WARN_RATE_ENV, DLQ_ERROR_RATE_ENV, RETENTION_ENV, GLUE_DATABASE_ENV, PII_KEY_ENV,
    PII_KEY_FILE_ENV, PII_DEVELOPMENT_KEY_ENV, OPEN_DAY_INTERVAL_ENV, *KAFKA_VARIABLES,
    *ALERT_VARIABLES, TABLE_FORMAT_ENV, ICEBERG_CATALOG_ENV,
    ICEBERG_NAMESPACE_ENV, SNAPSHOT_RETENTION_ENV, DBT_MODELS_ENV,
)  # fmt: skip
"""Every variable ``Settings.from_env`` reads by name; any other ``TRADE_PLATFORM_KAFKA_<SETTING>``
is a librdkafka setting (``KafkaSettings.client_config``, ``kafka_settings``)."""

DEFAULT_LANDING_URL = "./data/landing"
DEFAULT_LAKE_URL = "./data/lake"
DEFAULT_START_DATE = date(2024, 1, 1)
DEFAULT_OHLCV_INTERVALS = ("1m", "5m", "1h")
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_DELAY_SECONDS = 2.0
# A 1M-trade day's raw, validated and DLQ rows take about 350 MiB: such days stay in memory,
# while a 10M-trade day still peaks under 2 GiB (BENCHMARKS.md).
DEFAULT_SPILL_BUDGET_MB = 512
DEFAULT_FRESHNESS_DEADLINE = time(2, 0)
DEFAULT_SCHEDULE_TIME = time(0, 15)
# Each run of the open day re-reads it whole: one run at most every 10 minutes keeps the lake
# that fresh at no more than 144 re-reads a day (docs/kafka.md).
DEFAULT_OPEN_DAY_INTERVAL_SECONDS = 600
DEFAULT_DLQ_WARN_RATE = 0.05
DEFAULT_DLQ_ERROR_RATE = 0.20
TABLE_FORMATS = ("parquet", "iceberg")
DEFAULT_SNAPSHOT_RETENTION_SECONDS = 7 * values.SECONDS_PER_DAY
RATE = values.decimal(0, 1)
SNAPSHOT_RETENTION = values.duration_seconds(3_600, values.MAX_RETENTION_DAYS * values.SECONDS_PER_DAY)


@dataclass(frozen=True)
class QualityGates:
    """Thresholds of the quality gates."""

    holidays: frozenset[str] = frozenset()
    """UTC days (YYYY-MM-DD) on which an empty partition is expected."""
    dlq_warn_rate: float = DEFAULT_DLQ_WARN_RATE
    """DLQ records / raw records above which ``dlq_rate`` warns."""
    dlq_error_rate: float = DEFAULT_DLQ_ERROR_RATE
    """DLQ records / raw records above which ``dlq_rate`` is an error."""

    def __post_init__(self) -> None:
        check_dlq_rates(self.dlq_warn_rate, self.dlq_error_rate)


def check_dlq_rates(warn: float, error: float) -> None:
    """Both rates are fractions, and the error rate is at least the warning rate."""
    for name, rate in (("dlq_warn_rate", warn), ("dlq_error_rate", error)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be a fraction between 0 and 1, got {rate}")
    if error < warn:
        raise ValueError(f"{DLQ_ERROR_RATE_ENV} ({error}) must be at least {DLQ_WARN_RATE_ENV} ({warn})")


@dataclass(frozen=True)
class Settings:
    landing_url: str = DEFAULT_LANDING_URL
    lake_url: str = DEFAULT_LAKE_URL
    start_date: date = DEFAULT_START_DATE
    """The first daily partition."""
    ohlcv_intervals: tuple[str, ...] = DEFAULT_OHLCV_INTERVALS
    max_retries: int = DEFAULT_MAX_RETRIES
    """Retries of a step after a transient storage fault."""
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY_SECONDS
    """The first retry's delay; later ones back off exponentially."""
    spill_budget_mb: int = DEFAULT_SPILL_BUDGET_MB
    """MiB of step outputs held in memory before they spill to scratch Parquet (``spill.Spill``)."""
    freshness_deadline: time = DEFAULT_FRESHNESS_DEADLINE
    """When yesterday's partition must exist (UTC)."""
    schedule_time: time = DEFAULT_SCHEDULE_TIME
    """When ``daily_schedule`` runs the previous day (UTC)."""
    gates: QualityGates = field(default_factory=QualityGates)
    open_day_interval_seconds: int = DEFAULT_OPEN_DAY_INTERVAL_SECONDS
    """The landing sensor requests today's partition at most this often (closed days at once)."""
    max_partitions_per_run: int | None = None
    """Days per run of a backfill; None: a backfill of any range is one run."""
    celery_broker_url: str | None = None
    """Where runs are queued for the Celery workers (``deploy/dagster.yaml``, ``trade-platform worker``)."""
    celery_backend_url: str | None = None
    """Where the workers record each run's task state (persistent, so run monitoring can read it)."""
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    retention: Mapping[str, int] = field(default_factory=dict, hash=False)
    """Days each layer (``names.RETENTION_LAYERS``) is kept, today included; a layer not named is
    kept forever (``core.retention``)."""
    glue_database: str | None = None
    """The AWS Glue database that registers every asset and partition (``core.glue.catalog``); None: no Glue."""
    pii_key: PiiKey | None = field(default=None, repr=False)  # never shown (core.pseudonymise)
    dbt_models: tuple[str, ...] | None = None
    """The models of the dbt project (docs/dbt.md) that are assets; None: every one, (): none."""
    table_format: str = TABLE_FORMATS[0]
    """``parquet`` (hive folders of Parquet files) or ``iceberg`` (Iceberg tables, docs/iceberg.md)."""
    iceberg: IcebergTableSettings = field(default_factory=IcebergTableSettings)
    snapshot_retention_seconds: int = DEFAULT_SNAPSHOT_RETENTION_SECONDS
    """How long an Iceberg snapshot stays readable (``--as-of``) before maintenance expires it."""
    alerts: AlertTargets = field(default_factory=AlertTargets)
    """Where failures are reported (``defs/alerts``); none by default."""

    @property
    def ui_url(self) -> str:
        """The Dagster UI's address, for links printed or sent elsewhere (no trailing slash)."""
        return self.alerts.ui_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``environ`` (default: this process's environment); a value that
        cannot be parsed fails here, naming the variable, when the code location loads."""
        env = _Env(os.environ if environ is None else environ)
        landing_url = env.parse(LANDING_URL_ENV, DEFAULT_LANDING_URL, values.location)
        lake_url = env.parse(LAKE_URL_ENV, DEFAULT_LAKE_URL, values.location)
        try:
            values.apart(landing_url, lake_url)
        except ValueError as exc:
            raise ValueError(f"{LAKE_URL_ENV}: {exc}") from None
        return cls(
            landing_url=landing_url,
            lake_url=lake_url,
            start_date=env.parse(START_DATE_ENV, DEFAULT_START_DATE, values.start_day),
            ohlcv_intervals=env.parse(OHLCV_INTERVALS_ENV, DEFAULT_OHLCV_INTERVALS, values.parse_intervals),
            max_retries=env.parse(MAX_RETRIES_ENV, DEFAULT_MAX_RETRIES, values.integer(0, 10)),
            retry_delay_seconds=env.parse(
                RETRY_DELAY_ENV, DEFAULT_RETRY_DELAY_SECONDS, values.decimal(0, 60)
            ),
            spill_budget_mb=env.parse(SPILL_BUDGET_ENV, DEFAULT_SPILL_BUDGET_MB, values.integer(1, 2**20)),
            freshness_deadline=env.parse(
                FRESHNESS_DEADLINE_ENV, DEFAULT_FRESHNESS_DEADLINE, values.time_of_day
            ),
            schedule_time=env.parse(SCHEDULE_TIME_ENV, DEFAULT_SCHEDULE_TIME, values.minute_of_day),
            open_day_interval_seconds=env.parse(
                OPEN_DAY_INTERVAL_ENV, DEFAULT_OPEN_DAY_INTERVAL_SECONDS, values.duration_seconds(0, 86_400)
            ),
            max_partitions_per_run=env.parse(
                MAX_PARTITIONS_PER_RUN_ENV, None, values.integer(1, values.MAX_RETENTION_DAYS)
            ),
            celery_broker_url=env.parse(CELERY_BROKER_URL_ENV, None, values.broker_url),
            celery_backend_url=env.parse(CELERY_BACKEND_URL_ENV, None, values.backend_url),
            kafka=KafkaSettings.from_env(env),
            retention=env.parse(RETENTION_ENV, {}, values.parse_retention),
            glue_database=env.parse(GLUE_DATABASE_ENV, None, values.glue_database),
            dbt_models=env.parse(DBT_MODELS_ENV, None, values.dbt_models),
            table_format=env.parse(TABLE_FORMAT_ENV, TABLE_FORMATS[0], values.one_of(TABLE_FORMATS)),
            iceberg=IcebergTableSettings(
                catalog=env.parse(ICEBERG_CATALOG_ENV, IcebergTableSettings.catalog, values.catalog_name),
                namespace=env.parse(
                    ICEBERG_NAMESPACE_ENV, IcebergTableSettings.namespace, values.glue_database
                ),
            ),
            snapshot_retention_seconds=env.parse(
                SNAPSHOT_RETENTION_ENV, DEFAULT_SNAPSHOT_RETENTION_SECONDS, SNAPSHOT_RETENTION
            ),
            pii_key=PiiKey.configured({name: env.text(name, "") for name in (PII_KEY_ENV, PII_KEY_FILE_ENV)})
            or (PiiKey(DEVELOPMENT_KEY) if env.parse(PII_DEVELOPMENT_KEY_ENV, False, values.flag) else None),
            alerts=AlertTargets.configured({name: env.text(name, "") for name in ALERT_VARIABLES}),
            gates=QualityGates(
                holidays=env.parse(HOLIDAYS_ENV, frozenset(), values.days),
                dlq_warn_rate=env.parse(DLQ_WARN_RATE_ENV, DEFAULT_DLQ_WARN_RATE, RATE),
                dlq_error_rate=env.parse(DLQ_ERROR_RATE_ENV, DEFAULT_DLQ_ERROR_RATE, RATE),
            ),
        )


def export(variables: Mapping[str, str | None]) -> None:
    """Set ``variables`` in this process's environment (a name without a value is skipped): a
    ``.env`` file's, as Dagster's CLIs do, or what the code server the demo starts must read."""
    os.environ.update({name: value for name, value in variables.items() if value is not None})


class _Env:
    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def text(self, name: str, default: str) -> str:
        """The variable's value, or ``default`` when it is unset or blank."""
        return self.environ.get(name, "").strip() or default

    def parse(self, name: str, default, parse: Callable[[str], object]):
        """``parse`` of the value (``default`` when unset or blank); a ValueError names ``name``."""
        text = self.environ.get(name, "").strip()
        if not text:
            return default
        try:
            return parse(text)
        except ValueError as exc:  # a URL's user:password@ never reaches a message
            raise ValueError(f"{name}: {without_credentials(str(exc))}") from None
