"""Partitioned asset checks: one evaluation per partition, also in a run over a range.

Dagster's ``AssetCheckResult`` records a single evaluation without a partition when a run
covers a range, so each check yields an ``AssetCheckEvaluation`` per partition key itself.

Every check's metadata says what failed for a person reading the UI: the counts, the threshold
and a few of the worst offending values or trade_ids.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

import fsspec
import polars as pl
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckSeverity,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    EventLogRecord,
    MetadataValue,
    Output,
    TableColumn,
    TableSchema,
    asset_check,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.definitions.asset_checks.asset_check_factories.schema_change_checks import (
    TableSchemaDiff,
)

from trade_platform.assets.marts import daily_volume, ohlcv
from trade_platform.config import env_str
from trade_platform.dlq_codes import DlqCode
from trade_platform.partitions import daily_partitions
from trade_platform.resources import LandingZone, MartSettings

SAMPLE_SIZE = 5
MATERIALIZATIONS_PAGE = 100
PRICE_FLOOR = 0.001  # exclusive
PRICE_CEILING = 1_000_000.0  # exclusive
RELATIVE_TOLERANCE = 1e-9

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
    def from_env(cls) -> "QualityGates":
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


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR


def evaluate_per_partition(
    context: AssetCheckExecutionContext,
    judge: Callable[[str], Verdict],
    latest: dict[str, EventLogRecord] | None = None,
) -> Iterator[AssetCheckEvaluation | Output]:
    """One evaluation per partition of the run, each naming the materialization it judged
    (``latest``: the asset's latest materialization per partition, when the caller has it)."""
    spec = context.check_specs[0]
    if latest is None:
        latest = latest_materializations(context, spec.asset_key, context.partition_keys)
    for key in context.partition_keys:
        verdict = judge(key)
        yield AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=verdict.passed,
            severity=verdict.severity,
            blocking=spec.blocking,
            description=verdict.description,
            metadata=verdict.metadata,
            partition=key,
            target_materialization_data=_target_materialization(latest.get(key)),
        )
    # The check's op output is still required; AssetCheckResult would have produced it.
    yield Output(None, output_name=context.job_def.asset_layer.get_op_output_name(spec.key))


def latest_materializations(
    context: AssetCheckExecutionContext, asset_key: AssetKey, keys: Sequence[str]
) -> dict[str, EventLogRecord]:
    """The latest materialization of each partition in ``keys``, read newest first in pages
    (one query per page, not one per partition: a year's range run has 365 partitions)."""
    wanted, latest, cursor = set(keys), {}, None
    while wanted:
        page = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, asset_partitions=sorted(wanted)),
            limit=max(len(wanted), MATERIALIZATIONS_PAGE),
            cursor=cursor,
        )
        for record in page.records:
            if record.partition_key in wanted:
                latest[record.partition_key] = record
                wanted.discard(record.partition_key)
        if not page.has_more:
            break
        cursor = page.cursor
    return latest


def _target_materialization(record):
    if record is None:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp
    )


def _by_day(frame: pl.LazyFrame, **aggregations: pl.Expr) -> dict[str, dict]:
    rows = frame.group_by("date").agg(**aggregations).collect()
    return {str(row.pop("date")): row for row in rows.iter_rows(named=True)}


def _on_day(key: str) -> pl.Expr:
    return pl.col("date") == pl.lit(key).str.to_date()


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= RELATIVE_TOLERANCE * max(1.0, abs(a), abs(b))


# --- raw_trades and validated_trades --------------------------------------------------------


def _record_count(asset: str) -> Callable[..., Iterator]:
    @asset_check(
        name="record_count",
        asset=asset,
        partitions_def=daily_partitions,
        description="The day has records, unless it is declared a holiday (TRADE_PLATFORM_HOLIDAYS).",
    )
    def record_count(context: AssetCheckExecutionContext, landing: LandingZone, frame: pl.LazyFrame):
        counts = _by_day(frame, n=pl.len())
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
    raw = _by_day(raw_trades, n=pl.len())
    validated = _by_day(validated_trades, n=pl.len())
    record_codes = pl.col("error_codes").list.contains(DlqCode.UNREADABLE_FILE.value).not_()
    dlq = _by_day(trades_dlq, n=record_codes.sum(), unreadable=record_codes.not_().sum())

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
        on_day = duplicated.filter(_on_day(key))
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
    raw = _by_day(raw_trades, n=pl.len())
    dlq = _by_day(trades_dlq, records=unreadable.not_().sum(), unreadable_files=unreadable.sum())
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
        top = codes.filter(_on_day(key)).head(SAMPLE_SIZE)
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
    summary = _by_day(
        validated_trades,
        out_of_range=out_of_range.sum(),
        min_price=pl.col("price").min(),
        max_price=pl.col("price").max(),
    )
    offenders = validated_trades.filter(out_of_range).select("date", "trade_id", "price").collect()

    def judge(key: str) -> Verdict:
        day = summary.get(key, {})
        bad = day.get("out_of_range", 0)
        on_day = offenders.filter(_on_day(key))
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


def _column_schema(asset: str) -> Callable[..., Iterator]:
    """The partition's stored columns equal the declared ``dagster/column_schema``.

    Dagster's ``build_column_schema_change_checks`` compares the two latest materializations of
    any partition; this compares each partition's Parquet file with the asset's contract, so a
    backfill of an old day is judged by the same rule as today. Added columns WARN (the landing
    format grew), removed or retyped columns are an ERROR.
    """

    @asset_check(
        name="column_schema",
        asset=asset,
        partitions_def=daily_partitions,
        description="The stored columns and types equal the declared column schema.",
    )
    def column_schema(context: AssetCheckExecutionContext):
        key = AssetKey(asset)
        declared: TableSchema = context.job_def.asset_layer.asset_graph.get(key).metadata[
            "dagster/column_schema"
        ]

        latest = latest_materializations(context, key, context.partition_keys)

        def judge(partition: str) -> Verdict:
            record = latest.get(partition)
            path = record and record.asset_materialization.metadata.get("path")
            if path is None:
                return Verdict(False, f"partition {partition} has no stored file to compare")
            stored = _stored_schema(str(path.value), declared)
            diff = TableSchemaDiff.from_table_schemas(declared, stored)
            removed_or_retyped = bool(diff.removed_columns or diff.column_type_changes)
            changes = {
                "added_columns": [f"{c.name}: {c.type}" for c in diff.added_columns],
                "removed_columns": [f"{c.name}: {c.type}" for c in diff.removed_columns],
                "type_changes": {
                    n: f"{t.old_type} -> {t.new_type}" for n, t in diff.column_type_changes.items()
                },
            }
            return Verdict(
                passed=not (removed_or_retyped or diff.added_columns),
                severity=AssetCheckSeverity.ERROR if removed_or_retyped else AssetCheckSeverity.WARN,
                description="stored columns match the declared schema"
                if not (removed_or_retyped or diff.added_columns)
                else f"{len(diff.added_columns)} added, {len(diff.removed_columns)} removed, "
                f"{len(diff.column_type_changes)} retyped columns",
                metadata={**changes, "path": MetadataValue.path(str(path.value))},
            )

        yield from evaluate_per_partition(context, judge, latest)

    column_schema.__name__ = f"{asset}_column_schema"
    return column_schema


def _stored_schema(path: str, declared: TableSchema) -> TableSchema:
    with fsspec.open(path, "rb") as handle:
        schema = pl.read_parquet_schema(handle)
    # The partition column lives in the hive path, not in the file.
    columns = [TableColumn(name, str(dtype)) for name, dtype in schema.items()]
    partition_column = [c for c in declared.columns if c.name == "date" and "date" not in schema]
    return TableSchema(columns=columns + partition_column)


raw_trades_column_schema = _column_schema("raw_trades")
validated_trades_column_schema = _column_schema("validated_trades")


# --- marts ----------------------------------------------------------------------------------


@asset_check(
    asset=ohlcv,
    additional_ins={"validated_trades": AssetIn("validated_trades")},
    partitions_def=daily_partitions,
    description="Every configured interval is present; one candle per symbol, interval and bucket; "
    "low <= open, close <= high; volume > 0; trade counts and volume per interval sum to the "
    "validated totals.",
)
def ohlcv_invariants(
    context: AssetCheckExecutionContext,
    mart_settings: MartSettings,
    ohlcv: pl.LazyFrame,
    validated_trades: pl.LazyFrame,
):
    bad_candle = (
        (pl.col("low") > pl.min_horizontal("open", "close"))
        | (pl.col("high") < pl.max_horizontal("open", "close"))
        | ~(pl.col("volume") > 0)
    )
    candles = _by_day(
        ohlcv,
        bad_candles=bad_candle.sum(),
        examples=pl.struct("symbol", "interval", "timestamp").filter(bad_candle).head(SAMPLE_SIZE),
    )
    repeated = _by_day(
        ohlcv.group_by("date", "interval", "symbol", "timestamp").agg(n=pl.len()).filter(pl.col("n") > 1),
        duplicated_candles=pl.len(),
    )
    totals = (
        ohlcv.group_by("date", "interval")
        .agg(trades=pl.col("trade_count").sum(), volume=pl.col("volume").sum())
        .collect()
    )
    validated = _by_day(validated_trades, n=pl.len(), volume=pl.col("quantity").sum())
    configured = mart_settings.intervals()

    def judge(key: str) -> Verdict:
        expected = validated.get(key, {}).get("n", 0)
        expected_volume = validated.get(key, {}).get("volume") or 0.0
        per_interval = {row["interval"]: row for row in totals.filter(_on_day(key)).iter_rows(named=True)}
        # A configured interval with no candles holds 0 trades: wrong unless the day has none.
        wrong = {
            interval: "not a configured interval" for interval in per_interval if interval not in configured
        }
        for interval in configured:
            row = per_interval.get(interval, {"trades": 0, "volume": 0.0})
            if row["trades"] != expected or not _close(row["volume"], expected_volume):
                wrong[interval] = f"{row['trades']} trades, volume {row['volume']}"
        bad = candles.get(key, {}).get("bad_candles", 0)
        duplicated = repeated.get(key, {}).get("duplicated_candles", 0)
        return Verdict(
            passed=bad == 0 and duplicated == 0 and not wrong,
            description=f"{bad} candles break low <= open, close <= high or volume > 0; "
            f"{duplicated} candles appear more than once; "
            f"{len(wrong)} intervals disagree with {expected} validated trades",
            metadata={
                "bad_candles": bad,
                "bad_candle_examples": [str(e) for e in candles.get(key, {}).get("examples", [])],
                "duplicated_candles": duplicated,
                "validated_trades": expected,
                "validated_volume": expected_volume,
                "configured_intervals": list(configured),
                "trade_count_by_interval": {i: row["trades"] for i, row in per_interval.items()},
                "disagreeing_intervals": wrong,
            },
        )

    yield from evaluate_per_partition(context, judge)


@asset_check(
    asset=daily_volume,
    additional_ins={"validated_trades": AssetIn("validated_trades")},
    partitions_def=daily_partitions,
    description="One row per symbol; per symbol, trade_count, total_volume, notional, low and high "
    "agree with validated_trades, and low_price <= vwap, avg_price <= high_price.",
)
def daily_volume_totals(
    context: AssetCheckExecutionContext, daily_volume: pl.LazyFrame, validated_trades: pl.LazyFrame
):
    expected = validated_trades.group_by("date", "symbol").agg(
        trade_count=pl.len().cast(pl.Int64),
        total_volume=pl.col("quantity").sum(),
        notional=(pl.col("price") * pl.col("quantity")).sum(),
        low_price=pl.col("price").min(),
        high_price=pl.col("price").max(),
    )
    compared = ["trade_count", "total_volume", "notional", "low_price", "high_price"]
    joined = daily_volume.join(expected, on=["date", "symbol"], how="full", coalesce=True, suffix="_expected")
    differs = [
        (pl.col(name) - pl.col(f"{name}_expected")).abs()
        > RELATIVE_TOLERANCE
        * pl.max_horizontal(pl.lit(1.0), pl.col(name).abs(), pl.col(f"{name}_expected").abs())
        for name in compared
    ]
    missing = pl.any_horizontal(
        pl.col(name).is_null() | pl.col(f"{name}_expected").is_null() for name in compared
    )
    broken_order = (pl.col("low_price") > pl.min_horizontal("vwap", "avg_price")) | (
        pl.col("high_price") < pl.max_horizontal("vwap", "avg_price")
    )
    bad = (
        joined.with_columns(
            _bad=missing | pl.any_horizontal(differs).fill_null(True) | broken_order.fill_null(False)
        )
        .filter("_bad")
        .select("date", "symbol", *[c for name in compared for c in (name, f"{name}_expected")])
        .sort("date", "symbol")
        .collect()
    )
    totals = _by_day(
        daily_volume,
        symbols=pl.len(),
        repeated_symbols=pl.col("symbol").is_duplicated().sum(),
        trades=pl.col("trade_count").sum(),
    )
    validated = _by_day(validated_trades, n=pl.len())

    def judge(key: str) -> Verdict:
        on_day = bad.filter(_on_day(key))
        day = totals.get(key, {})
        repeated = day.get("repeated_symbols", 0)
        return Verdict(
            passed=on_day.is_empty() and repeated == 0,
            description=f"{on_day.height} of {day.get('symbols', 0)} symbols disagree with validated_trades"
            + (f"; {repeated} rows repeat a symbol" if repeated else ""),
            metadata={
                "symbols": day.get("symbols", 0),
                "rows_repeating_a_symbol": repeated,
                "trade_count_total": day.get("trades", 0),
                "validated_trades": validated.get(key, {}).get("n", 0),
                "disagreeing_symbols": on_day.height,
                "examples": [str(row) for row in on_day.drop("date").head(SAMPLE_SIZE).iter_rows(named=True)],
            },
        )

    yield from evaluate_per_partition(context, judge)


ALL_CHECKS = [
    raw_trades_record_count,
    raw_trades_column_schema,
    validated_trades_record_count,
    reconciliation,
    unique_trade_id,
    price_range,
    validated_trades_column_schema,
    dlq_rate,
    ohlcv_invariants,
    daily_volume_totals,
]
