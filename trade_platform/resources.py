"""Dagster resources: where landing files come from and how marts are shaped.

Values come from the environment through ``EnvVar`` when set (so the UI shows their source), and
fall back to the embedded defaults otherwise.
"""

from __future__ import annotations

import polars as pl
from dagster import ConfigurableResource, EnvVar, Failure

from trade_platform import config
from trade_platform.io_managers import ParquetLakeIOManager
from trade_platform.landing import (
    CORRECTIONS,
    LandingFile,
    day_prefix,
    list_landing_files,
    read_landing_files,
)
from trade_platform.storage_errors import storage_errors
from trade_platform.transforms.corrections import KEYS as CORRECTION_KEYS


def env_or_default(name: str, default: str) -> str:
    """``EnvVar(name)`` when the variable is set, else the default (EnvVar alone fails when unset)."""
    return EnvVar(name) if config.env_str(name, "") else default  # type: ignore[return-value]


class LandingZone(ConfigurableResource):
    """The landing zone: a local folder or an ``s3://bucket/prefix`` URL."""

    url: str

    def files_for_day(self, day: str) -> list[LandingFile]:
        with storage_errors("list", day_prefix(self.url, day)):
            return list_landing_files(self.url, day)

    def read_corrections(self, day: str) -> pl.DataFrame:
        """The day's corrections files as text records (empty when there are none)."""
        prefix = day_prefix(self.url, day, CORRECTIONS)
        with storage_errors("read", prefix):
            read = read_landing_files(list_landing_files(self.url, day, CORRECTIONS))
        problems = [f"{r['_source_file']}: {r['error']}" for r in read.unreadable.iter_rows(named=True)]
        if read.records.height and not set(CORRECTION_KEYS) <= set(read.records.columns):
            problems.append(f"corrections need the columns {', '.join(CORRECTION_KEYS)}")
        if problems:
            raise Failure(description=f"Cannot use corrections under {prefix}: {'; '.join(problems)}", allow_retries=False)
        return read.records


class MartSettings(ConfigurableResource):
    """How marts are computed; ``ohlcv_intervals`` is a comma-separated list of polars durations."""

    ohlcv_intervals: str = ",".join(config.DEFAULT_OHLCV_INTERVALS)

    def intervals(self) -> tuple[str, ...]:
        return config.parse_intervals(self.ohlcv_intervals)


def resources_from_env() -> dict:
    """The code location's resources, configured from the environment (defaults: ./data/...)."""
    return local_resources(
        env_or_default(config.LANDING_URL_ENV, config.DEFAULT_LANDING_URL),
        env_or_default(config.LAKE_URL_ENV, config.DEFAULT_LAKE_URL),
        env_or_default(config.OHLCV_INTERVALS_ENV, ",".join(config.DEFAULT_OHLCV_INTERVALS)),
    )


def local_resources(landing_url: str, lake_url: str, ohlcv_intervals: str | None = None) -> dict:
    """The same resources with explicit URLs (tests, benchmarks, one-off runs)."""
    return {
        "landing": LandingZone(url=landing_url),
        "io_manager": ParquetLakeIOManager(lake_url=lake_url),
        "mart_settings": MartSettings(
            ohlcv_intervals=ohlcv_intervals or ",".join(config.DEFAULT_OHLCV_INTERVALS)
        ),
    }
