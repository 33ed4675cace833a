"""``raw_trades``, ``validated_trades`` and ``trades_dlq``: one pass over the day's landing files.

The three are one step so that the landing zone is read once and a whole unreadable file goes
straight to the DLQ; the lineage raw -> validated/DLQ is still declared between them.
"""


import tempfile
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetOut, Output, multi_asset

from trade_platform.dagster_types import RAW_TRADES_TYPE, TRADES_DLQ_TYPE, VALIDATED_TRADES_TYPE
from trade_platform.partitions import daily_partitions
from trade_platform.policies import backfill_policy, retry_policy
from trade_platform.resources import LandingZone
from trade_platform.transforms.corrections import apply_corrections
from trade_platform.transforms.validation import TradeSplit, split_trades

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
    """Read, validate and dead-letter each day of the run; one day at a time, so a backfill
    of any range needs the memory of one day (days past the first are spilled to scratch
    Parquet and handed to the I/O manager as lazy scans)."""
    days = context.partition_keys
    now, run_id = datetime.now(timezone.utc), context.run.run_id
    if len(days) == 1:
        raw, split = _ingest_day(context, landing, days[0], now, run_id)
        yield Output(raw, output_name="raw_trades")
        yield Output(split.validated, output_name="validated_trades")
        yield Output(split.dlq, output_name="trades_dlq")
        return
    with tempfile.TemporaryDirectory(prefix="trade-platform-ingest-") as scratch:
        raw_schema: dict[str, pl.DataType] = {}
        for index, day in enumerate(days, start=1):
            raw, split = _ingest_day(context, landing, day, now, run_id)
            raw_schema.update(raw.schema)
            for name, frame in (("raw_trades", raw), ("validated_trades", split.validated), ("trades_dlq", split.dlq)):
                folder = Path(scratch, name, f"date={day}")
                folder.mkdir(parents=True)
                frame.drop("date").write_parquet(folder / "part-0.parquet")
            context.log.info(f"Ingested {day} ({index}/{len(days)})")
        yield Output(_scan_spill(scratch, "raw_trades", raw_schema), output_name="raw_trades")
        yield Output(_scan_spill(scratch, "validated_trades"), output_name="validated_trades")
        yield Output(_scan_spill(scratch, "trades_dlq"), output_name="trades_dlq")


def _ingest_day(
    context: AssetExecutionContext, landing: LandingZone, day: str, now: datetime, run_id: str
) -> tuple[pl.DataFrame, TradeSplit]:
    read = landing.read_day(day)
    records, corrected = apply_corrections(read.records, landing.read_corrections(day))
    split = split_trades(records, now=now, run_id=run_id, unreadable=read.unreadable)
    context.log.info(
        f"{day}: {read.records.height} records from {len(read.files)} files "
        f"({read.unreadable.height} unreadable, {corrected} corrected) -> "
        f"{split.validated.height} validated, {split.dlq.height} DLQ"
    )
    summary = _split_summary(read.records, split.validated, split.dlq, day)
    context.add_asset_metadata({**summary, "corrected_records": corrected}, asset_key="trades_dlq", partition_key=day)
    return read.records, split


def _scan_spill(scratch: str, name: str, schema: dict[str, pl.DataType] | None = None) -> pl.LazyFrame:
    """The spilled days as one hive-partitioned scan; ``schema`` unifies days with extra columns."""
    return pl.scan_parquet(
        Path(scratch, name),
        hive_partitioning=True,
        hive_schema={"date": pl.Date()},
        schema={k: v for k, v in schema.items() if k != "date"} if schema else None,
        missing_columns="insert",
    )


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
        "dlq_rows": dlq.filter(on_day).height,
        "dlq_by_code": {row["error_codes"]: row["count"] for row in codes.iter_rows(named=True)},
    }
