"""Partitioned asset checks: one evaluation per partition, also in a run over a range.

Dagster's ``AssetCheckResult`` records a single evaluation without a partition when a run
covers a range, so each check yields an ``AssetCheckEvaluation`` per partition key itself.
"""


from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import polars as pl
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckSeverity,
    AssetIn,
    AssetRecordsFilter,
    Output,
    asset_check,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from trade_platform.assets.marts import ohlcv
from trade_platform.dlq_codes import DlqCode
from trade_platform.partitions import daily_partitions

SAMPLE_SIZE = 5


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR


def evaluate_per_partition(
    context: AssetCheckExecutionContext, judge: Callable[[str], Verdict]
) -> Iterator[AssetCheckEvaluation | Output]:
    spec = context.check_specs[0]
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
            target_materialization_data=_latest_materialization(context, spec.asset_key, key),
        )
    # The check's op output is still required; AssetCheckResult would have produced it.
    yield Output(None, output_name=context.job_def.asset_layer.get_op_output_name(spec.key))


def _latest_materialization(context: AssetCheckExecutionContext, asset_key, key: str):
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
    ).records
    if not records:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=records[0].run_id, storage_id=records[0].storage_id, timestamp=records[0].timestamp
    )


def _by_day(frame: pl.LazyFrame, **aggregations: pl.Expr) -> dict[str, dict]:
    rows = frame.group_by("date").agg(**aggregations).collect()
    return {str(row.pop("date")): row for row in rows.iter_rows(named=True)}


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
    description="trade_id is unique within the partition.",
)
def unique_trade_id(context: AssetCheckExecutionContext, validated_trades: pl.LazyFrame):
    duplicated = (
        validated_trades.group_by("date", "trade_id")
        .agg(copies=pl.len())
        .filter(pl.col("copies") > 1)
        .sort("copies", "trade_id", descending=[True, False])
        .collect()
    )

    def judge(key: str) -> Verdict:
        on_day = duplicated.filter(pl.col("date") == pl.lit(key).str.to_date())
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
    asset=ohlcv,
    additional_ins={"validated_trades": AssetIn("validated_trades")},
    partitions_def=daily_partitions,
    description="low <= open, close <= high; volume > 0; trade counts sum to the validated count.",
)
def ohlcv_invariants(context: AssetCheckExecutionContext, ohlcv: pl.LazyFrame, validated_trades: pl.LazyFrame):
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
    counts = ohlcv.group_by("date", "interval").agg(trades=pl.col("trade_count").sum()).collect()
    validated = _by_day(validated_trades, n=pl.len())

    def judge(key: str) -> Verdict:
        expected = validated.get(key, {}).get("n", 0)
        per_interval = {
            row["interval"]: row["trades"]
            for row in counts.filter(pl.col("date") == pl.lit(key).str.to_date()).iter_rows(named=True)
        }
        wrong_counts = {interval: n for interval, n in per_interval.items() if n != expected}
        bad = candles.get(key, {}).get("bad_candles", 0)
        return Verdict(
            passed=bad == 0 and not wrong_counts,
            description=f"{bad} candles break low <= open, close <= high or volume > 0; "
            f"{len(wrong_counts)} intervals disagree with {expected} validated trades",
            metadata={
                "bad_candles": bad,
                "bad_candle_examples": [str(e) for e in candles.get(key, {}).get("examples", [])],
                "validated_trades": expected,
                "trade_count_by_interval": per_interval,
            },
        )

    yield from evaluate_per_partition(context, judge)


ALL_CHECKS = [reconciliation, unique_trade_id, ohlcv_invariants]
