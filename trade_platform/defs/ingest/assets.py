"""``raw_trades``, ``validated_trades`` and ``trades_dlq``: one pass over the day's landing files.

The three are one step so that the landing zone is read once and a whole unreadable file goes
straight to the DLQ; the lineage raw -> validated/DLQ is still declared between them.
"""

import tempfile
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    Output,
    PartitionsDefinition,
    multi_asset,
)

from trade_platform.core.corrections import named_records
from trade_platform.core.increment import extended, with_stored_rows
from trade_platform.core.ingest import (
    SCHEMAS,
    DaySummary,
    fewer_records,
    ingest_day,
)
from trade_platform.core.lake_layout import PARTITION_COLUMN
from trade_platform.core.landing.files import order_raw_columns
from trade_platform.core.landing.fileset import is_tracked
from trade_platform.core.landing.listing import landing_files
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.pseudonymise import MissingPiiKeyError, PiiKey
from trade_platform.core.spill import Spill
from trade_platform.core.stored_sources import Source, gone_sources, stored_records_by_file
from trade_platform.defs.ingest.increment import stored_increment
from trade_platform.defs.ingest.metadata import (
    CORRECTED_RECORDS,
    CORRECTIONS_NAMING_NO_RECORD,
    FILES_READ,
    earlier_fewer_records,
    read_metadata,
)
from trade_platform.lib.asset_labels import labels
from trade_platform.lib.dagster_types import (
    RAW_TRADES_TYPE,
    TRADES_DLQ_TYPE,
    VALIDATED_TRADES_TYPE,
    schema_metadata,
)
from trade_platform.lib.lake import Lake
from trade_platform.lib.partition_locks import holding_days
from trade_platform.lib.policies import StepSettings
from trade_platform.lib.resources import LandingZone, RetentionWindows
from trade_platform.settings import PII_KEY_ENV, PII_KEY_FILE_ENV


def build_ingest_assets(
    partitions: PartitionsDefinition,
    backfill_policy: BackfillPolicy,
    table_format: str,
    pii_key: PiiKey | None = None,
) -> AssetsDefinition:
    """The multi-asset that writes ``raw_trades``, ``validated_trades`` and ``trades_dlq``.

    ``pii_key`` reaches the step through this closure, not a resource: the UI shows resource
    config, and every run process builds the definitions from its own ``Settings.from_env()``."""

    @multi_asset(
        outs={
            RAW_TRADES: AssetOut(
                dagster_type=RAW_TRADES_TYPE,
                description="Every landed record as received, with _source_file and _source_row.",
                metadata=schema_metadata(RAW_TRADES_TYPE),
                **labels(RAW_TRADES, table_format),
            ),
            VALIDATED_TRADES: AssetOut(
                dagster_type=VALIDATED_TRADES_TYPE,
                description="Typed, normalized trades; one row per trade_id per day.",
                metadata=schema_metadata(VALIDATED_TRADES_TYPE),
                **labels(VALIDATED_TRADES, table_format),
            ),
            TRADES_DLQ: AssetOut(
                dagster_type=TRADES_DLQ_TYPE,
                description="Rejected records with their error codes, source and run.",
                metadata=schema_metadata(TRADES_DLQ_TYPE),
                **labels(TRADES_DLQ, table_format),
            ),
        },
        internal_asset_deps={
            RAW_TRADES: set(),
            VALIDATED_TRADES: {AssetKey(RAW_TRADES)},
            TRADES_DLQ: {AssetKey(RAW_TRADES)},
        },
        partitions_def=partitions,
        backfill_policy=backfill_policy,
        group_name="trades",
    )
    def ingest_trades(
        context: AssetExecutionContext,
        landing: LandingZone,
        lake: Lake,
        step_settings: StepSettings,
        retention: RetentionWindows,
    ):
        """Read, validate and dead-letter each day of the run, chunk by chunk (small files together).

        Memory stays near one chunk of input: outputs past the spill budget go to scratch Parquet
        and reach the I/O manager as lazy scans, which it streams into the lake per partition.
        """
        run_id = context.run.run_id
        with (
            step_settings.retry_storage_faults(context.retry_number),
            holding_days(context, context.partition_keys),
            tempfile.TemporaryDirectory(prefix="trade-platform-ingest-") as scratch,
        ):
            # After the days are held: a run that waited for another must not judge the trades
            # landed meanwhile against the time it started waiting (timestamp_in_future).
            now = datetime.now(UTC)
            spill = step_settings.spill(Path(scratch), SCHEMAS)
            extended_days = {}  # the days that only added files were read of (core.increment)
            for index, day in enumerate(context.partition_keys, start=1):
                listing = landing.listing_for_day(day)  # one listing: what is read, what is reported
                files, tracked = (
                    landing_files(landing.url, listing),
                    [f for f in listing if is_tracked(f.path)],
                )
                corrections = landing.corrections_for_day(day)
                raw = lake.stored_partition(RAW_TRADES, day)
                # A day retention deleted, unless it was never loaded: late files cannot replace it.
                if raw is None and (not files or lake.stored_partition(VALIDATED_TRADES, day) is not None):
                    retention.refuse_replay_of_deleted_day(day, now.date(), late_files=len(files))
                before = stored_records_by_file(raw)
                # What an earlier run found missing stays missing until it is back or withdrawn.
                earlier = earlier_fewer_records(context.instance, day) if raw is not None else {}
                stored = {
                    RAW_TRADES: raw,
                    VALIDATED_TRADES: lake.stored_partition(VALIDATED_TRADES, day),
                    TRADES_DLQ: lake.stored_partition(TRADES_DLQ, day),
                }
                corrections_read = landing.read_corrections(corrections)
                increment = stored_increment(
                    context, day, files, corrections, stored, before, corrections_read, now
                )
                mark = spill.mark()
                ingest = partial(
                    _ingest,
                    corrections=corrections_read,
                    day=day,
                    now=now,
                    run_id=run_id,
                    spill=spill,
                    pii_key=pii_key,
                )
                if increment is not None:
                    sources = list(increment.added)
                    summary = ingest(sources, increment.accepted_ids)
                    if increment.interleaved and increment.conflicts(*_day_rows(spill, day)):
                        context.log.info(f"{day}: an added file changes which record of an id is first")
                        spill.rollback(mark)
                        increment = None
                    else:
                        context.log.info(
                            f"{day}: {len(sources)} files added since the day's last run, which read the "
                            f"{increment.summary.files} others: read only the added files"
                        )
                        summary = extended(increment.summary, summary)
                        extended_days[date.fromisoformat(day)] = increment
                if increment is None:
                    gone = gone_sources(files, raw, stored[TRADES_DLQ])
                    if gone:
                        context.log.warning(
                            f"{day}: {len(gone)} files are gone from the landing zone; replayed from the "
                            f"stored raw_trades and DLQ: {', '.join(g.relative_path for g in gone[:5])}"
                            + (" ..." if len(gone) > 5 else "")
                        )
                    sources = [*files, *gone]
                    summary = ingest(sources)
                context.log.info(
                    f"{day} ({index}/{len(context.partition_keys)}): {summary.raw_rows} records from "
                    f"{summary.files} files ({summary.unreadable_files} unreadable, {summary.corrected_records} "
                    f"corrected) -> {summary.validated_rows} validated, {summary.dlq_rows} DLQ"
                )
                unmatched = named_records(corrections_read) - summary.corrected_records
                if unmatched:
                    context.log.warning(
                        f"{day}: {unmatched} corrections name no record of the day (a wrong source_file "
                        "or source_row?): nothing was corrected for them"
                    )
                context.add_asset_metadata(
                    _metadata(summary) | {CORRECTIONS_NAMING_NO_RECORD: unmatched},
                    asset_key=TRADES_DLQ,
                    partition_key=day,
                )
                # What this run read: the landing zone may change after the run.
                context.add_asset_metadata(
                    read_metadata(
                        landing.url,
                        files,
                        corrections,
                        tracked,
                        summary.unreadable,
                        fewer_records(before, summary, earlier),
                    )
                    | {FILES_READ: len(sources)},
                    asset_key=RAW_TRADES,
                    partition_key=day,
                )
            for output in (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ):
                rows = with_stored_rows(output, spill.result(output), extended_days)
                yield Output(order_raw_columns(rows) if output == RAW_TRADES else rows, output_name=output)

    return ingest_trades


def _ingest(
    sources: list[Source], accepted_ids: pl.Series | None = None, *, day: str, pii_key, **how
) -> DaySummary:
    """``ingest_day``; a missing PII key fails the step before any output is published."""
    try:
        return ingest_day(sources, day=day, pii_key=pii_key, accepted_ids=accepted_ids, **how)
    except MissingPiiKeyError as exc:
        raise Failure(
            description=f"{day}: {exc}: set {PII_KEY_ENV} or {PII_KEY_FILE_ENV} where runs execute "
            "(nothing was written)",
            allow_retries=False,
        ) from exc


def _day_rows(spill: Spill, day: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The validated and DLQ rows the step added for ``day`` so far (the columns that say which
    record of a trade_id came first)."""
    on_day = pl.col(PARTITION_COLUMN) == date.fromisoformat(day)
    validated = spill.result(VALIDATED_TRADES).lazy().filter(on_day).select("trade_id", "_source_file")
    dlq = spill.result(TRADES_DLQ).lazy().filter(on_day).select("trade_id", "_source_file", "error_codes")
    return validated.collect(), dlq.collect()


def _metadata(summary: DaySummary) -> dict:
    return {
        "raw_rows": summary.raw_rows,
        "validated_rows": summary.validated_rows,
        "dlq_rows": summary.dlq_rows,
        "dlq_by_code": dict(summary.dlq_by_code.most_common()),
        CORRECTED_RECORDS: summary.corrected_records,
        "replayed_from_raw_trades": summary.replayed_files,
    }
