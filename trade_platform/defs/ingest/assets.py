"""``raw_trades``, ``validated_trades`` and ``trades_dlq``: one pass over the day's landing files.

The three are one step so that the landing zone is read once and a whole unreadable file goes
straight to the DLQ; the lineage raw -> validated/DLQ is still declared between them.
"""

import tempfile
from datetime import UTC, datetime
from pathlib import Path

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

from trade_platform.core.ingest import (
    SCHEMAS,
    DaySummary,
    fewer_records,
    ingest_day,
)
from trade_platform.core.landing.files import order_raw_columns
from trade_platform.core.landing.fileset import is_tracked
from trade_platform.core.landing.listing import landing_files
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.pseudonymise import MissingPiiKeyError, PiiKey
from trade_platform.core.stored_sources import gone_sources, stored_records_by_file
from trade_platform.defs.ingest.metadata import earlier_fewer_records, read_metadata
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
    partitions: PartitionsDefinition, backfill_policy: BackfillPolicy, pii_key: PiiKey | None = None
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
                kinds={"polars"},
            ),
            VALIDATED_TRADES: AssetOut(
                dagster_type=VALIDATED_TRADES_TYPE,
                description="Typed, normalized trades; one row per trade_id per day.",
                metadata=schema_metadata(VALIDATED_TRADES_TYPE),
                kinds={"polars"},
            ),
            TRADES_DLQ: AssetOut(
                dagster_type=TRADES_DLQ_TYPE,
                description="Rejected records with their error codes, source and run.",
                metadata=schema_metadata(TRADES_DLQ_TYPE),
                kinds={"polars"},
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
                gone = gone_sources(files, raw, lake.stored_partition(TRADES_DLQ, day))
                if gone:
                    context.log.warning(
                        f"{day}: {len(gone)} files are gone from the landing zone; replayed from the stored "
                        f"raw_trades and DLQ: {', '.join(g.relative_path for g in gone[:5])}"
                        + (" ..." if len(gone) > 5 else "")
                    )
                try:
                    summary = ingest_day(
                        [*files, *gone],
                        landing.read_corrections(corrections),
                        day,
                        now=now,
                        run_id=run_id,
                        spill=spill,
                        pii_key=pii_key,
                    )
                except MissingPiiKeyError as exc:  # before any output is published
                    raise Failure(
                        description=f"{day}: {exc}: set {PII_KEY_ENV} or {PII_KEY_FILE_ENV} where runs execute "
                        "(nothing was written)",
                        allow_retries=False,
                    ) from exc
                context.log.info(
                    f"{day} ({index}/{len(context.partition_keys)}): {summary.raw_rows} records from "
                    f"{summary.files} files ({summary.unreadable_files} unreadable, {summary.corrected_records} "
                    f"corrected) -> {summary.validated_rows} validated, {summary.dlq_rows} DLQ"
                )
                context.add_asset_metadata(_metadata(summary), asset_key=TRADES_DLQ, partition_key=day)
                # What this run read: the landing zone may change after the run.
                context.add_asset_metadata(
                    read_metadata(
                        landing.url,
                        files,
                        corrections,
                        tracked,
                        summary.unreadable,
                        fewer_records(before, summary, earlier),
                    ),
                    asset_key=RAW_TRADES,
                    partition_key=day,
                )
            yield Output(order_raw_columns(spill.result(RAW_TRADES)), output_name=RAW_TRADES)
            yield Output(spill.result(VALIDATED_TRADES), output_name=VALIDATED_TRADES)
            yield Output(spill.result(TRADES_DLQ), output_name=TRADES_DLQ)

    return ingest_trades


def _metadata(summary: DaySummary) -> dict:
    return {
        "raw_rows": summary.raw_rows,
        "validated_rows": summary.validated_rows,
        "dlq_rows": summary.dlq_rows,
        "dlq_by_code": dict(summary.dlq_by_code.most_common()),
        "corrected_records": summary.corrected_records,
        "replayed_from_raw_trades": summary.replayed_files,
    }
