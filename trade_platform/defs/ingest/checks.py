"""Checks of ``raw_trades``, ``validated_trades`` and ``trades_dlq``, one evaluation per partition."""

from collections.abc import Callable, Iterator

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckSeverity,
    AssetIn,
    MetadataValue,
    asset_check,
)

from trade_platform.core.dlq_codes import DlqCode
from trade_platform.defs.shared.column_schema import column_schema_check
from trade_platform.defs.shared.partitioned_checks import (
    SAMPLE_SIZE,
    Verdict,
    by_day,
    evaluate_per_partition,
    is_day,
)
from trade_platform.defs.shared.partitions import daily_partitions
from trade_platform.defs.shared.resources import LandingZone
from trade_platform.settings import QualityGates

PRICE_FLOOR = 0.001  # exclusive
PRICE_CEILING = 1_000_000.0  # exclusive


def _record_count(asset: str) -> Callable[..., Iterator]:
    @asset_check(
        name="record_count",
        asset=asset,
        partitions_def=daily_partitions,
        description="The day has records, unless it is declared a holiday (TRADE_PLATFORM_HOLIDAYS).",
    )
    def record_count(context: AssetCheckExecutionContext, landing: LandingZone, frame: pl.LazyFrame):
        counts = by_day(frame, n=pl.len())
        holidays = QualityGates.from_env().holidays

        def judge(key: str) -> Verdict:
            rows = counts.get(key, {}).get("n", 0)
            holiday = key in holidays
            metadata = {"rows": rows, "holiday": holiday}
            if rows == 0:
                metadata["landing_files"] = len(landing.files_for_day(key))
            return Verdict(
                passed=rows > 0 or holiday,
                description=f"{rows} rows"
                + (" (declared holiday)" if holiday else "" if rows else " on a day that is not a holiday"),
                metadata=metadata,
            )

        yield from evaluate_per_partition(context, judge)

    record_count.__name__ = f"{asset}_record_count"
    return record_count


raw_trades_record_count = _record_count("raw_trades")
validated_trades_record_count = _record_count("validated_trades")


@asset_check(
    asset="validated_trades",
    additional_ins={"raw_trades": AssetIn("raw_trades"), "trades_dlq": AssetIn("trades_dlq")},
    partitions_def=daily_partitions,
    blocking=True,
    description="Every raw row is in exactly one of validated_trades or trades_dlq.",
)
def reconciliation(
    context: AssetCheckExecutionContext,
    validated_trades: pl.LazyFrame,
    raw_trades: pl.LazyFrame,
    trades_dlq: pl.LazyFrame,
):
    raw = by_day(raw_trades, n=pl.len())
    validated = by_day(validated_trades, n=pl.len())
    record_codes = pl.col("error_codes").list.contains(DlqCode.UNREADABLE_FILE.value).not_()
    dlq = by_day(trades_dlq, n=record_codes.sum(), unreadable=record_codes.not_().sum())

    def judge(key: str) -> Verdict:
        raw_rows = raw.get(key, {}).get("n", 0)
        validated_rows = validated.get(key, {}).get("n", 0)
        dlq_rows = dlq.get(key, {}).get("n", 0)
        difference = raw_rows - validated_rows - dlq_rows
        return Verdict(
            passed=difference == 0,
            description=(
                "raw = validated + DLQ records"
                if difference == 0
                else f"{difference:+d} rows unaccounted for: raw {raw_rows} != validated {validated_rows} + DLQ {dlq_rows}"
            ),
            metadata={
                "raw_rows": raw_rows,
                "validated_rows": validated_rows,
                "dlq_records": dlq_rows,
                "dlq_unreadable_files": dlq.get(key, {}).get("unreadable", 0),
                "unaccounted_rows": difference,
            },
        )

    yield from evaluate_per_partition(context, judge)


@asset_check(
    asset="validated_trades",
    partitions_def=daily_partitions,
    blocking=True,
    description="trade_id is unique within the partition (blocking: the marts wait for it).",
)
def unique_trade_id(context: AssetCheckExecutionContext, validated_trades: pl.LazyFrame):
    # Grouping by a 64-bit hash first keeps memory at 8 bytes per trade; only ids whose hash
    # repeats are then grouped by their text, so a collision cannot report a false duplicate.
    hashed = validated_trades.select("date", "trade_id", _hash=pl.col("trade_id").hash())
    suspects = hashed.group_by("date", "_hash").agg(n=pl.len()).filter(pl.col("n") > 1).collect()
    duplicated = (
        hashed.join(suspects.lazy().select("date", "_hash"), on=["date", "_hash"], how="semi")
        .group_by("date", "trade_id")
        .agg(copies=pl.len())
        .filter(pl.col("copies") > 1)
        .sort("copies", "trade_id", descending=[True, False])
        .collect()
    )

    def judge(key: str) -> Verdict:
        on_day = duplicated.filter(is_day(key))
        return Verdict(
            passed=on_day.is_empty(),
            description=f"{on_day.height} trade_ids appear more than once",
            metadata={
                "duplicated_trade_ids": on_day.height,
                "examples": on_day["trade_id"].head(SAMPLE_SIZE).to_list(),
            },
        )

    yield from evaluate_per_partition(context, judge)


@asset_check(
    asset="trades_dlq",
    additional_ins={"raw_trades": AssetIn("raw_trades")},
    partitions_def=daily_partitions,
    description="Share of raw records sent to the DLQ: WARN above TRADE_PLATFORM_DLQ_WARN_RATE, "
    "ERROR above TRADE_PLATFORM_DLQ_ERROR_RATE.",
)
def dlq_rate(context: AssetCheckExecutionContext, trades_dlq: pl.LazyFrame, raw_trades: pl.LazyFrame):
    unreadable = pl.col("error_codes").list.contains(DlqCode.UNREADABLE_FILE.value)
    raw = by_day(raw_trades, n=pl.len())
    dlq = by_day(trades_dlq, records=unreadable.not_().sum(), unreadable_files=unreadable.sum())
    codes = (
        trades_dlq.select("date", code=pl.col("error_codes"))
        .explode("code")
        .group_by("date", "code")
        .agg(n=pl.len())
        .sort("n", "code", descending=[True, False])
        .collect()
    )
    gates = QualityGates.from_env()
    warn, error = gates.dlq_warn_rate, gates.dlq_error_rate

    def judge(key: str) -> Verdict:
        raw_rows = raw.get(key, {}).get("n", 0)
        records = dlq.get(key, {}).get("records", 0)
        files = dlq.get(key, {}).get("unreadable_files", 0)
        # A day whose every file is unreadable has no raw rows but has lost everything.
        rate = records / raw_rows if raw_rows else (1.0 if files else 0.0)
        severity = AssetCheckSeverity.ERROR if rate > error else AssetCheckSeverity.WARN
        top = codes.filter(is_day(key)).head(SAMPLE_SIZE)
        return Verdict(
            passed=rate <= warn,
            severity=severity,
            description=f"DLQ rate {rate:.2%} ({records} of {raw_rows} records, {files} unreadable files); "
            f"warn above {warn:.2%}, error above {error:.2%}",
            metadata={
                "dlq_rate": MetadataValue.float(rate),
                "dlq_records": records,
                "raw_records": raw_rows,
                "unreadable_files": files,
                "warn_above": MetadataValue.float(warn),
                "error_above": MetadataValue.float(error),
                "top_error_codes": {row["code"]: row["n"] for row in top.iter_rows(named=True)},
            },
        )

    yield from evaluate_per_partition(context, judge)


@asset_check(
    asset="validated_trades",
    partitions_def=daily_partitions,
    description=f"Every price is within the sane range {PRICE_FLOOR} < price < {PRICE_CEILING:,.0f} (WARN).",
)
def price_range(context: AssetCheckExecutionContext, validated_trades: pl.LazyFrame):
    out_of_range = (pl.col("price") <= PRICE_FLOOR) | (pl.col("price") >= PRICE_CEILING)
    summary = by_day(
        validated_trades,
        out_of_range=out_of_range.sum(),
        min_price=pl.col("price").min(),
        max_price=pl.col("price").max(),
    )
    offenders = validated_trades.filter(out_of_range).select("date", "trade_id", "price").collect()

    def judge(key: str) -> Verdict:
        day = summary.get(key, {})
        bad = day.get("out_of_range", 0)
        on_day = offenders.filter(is_day(key))
        lowest = on_day.filter(pl.col("price") <= PRICE_FLOOR).sort("price").head(SAMPLE_SIZE)
        highest = (
            on_day.filter(pl.col("price") >= PRICE_CEILING).sort("price", descending=True).head(SAMPLE_SIZE)
        )
        return Verdict(
            passed=bad == 0,
            severity=AssetCheckSeverity.WARN,
            description=f"{bad} prices outside {PRICE_FLOOR} < price < {PRICE_CEILING:,.0f}",
            metadata={
                "out_of_range": bad,
                "min_price": day.get("min_price"),
                "max_price": day.get("max_price"),
                "lowest_offenders": {row["trade_id"]: row["price"] for row in lowest.iter_rows(named=True)},
                "highest_offenders": {row["trade_id"]: row["price"] for row in highest.iter_rows(named=True)},
                "price_floor_exclusive": PRICE_FLOOR,
                "price_ceiling_exclusive": PRICE_CEILING,
            },
        )

    yield from evaluate_per_partition(context, judge)


raw_trades_column_schema = column_schema_check("raw_trades")
validated_trades_column_schema = column_schema_check("validated_trades")


INGEST_CHECKS = [
    raw_trades_record_count,
    raw_trades_column_schema,
    validated_trades_record_count,
    reconciliation,
    unique_trade_id,
    price_range,
    validated_trades_column_schema,
    dlq_rate,
]
