"""A writer of an Iceberg table killed at any moment leaves the table at its previous or its next
snapshot: a day is the old rows or the new rows, never part, and the table stays writable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.overwrite import DayOverwrite
from trade_platform.core.iceberg.reads import scan_days

DAY = "2026-11-20"
ROWS = 100_000
KILL_AFTER_SECONDS = (0.05, 0.15, 0.3)
"""After the writer's first commit (a write takes about 0.2 s): its next write is under way at some stage."""
pytestmark = pytest.mark.slow

# Overwrites DAY of daily_volume again and again, alternating two versions, in batches.
WRITER = f"""
import itertools, sys
from datetime import date
import polars as pl
from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.overwrite import DayOverwrite
from trade_platform_tests.system.test_iceberg_crash_safety import version
tables = IcebergTables(sys.argv[1], "default", "trade_platform")
for n in itertools.count():
    writer = DayOverwrite(tables, "daily_volume")
    frame = version(n % 2)
    writer.add(date.fromisoformat("{DAY}"), frame.iter_slices(ROWS // 4))
    writer.commit()
    print("committed", flush=True)
""".replace("ROWS", str(ROWS))


def version(which: int) -> pl.DataFrame:
    """One of the two versions of the day: every row says which."""
    prices = {
        c: pl.lit(1.0 + which)
        for c in ("total_volume", "notional", "vwap", "avg_price", "low_price", "high_price")
    }
    return pl.select(
        symbol=pl.int_range(ROWS).cast(pl.String),
        trade_count=pl.lit(1, pl.Int64),
        **prices,
        date=pl.lit(date.fromisoformat(DAY)),
    )


def overwrite(tables: IcebergTables, which: int) -> None:
    writer = DayOverwrite(tables, "daily_volume")
    writer.add(date.fromisoformat(DAY), [version(which)])
    writer.commit()


def stored(tables: IcebergTables) -> pl.DataFrame:
    table = IcebergTables(tables.lake_url, "default", "trade_platform").table("daily_volume")  # a fresh load
    return scan_days(table, "daily_volume", [DAY]).collect()


def test_a_killed_iceberg_writer_leaves_the_day_old_or_new_and_the_table_writable(tmp_path: Path):
    tables = IcebergTables(str(tmp_path / "lake"), "default", "trade_platform")
    overwrite(tables, 1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for delay in KILL_AFTER_SECONDS:
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, tables.lake_url], env=env, stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout.readline() == "committed\n"
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        day = stored(tables)
        assert day.height == ROWS and day["symbol"].is_unique().all()
        assert day["vwap"].n_unique() == 1  # all rows of one version
    snapshots = len(tables.table("daily_volume").snapshots())
    overwrite(tables, 0)
    assert len(tables.table("daily_volume").snapshots()) == snapshots + 1
    assert stored(tables)["vwap"].unique().to_list() == [1.0]
