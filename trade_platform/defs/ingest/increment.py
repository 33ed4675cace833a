"""Whether a run of ``ingest_trades`` may read only the files added to a day since its last run
(``core.increment`` says when that equals a full re-run), from what the instance recorded.

The stored partitions must all come from the run whose read was recorded: the day's latest
``raw_trades``, ``validated_trades`` and ``trades_dlq`` materializations share one run id (a run
that failed between its writes leaves them apart, and the next run reads the day whole), and
each partition holds the rows its materialization recorded (a run killed after publishing a
partition, before recording it, leaves one that does not). A DLQ replay, or a run tagged
``trade_platform/full_rerun=true``, always reads the day whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetRecordsFilter

from trade_platform.core.increment import StoredDay, added_files, stored_day
from trade_platform.core.landing.files import LandingFile
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.defs.ingest.jobs import replay_dlq_job
from trade_platform.defs.ingest.metadata import CORRECTED_RECORDS, recorded_corrections, recorded_read
from trade_platform.lib.lake import ROW_COUNT

FULL_RERUN_TAG = "trade_platform/full_rerun"


def stored_increment(
    context: AssetExecutionContext,
    day: str,
    files: Sequence[LandingFile],
    corrections: Sequence[LandingFile],
    stored: Mapping[str, pl.LazyFrame | None],
    records_by_file: Mapping[str, int],
    corrections_read: pl.DataFrame,
    now: datetime,
) -> StoredDay | None:
    """The stored day the added files extend, or None: read ``day`` whole. ``stored``
    holds each ingest asset's stored partition (None: none), ``corrections_read`` the day's
    corrections as read, ``now`` the run's time."""
    if context.job_name == replay_dlq_job.name or context.run.tags.get(FULL_RERUN_TAG) == "true":
        return None
    if any(stored[asset] is None for asset in (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ)):
        return None
    latest = {}
    for asset in (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ):
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day]), limit=1
        ).records
        if not records:
            return None
        latest[asset] = records[0]
    if len({record.run_id for record in latest.values()}) != 1:
        return None
    read = recorded_read(latest[RAW_TRADES])[0]
    added = added_files(read, recorded_corrections(latest[RAW_TRADES]), files, corrections)
    if not added:
        return None
    dlq_metadata = latest[TRADES_DLQ].asset_materialization.metadata
    corrected = dlq_metadata[CORRECTED_RECORDS].value if CORRECTED_RECORDS in dlq_metadata else None
    if corrected is None:
        return None
    recorded_rows = {
        asset: record.asset_materialization.metadata.get(ROW_COUNT) for asset, record in latest.items()
    }
    if any(rows is None for rows in recorded_rows.values()):
        return None
    partitions = (stored[RAW_TRADES], stored[VALIDATED_TRADES], stored[TRADES_DLQ])
    return stored_day(
        day, partitions, records_by_file, read, added, corrected, corrections_read, now,
        {asset: rows.value for asset, rows in recorded_rows.items()},
    )  # fmt: skip
