"""Dagster resources: the landing zone, the lake, and the settings steps and checks use at run time.

``platform_resources`` builds them from one ``Settings`` object, so the UI's resource page shows
the values a run uses, and a run's config can override them.
"""

from __future__ import annotations

from datetime import date

import polars as pl
from dagster import ConfigurableResource, Failure
from upath import UPath

from trade_platform.core.corrections import KEYS as CORRECTION_KEYS
from trade_platform.core.glue.catalog import GlueCatalog
from trade_platform.core.landing.files import CORRECTIONS, LandingFile, day_prefix, read_landing_files
from trade_platform.core.landing.listing import ListedFile, list_day, list_landing_files
from trade_platform.core.retention import replay_refusal
from trade_platform.core.storage import polars_storage_options, storage_errors
from trade_platform.lib.io_manager import (
    ParquetLakeIOManager,
    ParquetLakeUPathIOManager,
    partition_file,
)
from trade_platform.lib.policies import StepSettings
from trade_platform.setting_values import parse_intervals
from trade_platform.settings import QualityGates, Settings


class LandingZone(ConfigurableResource):
    """The landing zone: a local folder or an ``s3://bucket/prefix`` URL."""

    url: str

    def files_for_day(self, day: str) -> list[LandingFile]:
        with storage_errors("list", day_prefix(self.url, day)):
            return list_landing_files(self.url, day)

    def listing_for_day(self, day: str) -> list[ListedFile]:
        """Every file of the day's folder, hidden and unsupported ones too (``core.landing.files.
        landing_files`` takes what is read from it, ``core.landing.fileset`` what is reported)."""
        with storage_errors("list", day_prefix(self.url, day)):
            return list_day(self.url, day)

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
    files gone from the landing zone from the stored ``raw_trades``), and its Glue catalog."""

    url: str
    glue_database: str | None = None
    """The AWS Glue database that registers the lake's partitions (``TRADE_PLATFORM_GLUE_DATABASE``)."""

    def glue_catalog(self) -> GlueCatalog | None:
        """The Glue catalog of the lake, or None when there is none."""
        return GlueCatalog(self.glue_database) if self.glue_database else None

    def stored_partition(self, asset: str, day: str) -> pl.LazyFrame | None:
        """A lazy scan of the asset's stored partition (without ``date``), or None."""
        path = partition_file(UPath(self.url) / asset, day).with_suffix(ParquetLakeUPathIOManager.extension)
        with storage_errors("read", str(path)):
            if not path.exists():
                return None
        return pl.scan_parquet(str(path), storage_options=polars_storage_options(path))


class MartSettings(ConfigurableResource):
    """How marts are computed; ``ohlcv_intervals`` is a comma-separated list of polars durations."""

    ohlcv_intervals: str

    def intervals(self) -> tuple[str, ...]:
        return parse_intervals(self.ohlcv_intervals)


class QualityGateSettings(ConfigurableResource):
    """The checks' thresholds: holidays (days with no trades expected) and DLQ rates."""

    holidays: list[str]
    dlq_warn_rate: float
    dlq_error_rate: float

    def gates(self) -> QualityGates:
        return QualityGates(frozenset(self.holidays), self.dlq_warn_rate, self.dlq_error_rate)


class RetentionWindows(ConfigurableResource):
    """Days each layer is kept, today included (``TRADE_PLATFORM_RETENTION``); a layer not named is
    kept forever. The ``retention`` job deletes by them, and ingest refuses a day they emptied."""

    days: dict[str, int]

    def refuse_replay_of_deleted_day(self, day: str, today: date, late_files: int = 0) -> None:
        """Fail the step when ``day``, which has no raw_trades partition, is past the landing and
        raw_trades windows: retention deleted its raw data (``core.retention``). Landing files
        that arrived since (a late Kafka message, say) would replace the kept day with themselves."""
        refusal = replay_refusal(self.days, day, today)
        if refusal:
            late = (
                f" {late_files} landing files arrived since; they stay where they are." if late_files else ""
            )
            raise Failure(description=refusal + late, allow_retries=False)


def platform_resources(settings: Settings) -> dict:
    """Every resource of the code location, from ``settings``."""
    retries = {"max_retries": settings.max_retries, "retry_delay_seconds": settings.retry_delay_seconds}
    return {
        "landing": LandingZone(url=settings.landing_url),
        "lake": Lake(url=settings.lake_url, glue_database=settings.glue_database),
        "io_manager": ParquetLakeIOManager(
            lake_url=settings.lake_url, glue_database=settings.glue_database, **retries
        ),
        "mart_settings": MartSettings(ohlcv_intervals=",".join(settings.ohlcv_intervals)),
        "step_settings": StepSettings(spill_budget_mb=settings.spill_budget_mb, **retries),
        "quality_gates": QualityGateSettings(
            holidays=sorted(settings.gates.holidays),
            dlq_warn_rate=settings.gates.dlq_warn_rate,
            dlq_error_rate=settings.gates.dlq_error_rate,
        ),
        "retention": RetentionWindows(days=dict(settings.retention)),
    }
