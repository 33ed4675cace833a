"""What every implementation shares: the day, the fixed ``now``, the landing data and the outputs.

Each implementation reads ``<landing>/trades/date=<day>/`` (one CSV and one Parquet file) and
writes ``validated``, ``dlq``, ``ohlcv`` and ``daily_volume`` as Parquet into its output folder,
either as ``<name>.parquet`` or in the platform lake's layout ``<name>/date=<day>/part-0.parquet``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from trade_platform.core.generate import generate_day, render

DAY = date(2024, 3, 1)
NOW = datetime(2026, 1, 1, tzinfo=UTC)  # one fixed "now" for every implementation
RUN_ID = "benchmark"
INTERVALS = ("1m", "5m", "1h")
INTERVAL_SECONDS = {"1m": 60, "5m": 300, "1h": 3600}
N_SYMBOLS = 50
BAD_FRACTION = 0.01
SEED = 42
OUTPUTS = ("validated", "dlq", "ohlcv", "daily_volume")
TRADE_FIELDS = ("trade_id", "symbol", "side", "price", "quantity", "timestamp", "exchange")
# The rules, restated for the independent implementations (values as in trade_platform.core.validation).
TRADE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}"
SYMBOL_PATTERN = r"[A-Z0-9_-]+"
EXCHANGE_PATTERN = r"[A-Z0-9_-]+"
CODES = (
    "malformed_record", "missing_field", "invalid_trade_id", "invalid_symbol", "invalid_side",
    "invalid_price", "invalid_quantity", "invalid_timestamp", "timestamp_no_timezone",
    "timestamp_in_future", "timestamp_outside_partition", "invalid_exchange", "duplicate_trade_id",
)  # fmt: skip


@dataclass(frozen=True)
class LandingFile:
    path: str
    relative_path: str  # as the platform's _source_file: relative to the landing root


def embedded_instance(home: Path | str):
    """A Dagster instance in ``home`` as the repository's commands and tests make it (the embedded
    instance, ``trade_platform.lib.sqlite_storage``); ``home`` is the caller's to delete."""
    from dagster import DagsterInstance

    from trade_platform.lib.sqlite_storage import embedded_instance_config

    Path(home).mkdir(parents=True, exist_ok=True)
    return DagsterInstance.local_temp(str(home), overrides=embedded_instance_config(Path(home)))


def peak_rss_mib() -> float:
    """This process's own peak RSS (``VmHWM``), for a child to report to its parent.

    A parent cannot take it from ``os.wait4``: Linux carries the parent's peak into the
    ``ru_maxrss`` of a child it starts (fork or vfork, then exec), so a worker started after the
    parent generated a 10M-trade landing day reported the parent's 5.5 GiB as its own.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


def write_landing(landing: Path, n_trades: int, day: date = DAY, seed: int = SEED) -> list[str]:
    """One landing day of ``n_trades`` from the platform's generator, as one CSV and one Parquet file.

    The generator's own format mix is kept except that JSONL records go to the CSV file; malformed
    records are always CSV lines.
    """
    # Without account_id/trader_id: the independent implementations know only the trade fields.
    generated = generate_day(
        day, n_trades, seed=seed, n_symbols=N_SYMBOLS, bad_fraction=BAD_FRACTION, identities=False
    )
    records = generated.records.with_columns(
        format=pl.when(pl.col("format") == "parquet").then(pl.lit("parquet")).otherwise(pl.lit("csv"))
    )
    folder = landing / "trades" / f"date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file_format in ("csv", "parquet"):
        path = folder / f"trades-{day:%Y%m%d}.{file_format}"
        path.write_bytes(render(records.filter(pl.col("format") == file_format), file_format))
        written.append(str(path))
    return written


def landing_files(landing: str, day: date = DAY) -> list[LandingFile]:
    folder = Path(landing) / "trades" / f"date={day.isoformat()}"
    return [
        LandingFile(str(folder / name), f"trades/date={day.isoformat()}/{name}")
        for name in sorted(os.listdir(folder))
        if not name.startswith((".", "_")) and name.endswith((".csv", ".parquet"))
    ]


class Stopwatch:
    """Named stage timings: ``with watch("read"): ...``."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    def __call__(self, name: str) -> _Stage:
        return _Stage(self, name)


class _Stage:
    def __init__(self, watch: Stopwatch, name: str) -> None:
        self.watch, self.name = watch, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.watch.stages[self.name] = (
            self.watch.stages.get(self.name, 0.0) + time.perf_counter() - self.started
        )


def load_output(out: Path, name: str) -> pl.DataFrame:
    """An implementation's output, whichever of the two layouts it wrote."""
    single = out / f"{name}.parquet"
    if single.exists():
        return pl.read_parquet(single)
    from benchmarks.table_formats import scan_table  # pyiceberg, for a lake of either format

    return scan_table(out, {"validated": "validated_trades", "dlq": "trades_dlq"}.get(name, name)).collect()
