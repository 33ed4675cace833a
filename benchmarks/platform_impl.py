"""trade-platform as the assets run it: the same landing reader, transforms, pandera models and
the I/O manager's Parquet writer, called directly (``run``) or through Dagster (``run_dagster``)."""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import polars as pl
from upath import UPath

from benchmarks.common import INTERVALS, NOW, RUN_ID, Stopwatch
from trade_platform.io_managers import write_parquet_atomically
from trade_platform.landing import read_landing_day
from trade_platform.schemas import DailyVolume, Ohlcv, RawTrades, TradesDlq, ValidatedTrades
from trade_platform.transforms import marts
from trade_platform.transforms.validation import split_trades

LAKE_NAMES = {
    "validated": "validated_trades",
    "dlq": "trades_dlq",
    "ohlcv": "ohlcv",
    "daily_volume": "daily_volume",
}


def run(landing: str, day: date, out: Path) -> dict[str, float]:
    watch = Stopwatch()
    with watch("read"):
        read = read_landing_day(landing, day.isoformat())
        raw = read.records.with_columns(date=pl.lit(day))
    with watch("validate"):
        split = split_trades(
            raw, now=NOW, run_id=RUN_ID, unreadable=read.unreadable.with_columns(date=pl.lit(day))
        )
    with watch("marts"):
        outputs = {
            "validated": split.validated,
            "dlq": split.dlq,
            "ohlcv": marts.ohlcv(split.validated, INTERVALS),
            "daily_volume": marts.daily_volume(split.validated),
        }
    # The Dagster types run these models on every output, raw_trades included.
    with watch("pandera"):
        for model, frame in (
            (RawTrades, raw), (ValidatedTrades, outputs["validated"]), (TradesDlq, outputs["dlq"]),
            (Ohlcv, outputs["ohlcv"]), (DailyVolume, outputs["daily_volume"]),
        ):  # fmt: skip
            model.to_schema().validate(frame, lazy=True)
    with watch("write"):  # the lake's layout: <asset>/date=<day>/part-0.parquet, date in the path
        for name, frame in outputs.items():
            path = UPath(out) / LAKE_NAMES[name] / f"date={day.isoformat()}" / "part-0.parquet"
            write_parquet_atomically(frame.drop("date"), path)
    return watch.stages


def run_dagster(landing: str, day: date, out: Path) -> dict[str, float]:
    """The whole partition through Dagster: every asset and check, on a SQLite-backed instance."""
    watch = Stopwatch()
    with watch("startup"):
        os.environ["TRADE_PLATFORM_LANDING_URL"] = landing
        os.environ["TRADE_PLATFORM_LAKE_URL"] = str(out)
        from dagster import DagsterInstance, materialize

        from trade_platform.checks import ALL_CHECKS
        from trade_platform.definitions import defs

        home = tempfile.mkdtemp(prefix="dagster-home-", dir=out)
        instance = DagsterInstance.local_temp(home)
        assets = list(defs.assets or [])
        resources = defs.resources
    with watch("materialize"):
        result = materialize(
            [*assets, *ALL_CHECKS], partition_key=day.isoformat(), instance=instance, resources=resources
        )
    if not result.success:
        raise RuntimeError("materialize failed")
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    if failed:
        raise RuntimeError(f"checks failed: {failed}")
    instance.dispose()
    return watch.stages
