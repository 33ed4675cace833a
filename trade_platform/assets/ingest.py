"""``raw_trades``, ``validated_trades`` and ``trades_dlq``: one pass over the day's landing files.

The three are one step so that the landing zone is read once and a whole unreadable file goes
straight to the DLQ; the lineage raw -> validated/DLQ is still declared between them.
"""


from datetime import datetime, timezone

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetOut, Output, multi_asset

from trade_platform.dagster_types import RAW_TRADES_TYPE, TRADES_DLQ_TYPE, VALIDATED_TRADES_TYPE
from trade_platform.partitions import daily_partitions
from trade_platform.policies import backfill_policy, retry_policy
from trade_platform.resources import LandingZone
from trade_platform.transforms.validation import split_trades

RAW = AssetKey("raw_trades")


def column_schema(dagster_type) -> dict:
    """Asset metadata that puts the pandera model's columns in the UI's Columns panel."""
    return {"dagster/column_schema": dagster_type.metadata["schema"].schema}


@multi_asset(
    outs={
        "raw_trades": AssetOut(
            dagster_type=RAW_TRADES_TYPE,
            description="Every landed record as received, with _source_file and _source_row.",
            metadata=column_schema(RAW_TRADES_TYPE),
        ),
        "validated_trades": AssetOut(
            dagster_type=VALIDATED_TRADES_TYPE,
            description="Typed, normalized trades; one row per trade_id per day.",
            metadata=column_schema(VALIDATED_TRADES_TYPE),
        ),
        "trades_dlq": AssetOut(
            dagster_type=TRADES_DLQ_TYPE,
            description="Rejected records with their error codes, source and run.",
            metadata=column_schema(TRADES_DLQ_TYPE),
        ),
    },
    internal_asset_deps={"raw_trades": set(), "validated_trades": {RAW}, "trades_dlq": {RAW}},
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy,
    retry_policy=retry_policy,
    group_name="trades",
    compute_kind="polars",
)
def ingest_trades(context: AssetExecutionContext, landing: LandingZone):
    days = context.partition_keys
    read = landing.read_days(days)
    context.log.info(
        f"Read {read.records.height} records from {len(read.files)} files "
        f"({read.unreadable.height} unreadable) for {days[0]}..{days[-1]}"
    )
    split = split_trades(
        read.records, now=datetime.now(timezone.utc), run_id=context.run.run_id, unreadable=read.unreadable
    )
    for day in days:
        context.add_asset_metadata(
            _split_summary(read.records, split.validated, split.dlq, day),
            asset_key="trades_dlq",
            partition_key=day,
        )
    yield Output(read.records, output_name="raw_trades")
    yield Output(split.validated, output_name="validated_trades")
    yield Output(split.dlq, output_name="trades_dlq")


def _split_summary(raw: pl.DataFrame, validated: pl.DataFrame, dlq: pl.DataFrame, day: str) -> dict:
    on_day = pl.col("date") == pl.lit(day).str.to_date()
    codes = (
        dlq.filter(on_day)
        .select(pl.col("error_codes").explode().value_counts(sort=True))
        .unnest("error_codes")
    )
    return {
        "raw_rows": raw.filter(on_day).height,
        "validated_rows": validated.filter(on_day).height,
        "dlq_by_code": {row["error_codes"]: row["count"] for row in codes.iter_rows(named=True)},
    }
