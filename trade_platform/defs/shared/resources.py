"""Dagster resources: where landing files come from and how marts are shaped.

Values come from the environment through ``EnvVar`` when set (so the UI shows their source), and
fall back to the embedded defaults otherwise.
"""

from __future__ import annotations

import polars as pl
from dagster import ConfigurableResource, EnvVar, Failure
from upath import UPath

from trade_platform import settings
from trade_platform.core.corrections import KEYS as CORRECTION_KEYS
from trade_platform.core.landing.files import (
    CORRECTIONS,
    LandingFile,
    day_prefix,
    list_landing_files,
    read_landing_files,
)
from trade_platform.core.storage import storage_errors
from trade_platform.defs.shared.io_manager import (
    ParquetLakeIOManager,
    ParquetLakeUPathIOManager,
    partition_file,
    polars_storage_options,
)


def env_or_default(name: str, default: str) -> str:
    """``EnvVar(name)`` when the variable is set, else the default (EnvVar alone fails when unset)."""
    return EnvVar(name) if settings.env_str(name, "") else default  # type: ignore[return-value]


class LandingZone(ConfigurableResource):
    """The landing zone: a local folder or an ``s3://bucket/prefix`` URL."""

    url: str

    def files_for_day(self, day: str) -> list[LandingFile]:
        with storage_errors("list", day_prefix(self.url, day)):
            return list_landing_files(self.url, day)

    def corrections_for_day(self, day: str) -> list[LandingFile]:
        with storage_errors("list", day_prefix(self.url, day, CORRECTIONS)):
            return list_landing_files(self.url, day, CORRECTIONS)

    def read_corrections(self, files: list[LandingFile]) -> pl.DataFrame:
        """Corrections files (``corrections_for_day``) as text records; a file that cannot be
        used fails the step rather than replaying without its corrections."""
        read = read_landing_files(files)
        problems = [f"{r['_source_file']}: {r['error']}" for r in read.unreadable.iter_rows(named=True)]
        if read.records.height and not set(CORRECTION_KEYS) <= set(read.records.columns):
            problems.append(f"corrections need the columns {', '.join(CORRECTION_KEYS)}")
        if problems:
            where = ", ".join(f.relative_path for f in files)
            raise Failure(
                description=f"Cannot use corrections {where}: {'; '.join(problems)}", allow_retries=False
            )
        return read.records


class Lake(ConfigurableResource):
    """The lake, for reading a stored partition outside the I/O manager (ingest replays the
    files gone from the landing zone from the stored ``raw_trades``)."""

    url: str

    def stored_partition(self, asset: str, day: str) -> pl.LazyFrame | None:
        """A lazy scan of the asset's stored partition (without ``date``), or None."""
        path = partition_file(UPath(self.url) / asset, day).with_suffix(ParquetLakeUPathIOManager.extension)
        with storage_errors("read", str(path)):
            if not path.exists():
                return None
        return pl.scan_parquet(str(path), storage_options=polars_storage_options(path))


class MartSettings(ConfigurableResource):
    """How marts are computed; ``ohlcv_intervals`` is a comma-separated list of polars durations."""

    ohlcv_intervals: str = ",".join(settings.DEFAULT_OHLCV_INTERVALS)

    def intervals(self) -> tuple[str, ...]:
        return settings.parse_intervals(self.ohlcv_intervals)


def resources_from_env() -> dict:
    """The code location's resources, configured from the environment (defaults: ./data/...)."""
    return local_resources(
        env_or_default(settings.LANDING_URL_ENV, settings.DEFAULT_LANDING_URL),
        env_or_default(settings.LAKE_URL_ENV, settings.DEFAULT_LAKE_URL),
        env_or_default(settings.OHLCV_INTERVALS_ENV, ",".join(settings.DEFAULT_OHLCV_INTERVALS)),
    )


def local_resources(landing_url: str, lake_url: str, ohlcv_intervals: str | None = None) -> dict:
    """The same resources with explicit URLs (tests, benchmarks, one-off runs)."""
    return {
        "landing": LandingZone(url=landing_url),
        "lake": Lake(url=lake_url),
        "io_manager": ParquetLakeIOManager(lake_url=lake_url),
        "mart_settings": MartSettings(
            ohlcv_intervals=ohlcv_intervals or ",".join(settings.DEFAULT_OHLCV_INTERVALS)
        ),
    }
