"""Dagster resources: the landing zone, and the settings steps and checks use at run time.

``platform_resources`` builds every resource of the code location (the lake's from
``lib.lake``, the I/O manager's from ``lib.io_manager``) from one ``Settings`` object, so the UI's
resource page shows the values a run uses, and a run's config can override them.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

import polars as pl
from dagster import ConfigurableResource, Failure, InitResourceContext

from trade_platform.core.corrections import KEYS as CORRECTION_KEYS
from trade_platform.core.corrections import unnamed_records
from trade_platform.core.landing.files import CORRECTIONS, LandingFile, day_prefix, read_landing_files
from trade_platform.core.landing.listing import ListedFile, list_day, list_landing_files
from trade_platform.core.retention import replay_refusal
from trade_platform.core.storage import storage_errors
from trade_platform.lib.io_manager import IcebergLakeIOManager, ParquetLakeIOManager
from trade_platform.lib.lake import ICEBERG, Lake
from trade_platform.lib.policies import StepSettings
from trade_platform.setting_values import candle_intervals
from trade_platform.settings import QualityGates, Settings, check_dlq_rates

PROBLEMS_NAMED = 5
"""How many unusable corrections records a failure names."""


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
        else:  # each file's records on their own: another file's columns do not make up for them
            unnamed = unnamed_records(read.records)
            problems += [
                f"{source}, record at line or row {row}: {why} (corrections need the columns "
                f"{', '.join(CORRECTION_KEYS)}, source_row a line or row number)"
                for source, row, why in unnamed.head(PROBLEMS_NAMED).iter_rows()
            ]
            if unnamed.height > PROBLEMS_NAMED:
                problems.append(f"{unnamed.height - PROBLEMS_NAMED} more such records")
        if problems:
            where = ", ".join(f.relative_path for f in files)
            raise Failure(
                description=f"Cannot use corrections {where}: {'; '.join(problems)}", allow_retries=False
            )
        return read.records


class MartSettings(ConfigurableResource):
    """How marts are computed: the candle intervals (polars durations that divide a day)."""

    ohlcv_intervals: list[str]

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """A run config's intervals are refused as ``TRADE_PLATFORM_OHLCV_INTERVALS``'s are."""
        candle_intervals(self.ohlcv_intervals)


class QualityGateSettings(ConfigurableResource):
    """The checks' thresholds (``settings.QualityGates``): holidays (days with no trades expected)
    and DLQ rates."""

    holidays: list[str]
    dlq_warn_rate: float
    dlq_error_rate: float

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """A run config's rates are refused as the variables' are."""
        check_dlq_rates(self.dlq_warn_rate, self.dlq_error_rate)

    @classmethod
    def of(cls, gates: QualityGates) -> QualityGateSettings:
        """The resource of ``Settings.gates``, field for field (holidays as a sorted list)."""
        return cls(**{**asdict(gates), "holidays": sorted(gates.holidays)})


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
    """Every resource of the code location, from ``settings``; the I/O manager is given the
    ``lake`` and ``step_settings`` resources themselves."""
    lake = Lake(
        url=settings.lake_url,
        glue_database=settings.glue_database,
        table_format=settings.table_format,
        iceberg_catalog=settings.iceberg.catalog,
        iceberg_namespace=settings.iceberg.namespace,
        snapshot_retention_seconds=settings.snapshot_retention_seconds,
    )
    step_settings = StepSettings(
        spill_budget_mb=settings.spill_budget_mb,
        max_retries=settings.max_retries,
        retry_delay_seconds=settings.retry_delay_seconds,
    )
    return {
        "landing": LandingZone(url=settings.landing_url),
        "lake": lake,
        "io_manager": (IcebergLakeIOManager if lake.table_format == ICEBERG else ParquetLakeIOManager)(
            lake=lake, step_settings=step_settings
        ),
        "mart_settings": MartSettings(ohlcv_intervals=list(settings.ohlcv_intervals)),
        "step_settings": step_settings,
        "quality_gates": QualityGateSettings.of(settings.gates),
        "retention": RetentionWindows(days=dict(settings.retention)),
    }
