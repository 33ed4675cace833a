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
DEFAULT_DLQ_WARN_RATE = 0.05
DEFAULT_DLQ_ERROR_RATE = 0.20


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
        for name, rate in (("dlq_warn_rate", self.dlq_warn_rate), ("dlq_error_rate", self.dlq_error_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1, got {rate}")
        if self.dlq_error_rate < self.dlq_warn_rate:
            raise ValueError(
                f"{DLQ_ERROR_RATE_ENV} ({self.dlq_error_rate}) must be at least "
                f"{DLQ_WARN_RATE_ENV} ({self.dlq_warn_rate})"
            )


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
    max_partitions_per_run: int | None = None
    """Days per run of a backfill; None: a backfill of any range is one run."""
    celery_broker_url: str | None = None
    """Where runs are queued for the Celery workers (``deploy/dagster.yaml``, ``trade-platform worker``)."""
    celery_backend_url: str | None = None
    """Where the workers record each run's task state (persistent, so run monitoring can read it)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``environ`` (default: this process's environment); a value that
        cannot be parsed fails here, naming the variable, when the code location loads."""
        env = _Env(os.environ if environ is None else environ)
        warn = env.parse(DLQ_WARN_RATE_ENV, DEFAULT_DLQ_WARN_RATE, _rate)
        error = env.parse(DLQ_ERROR_RATE_ENV, DEFAULT_DLQ_ERROR_RATE, _rate)
        if error < warn:
            raise ValueError(f"{DLQ_ERROR_RATE_ENV} ({error}) must be at least {DLQ_WARN_RATE_ENV} ({warn})")
        return cls(
            landing_url=env.text(LANDING_URL_ENV, DEFAULT_LANDING_URL),
            lake_url=env.text(LAKE_URL_ENV, DEFAULT_LAKE_URL),
            start_date=env.parse(START_DATE_ENV, DEFAULT_START_DATE, _day),
            ohlcv_intervals=env.parse(OHLCV_INTERVALS_ENV, DEFAULT_OHLCV_INTERVALS, parse_intervals),
            max_retries=env.parse(MAX_RETRIES_ENV, DEFAULT_MAX_RETRIES, _count),
            retry_delay_seconds=env.parse(RETRY_DELAY_ENV, DEFAULT_RETRY_DELAY_SECONDS, _seconds),
            spill_budget_mb=env.parse(SPILL_BUDGET_ENV, DEFAULT_SPILL_BUDGET_MB, _count),
            freshness_deadline=env.parse(FRESHNESS_DEADLINE_ENV, DEFAULT_FRESHNESS_DEADLINE, _time_of_day),
            schedule_time=env.parse(SCHEDULE_TIME_ENV, DEFAULT_SCHEDULE_TIME, _time_of_day),
            max_partitions_per_run=env.parse(MAX_PARTITIONS_PER_RUN_ENV, None, _positive),
            celery_broker_url=env.text(CELERY_BROKER_URL_ENV, "") or None,
            celery_backend_url=env.text(CELERY_BACKEND_URL_ENV, "") or None,
            gates=QualityGates(
                holidays=env.parse(HOLIDAYS_ENV, frozenset(), _days),
                dlq_warn_rate=warn,
                dlq_error_rate=error,
            ),
        )


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
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None


def parse_intervals(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of polars durations such as ``1m,5m,1h``."""
    intervals = tuple(part.strip() for part in text.split(",") if part.strip())
    if not intervals:
        raise ValueError(f"name at least one interval like 1m,5m,1h, got {text!r}")
    return intervals


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be a date like 2024-01-01, got {text!r}") from None


def _days(text: str) -> frozenset[str]:
    try:
        return frozenset(date.fromisoformat(p.strip()).isoformat() for p in text.split(",") if p.strip())
    except ValueError as exc:
        raise ValueError(f"must list days like 2024-12-25,2024-12-26: {exc}") from None


def _time_of_day(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be a UTC time of day like 02:00, got {text!r}") from None


def _number(kind: type, text: str):
    try:
        value = kind(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"must be a {kind.__name__} >= 0, got {text!r}")
    return value


def _count(text: str) -> int:
    return _number(int, text)


def _positive(text: str) -> int:
    value = _number(int, text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    return _number(float, text)


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"must be a fraction between 0 and 1, got {text!r}")
    return rate
