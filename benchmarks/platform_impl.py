"""trade-platform as the assets run it: the same landing reader, transforms, pandera models and
the I/O manager's Parquet writer, called directly (``run``) or through Dagster (``run_dagster``)."""

from __future__ import annotations

import tempfile
from datetime import date
from functools import partial
from pathlib import Path

import polars as pl
from upath import UPath

from benchmarks.common import INTERVALS, NOW, RUN_ID, Stopwatch, embedded_instance
from trade_platform.core import marts
from trade_platform.core.ingest import SCHEMAS, ingest_day
from trade_platform.core.lake_layout import partition_file
from trade_platform.core.landing.files import order_raw_columns
from trade_platform.core.landing.listing import list_landing_files
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.schemas import DailyVolume, Ohlcv, RawTrades, TradesDlq, ValidatedTrades
from trade_platform.core.spill import Spill
from trade_platform.lib.io_manager import STREAM_BATCH_ROWS, write_parquet_atomically

LAKE_NAMES = {
    "validated": "validated_trades",
    "dlq": "trades_dlq",
    "ohlcv": "ohlcv",
    "daily_volume": "daily_volume",
}


def run(landing: str, day: date, out: Path) -> dict[str, float]:
    watch = Stopwatch()
    iso = day.isoformat()
    models = {
        "raw": RawTrades,
        "validated": ValidatedTrades,
        "dlq": TradesDlq,
        "ohlcv": Ohlcv,
        "daily_volume": DailyVolume,
    }

    def check(model, frame: pl.DataFrame) -> None:
        with watch("pandera"):
            model.validate(frame, lazy=True)

    with tempfile.TemporaryDirectory(prefix="scratch-", dir=out) as scratch:
        with watch("ingest"):  # read + validate, a chunk at a time, spilled past the budget
            spill = Spill(Path(scratch), SCHEMAS)
            ingest_day(
                list_landing_files(landing, iso), pl.DataFrame(), iso, now=NOW, run_id=RUN_ID, spill=spill
            )
            outputs = {
                "raw": order_raw_columns(spill.result(RAW_TRADES)),
                "validated": spill.result(VALIDATED_TRADES),
                "dlq": spill.result(TRADES_DLQ),
            }
        with watch("marts"):
            outputs["ohlcv"] = marts.ohlcv(outputs["validated"], INTERVALS)
            outputs["daily_volume"] = marts.daily_volume(outputs["validated"])
        # The Dagster types run these models on every output, raw_trades included: a DataFrame
        # whole, a spilled output batch by batch as the I/O manager streams it.
        for name, frame in outputs.items():
            if isinstance(frame, pl.DataFrame):
                check(models[name], frame)
        checked_before_write = watch.stages["pandera"]
        with watch("write"):  # the lake's layout: <asset>/date=<day>/part-0.parquet, date in the path
            for name, frame in outputs.items():
                if name in LAKE_NAMES:
                    path = partition_file(UPath(out) / LAKE_NAMES[name], iso)
                    write_parquet_atomically(frame, path, check=partial(check, models[name]))
            if isinstance(outputs["raw"], pl.LazyFrame):  # checked in batches, as raw_trades is
                for batch in outputs["raw"].collect_batches(chunk_size=STREAM_BATCH_ROWS):
                    check(RawTrades, batch)
        watch.stages["write"] -= watch.stages["pandera"] - checked_before_write  # the streamed checks
        return watch.stages


def run_dagster(landing: str, day: date, out: Path, table_format: str = "parquet") -> dict[str, float]:
    """The whole partition through Dagster: every asset and check, on a SQLite-backed instance,
    the lake in ``table_format``."""
    watch = Stopwatch()
    with watch("startup"):
        from dagster import materialize

        from trade_platform.definitions import build_defs
        from trade_platform.settings import Settings

        if table_format == "iceberg":  # pyiceberg loads with the code, as dagster does, not in a step
            import trade_platform.lib.iceberg_io_manager  # noqa: F401

        home = tempfile.mkdtemp(prefix="dagster-home-", dir=out)
        instance = embedded_instance(home)
        defs = build_defs(
            Settings(landing_url=landing, lake_url=str(out), dbt_models=(), table_format=table_format)
        )  # the marts pipeline BENCHMARKS.md measures: no dbt model
        # Freshness judges yesterday, not the benchmark's day.
        checks = [c for c in defs.asset_checks or [] if all(k.name != "freshness" for k in c.check_keys)]
        resources = defs.resources
    with watch("materialize"):
        result = materialize(
            [*(defs.assets or []), *checks],
            partition_key=day.isoformat(),
            instance=instance,
            resources=resources,
        )
    if not result.success:
        raise RuntimeError("materialize failed")
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    if failed:
        raise RuntimeError(f"checks failed: {failed}")
    instance.dispose()
    return watch.stages
