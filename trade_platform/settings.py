"""Settings read from the environment (12-factor); no Dagster imports here.

Every knob has a default that runs the embedded set-up (local disk under ``./data``), so a
fresh clone works with no configuration and swapping to S3 is only a URL change.
"""

from __future__ import annotations

import os
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

DEFAULT_LANDING_URL = "./data/landing"
DEFAULT_LAKE_URL = "./data/lake"
DEFAULT_START_DATE = "2024-01-01"
DEFAULT_OHLCV_INTERVALS = ("1m", "5m", "1h")
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_DELAY_SECONDS = 2.0
# A 1M-trade day's raw, validated and DLQ rows take about 350 MiB: such days stay in memory,
# while a 10M-trade day still peaks under 2 GiB (BENCHMARKS.md).
DEFAULT_SPILL_BUDGET_MB = 512
DEFAULT_FRESHNESS_DEADLINE = "02:00"
DEFAULT_SCHEDULE_TIME = "00:15"


def env_str(name: str, default: str) -> str:
    """The variable's value, or ``default`` when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or default


def parse_intervals(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of polars durations such as ``1m,5m,1h``."""
    intervals = tuple(part.strip() for part in text.split(",") if part.strip())
    if not intervals:
        raise ValueError(f"{OHLCV_INTERVALS_ENV} must name at least one interval, got {text!r}")
    return intervals


@dataclass(frozen=True)
class Settings:
    landing_url: str = DEFAULT_LANDING_URL
    lake_url: str = DEFAULT_LAKE_URL
    start_date: date = field(default_factory=lambda: date.fromisoformat(DEFAULT_START_DATE))
    ohlcv_intervals: tuple[str, ...] = DEFAULT_OHLCV_INTERVALS
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY_SECONDS
    spill_budget_mb: int = DEFAULT_SPILL_BUDGET_MB
    """MiB of step outputs held in memory before they spill to scratch Parquet (``spill.Spill``)."""

    @classmethod
    def from_env(cls) -> Settings:
        start = env_str(START_DATE_ENV, DEFAULT_START_DATE)
        try:
            start_date = date.fromisoformat(start)
        except ValueError as exc:
            raise ValueError(f"{START_DATE_ENV} must be a date like 2024-01-01, got {start!r}") from exc
        return cls(
            landing_url=env_str(LANDING_URL_ENV, DEFAULT_LANDING_URL),
            lake_url=env_str(LAKE_URL_ENV, DEFAULT_LAKE_URL),
            start_date=start_date,
            ohlcv_intervals=parse_intervals(env_str(OHLCV_INTERVALS_ENV, ",".join(DEFAULT_OHLCV_INTERVALS))),
            max_retries=_parse_number(MAX_RETRIES_ENV, DEFAULT_MAX_RETRIES, int),
            retry_delay_seconds=_parse_number(RETRY_DELAY_ENV, DEFAULT_RETRY_DELAY_SECONDS, float),
            spill_budget_mb=spill_budget_mb(),
        )


def spill_budget_mb() -> int:
    """``TRADE_PLATFORM_SPILL_BUDGET_MB`` (MiB) alone, for code that needs no other setting."""
    return _parse_number(SPILL_BUDGET_ENV, DEFAULT_SPILL_BUDGET_MB, int)


def _parse_number(name: str, default, kind: type):
    text = env_str(name, str(default))
    try:
        value = kind(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{name} must be a {kind.__name__} >= 0, got {text!r}")
    return value


HOLIDAYS_ENV = "TRADE_PLATFORM_HOLIDAYS"
DLQ_WARN_RATE_ENV = "TRADE_PLATFORM_DLQ_WARN_RATE"
DLQ_ERROR_RATE_ENV = "TRADE_PLATFORM_DLQ_ERROR_RATE"
DEFAULT_DLQ_WARN_RATE = 0.05
DEFAULT_DLQ_ERROR_RATE = 0.20


@dataclass(frozen=True)
class QualityGates:
    """Thresholds of the quality gates, read from the environment when a check runs."""

    holidays: frozenset[str] = frozenset()
    """UTC days (YYYY-MM-DD) on which an empty partition is expected."""
    dlq_warn_rate: float = DEFAULT_DLQ_WARN_RATE
    """DLQ records / raw records above which ``dlq_rate`` warns."""
    dlq_error_rate: float = DEFAULT_DLQ_ERROR_RATE
    """DLQ records / raw records above which ``dlq_rate`` is an error."""

    @classmethod
    def from_env(cls) -> QualityGates:
        warn = _env_rate(DLQ_WARN_RATE_ENV, DEFAULT_DLQ_WARN_RATE)
        error = _env_rate(DLQ_ERROR_RATE_ENV, DEFAULT_DLQ_ERROR_RATE)
        if error < warn:
            raise ValueError(f"{DLQ_ERROR_RATE_ENV} ({error}) must be at least {DLQ_WARN_RATE_ENV} ({warn})")
        return cls(holidays=_env_days(HOLIDAYS_ENV), dlq_warn_rate=warn, dlq_error_rate=error)


def _env_days(name: str) -> frozenset[str]:
    days = [part.strip() for part in env_str(name, "").split(",") if part.strip()]
    try:
        return frozenset(date.fromisoformat(day).isoformat() for day in days)
    except ValueError as exc:
        raise ValueError(f"{name} must list days like 2024-12-25,2024-12-26: {exc}") from exc


def _env_rate(name: str, default: float) -> float:
    text = env_str(name, str(default))
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {text!r}")
    return rate


def parse_time_of_day(text: str, name: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"{name} must be a UTC time of day like 02:00, got {text!r}") from exc


def deadline_from_env() -> time:
    """``TRADE_PLATFORM_FRESHNESS_DEADLINE``: when yesterday's partition must exist (UTC)."""
    return parse_time_of_day(
        env_str(FRESHNESS_DEADLINE_ENV, DEFAULT_FRESHNESS_DEADLINE), FRESHNESS_DEADLINE_ENV
    )


def schedule_time_from_env() -> time:
    """``TRADE_PLATFORM_SCHEDULE_TIME``: when ``daily_schedule`` runs the previous day (UTC)."""
    return parse_time_of_day(env_str(SCHEDULE_TIME_ENV, DEFAULT_SCHEDULE_TIME), SCHEDULE_TIME_ENV)
