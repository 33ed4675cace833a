"""Checks of ``raw_trades``, ``validated_trades`` and ``trades_dlq``, one evaluation per partition.

What they compute is in ``core/quality/ingest.py``; here each day's result becomes a verdict.
"""

from collections.abc import Iterator

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetIn,
    AssetKey,
    MetadataValue,
    PartitionsDefinition,
    asset_check,
)

from trade_platform.core.landing.fileset import completeness
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.quality.ingest import (
    PRICE_CEILING,
    PRICE_FLOOR,
    dlq_split,
    duplicated_trade_ids,
    price_ranges,
)
from trade_platform.core.quality.per_day import SAMPLE_SIZE, row_counts
from trade_platform.defs.ingest.metadata import recorded_read
from trade_platform.lib.column_checks import build_column_schema_check
from trade_platform.lib.partitioned_checks import (
    Verdict,
    blocking_asset_check,
    evaluate_per_partition,
    latest_materializations,
)
from trade_platform.lib.resources import LandingZone, QualityGateSettings


def build_ingest_checks(partitions: PartitionsDefinition) -> list[AssetChecksDefinition]:
    return [
        _record_count(RAW_TRADES, partitions),
        build_column_schema_check(RAW_TRADES, partitions),
        _record_count(VALIDATED_TRADES, partitions),
        *_validated_trades_checks(partitions),
        build_column_schema_check(VALIDATED_TRADES, partitions),
        _dlq_rate(partitions),
        _landing_completeness(partitions),
    ]


def _record_count(asset: str, partitions: PartitionsDefinition) -> AssetChecksDefinition:
    @asset_check(
        name="record_count",
        asset=asset,
        partitions_def=partitions,
        description="The day has records, unless it is declared a holiday (TRADE_PLATFORM_HOLIDAYS).",
    )
    def record_count(
        context: AssetCheckExecutionContext,
        landing: LandingZone,
        quality_gates: QualityGateSettings,
        frame: pl.LazyFrame,
    ) -> Iterator:
        counts, holidays = row_counts(frame, context.partition_keys), quality_gates.holidays

        def judge(day: str) -> Verdict:
            rows, holiday = counts[day], day in holidays
            metadata = {"rows": rows, "holiday": holiday}
            if rows == 0:
                metadata["landing_files"] = len(landing.files_for_day(day))
            return Verdict(
                passed=rows > 0 or holiday,
                description=f"{rows} rows"
                + (" (declared holiday)" if holiday else "" if rows else " on a day that is not a holiday"),
                metadata=metadata,
            )

        yield from evaluate_per_partition(context, judge)

    record_count.__name__ = f"{asset}_record_count"
    return record_count


def _validated_trades_checks(partitions: PartitionsDefinition) -> list[AssetChecksDefinition]:
    @blocking_asset_check(
        asset=VALIDATED_TRADES,
        additional_ins={RAW_TRADES: AssetIn(RAW_TRADES), TRADES_DLQ: AssetIn(TRADES_DLQ)},
        partitions_def=partitions,
        description="Every raw row is in exactly one of validated_trades or trades_dlq.",
    )
    def reconciliation(
        context: AssetCheckExecutionContext,
        validated_trades: pl.LazyFrame,
        raw_trades: pl.LazyFrame,
        trades_dlq: pl.LazyFrame,
    ) -> Iterator:
        split = dlq_split(raw_trades, trades_dlq, context.partition_keys, validated=validated_trades)

        def judge(day: str) -> Verdict:
            s = split[day]
            return Verdict(
                passed=s.unaccounted_rows == 0,
                description=(
                    "raw = validated + DLQ records"
                    if s.unaccounted_rows == 0
                    else f"{s.unaccounted_rows:+d} rows unaccounted for: raw {s.raw_rows} != "
                    f"validated {s.validated_rows} + DLQ {s.dlq_records}"
                ),
                metadata={
                    "raw_rows": s.raw_rows,
                    "validated_rows": s.validated_rows,
                    "dlq_records": s.dlq_records,
                    "dlq_unreadable_files": s.unreadable_files,
                    "unaccounted_rows": s.unaccounted_rows,
                },
            )

        yield from evaluate_per_partition(context, judge)

    @blocking_asset_check(
        asset=VALIDATED_TRADES,
        partitions_def=partitions,
        description="trade_id is unique within the partition (blocking: the marts wait for it).",
    )
    def unique_trade_id(context: AssetCheckExecutionContext, validated_trades: pl.LazyFrame) -> Iterator:
        duplicated = duplicated_trade_ids(validated_trades, context.partition_keys)

        def judge(day: str) -> Verdict:
            return Verdict(
                passed=duplicated[day].is_empty(),
                description=f"{duplicated[day].height} trade_ids appear more than once",
                metadata={
                    "duplicated_trade_ids": duplicated[day].height,
                    "examples": duplicated[day]["trade_id"].head(SAMPLE_SIZE).to_list(),
                },
            )

        yield from evaluate_per_partition(context, judge)

    @asset_check(
        asset=VALIDATED_TRADES,
        partitions_def=partitions,
        description=f"Every price is within the sane range {PRICE_FLOOR} < price < {PRICE_CEILING:,.0f} (WARN).",
    )
    def price_range(context: AssetCheckExecutionContext, validated_trades: pl.LazyFrame) -> Iterator:
        ranges = price_ranges(validated_trades, context.partition_keys)

        def judge(day: str) -> Verdict:
            r = ranges[day]
            return Verdict(
                passed=r.out_of_range == 0,
                severity=AssetCheckSeverity.WARN,
                description=f"{r.out_of_range} prices outside {PRICE_FLOOR} < price < {PRICE_CEILING:,.0f}",
                metadata={
                    "out_of_range": r.out_of_range,
                    "min_price": r.min_price,
                    "max_price": r.max_price,
                    "lowest_offenders": r.lowest_offenders,
                    "highest_offenders": r.highest_offenders,
                    "price_floor_exclusive": PRICE_FLOOR,
                    "price_ceiling_exclusive": PRICE_CEILING,
                },
            )

        yield from evaluate_per_partition(context, judge)

    return [reconciliation, unique_trade_id, price_range]


def _dlq_rate(partitions: PartitionsDefinition) -> AssetChecksDefinition:
    @asset_check(
        asset=TRADES_DLQ,
        additional_ins={RAW_TRADES: AssetIn(RAW_TRADES)},
        partitions_def=partitions,
        description="Share of raw records sent to the DLQ: WARN above TRADE_PLATFORM_DLQ_WARN_RATE, "
        "ERROR above TRADE_PLATFORM_DLQ_ERROR_RATE.",
    )
    def dlq_rate(
        context: AssetCheckExecutionContext,
        quality_gates: QualityGateSettings,
        trades_dlq: pl.LazyFrame,
        raw_trades: pl.LazyFrame,
    ) -> Iterator:
        split = dlq_split(raw_trades, trades_dlq, context.partition_keys)
        warn, error = quality_gates.dlq_warn_rate, quality_gates.dlq_error_rate

        def judge(day: str) -> Verdict:
            s = split[day]
            return Verdict(
                passed=s.dlq_rate <= warn,
                severity=AssetCheckSeverity.ERROR if s.dlq_rate > error else AssetCheckSeverity.WARN,
                description=f"DLQ rate {s.dlq_rate:.2%} ({s.dlq_records} of {s.raw_rows} records, "
                f"{s.unreadable_files} unreadable files); warn above {warn:.2%}, error above {error:.2%}",
                metadata={
                    "dlq_rate": MetadataValue.float(s.dlq_rate),
                    "dlq_records": s.dlq_records,
                    "raw_records": s.raw_rows,
                    "unreadable_files": s.unreadable_files,
                    "warn_above": MetadataValue.float(warn),
                    "error_above": MetadataValue.float(error),
                    "top_error_codes": s.top_error_codes,
                },
            )

        yield from evaluate_per_partition(context, judge)

    return dlq_rate


def _landing_completeness(partitions: PartitionsDefinition) -> AssetChecksDefinition:
    @asset_check(
        asset=RAW_TRADES,
        partitions_def=partitions,
        description="Every file of the day's landing folder became records: fails (ERROR), naming "
        "the files, when one was not read (not a landing format, arrived or changed after the "
        "run), is unreadable, gave fewer records than the partition held before, or when Kafka "
        "offsets were lost before they were read.",
    )
    def landing_completeness(context: AssetCheckExecutionContext, landing: LandingZone) -> Iterator:
        latest = latest_materializations(context, AssetKey(RAW_TRADES), context.partition_keys)

        def judge(day: str) -> Verdict:
            listing = landing.listing_for_day(day)
            if day not in latest:
                return Verdict(
                    passed=False,
                    description=f"never materialized: the landing folder holds {len(listing)} files",
                    metadata={"files_in_landing_folder": len(listing)},
                )
            read, unreadable, fewer = recorded_read(latest[day])
            found = completeness(listing, read, unreadable, fewer, landing.url)
            problems = found.problems()
            return Verdict(
                passed=found.complete,
                description=f"every one of the {len(read)} files read became records"
                if found.complete
                else f"{len(found.files)} files not accounted for: {'; '.join(problems[:SAMPLE_SIZE])}"
                + (" ..." if len(problems) > SAMPLE_SIZE else ""),
                metadata={
                    "files_in_landing_folder": len(listing),
                    "files_read": len(read),
                    "not_read": MetadataValue.json(found.not_read),
                    "unreadable": MetadataValue.json(found.unreadable),
                    "fewer_records": MetadataValue.json(found.fewer_records),
                    "lost_offsets": MetadataValue.json(found.lost_offsets),
                },
            )

        yield from evaluate_per_partition(context, judge, latest)

    return landing_completeness
