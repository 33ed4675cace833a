"""``python -m benchmarks.open_day``: what a re-run of today costs once files were added to it.

Two measurements, each run of every asset and check through Dagster on a SQLite instance:

- ``one-more-file``: a day of ``--stored`` trades is materialized; then one file of ``--added``
  trades lands and the day runs again, in a fresh process, until the marts and checks are done:
  once reading only the added file (what a run does now), and once with the
  ``trade_platform/full_rerun`` tag (every file again: what every run did before).
- ``trading-day``: ``--files`` files of ``--file-trades`` trades land over a day, ``--per-run``
  at a time between runs (a file a minute for 8 hours, a run every 10 minutes: 480 and 10);
  the total CPU of all those runs, reading only added files and reading the day whole each
  time, against the same files ingested by one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

from benchmarks.common import DAY, N_SYMBOLS, embedded_instance, peak_rss_mib, write_landing
from trade_platform.core.generate import generate_day, render

FULL_RERUN = {"trade_platform/full_rerun": "true"}
RESULTS = Path(__file__).resolve().parent / "results"


def write_added(landing: Path, name: str, n_trades: int, seed: int) -> None:
    """A CSV file of new trades (ids of their own), sorting after the day's other files."""
    generated = generate_day(
        DAY, n_trades, seed=seed, n_symbols=N_SYMBOLS, bad_fraction=0.01, identities=False
    )
    records = generated.records.with_columns(
        trade_id=pl.lit(f"{name}-") + pl.col("trade_id"), format=pl.lit("csv")
    )
    (landing / "trades" / f"date={DAY}" / f"{name}.csv").write_bytes(render(records, "csv"))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Day:
    """The day's job on one landing zone, lake and instance, in this process."""

    def __init__(self, folder: Path) -> None:
        from trade_platform.definitions import build_defs
        from trade_platform.settings import Settings

        self.landing, home = folder / "landing", folder / "home"
        home.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            landing_url=str(self.landing),
            lake_url=str(folder / "lake"),
            start_date=date(2024, 1, 1),
            dbt_models=(),  # the marts pipeline BENCHMARKS.md measures: no dbt model
        )
        self.job = build_defs(settings).resolve_implicit_global_asset_job_def()
        self.instance = embedded_instance(home)

    def run(self, tags: dict | None = None) -> dict:
        started, cpu = time.perf_counter(), cpu_seconds()
        result = self.job.execute_in_process(partition_key=DAY.isoformat(), instance=self.instance, tags=tags)
        assert result.success
        return {"seconds": time.perf_counter() - started, "cpu_seconds": cpu_seconds() - cpu}


def child(folder: str, full: bool) -> None:
    """One run of the day in this fresh process; prints its wall and CPU time and peak RSS."""
    started = time.perf_counter()
    measured = Day(Path(folder)).run(FULL_RERUN if full else None)
    measured.update(process_seconds=time.perf_counter() - started, peak_rss_mib=peak_rss_mib())
    print(json.dumps(measured))


def in_fresh_process(folder: Path, full: bool = False) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.open_day", "--child", str(folder), *(["--full"] if full else [])],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def one_more_file(folder: Path, stored: int, added: int) -> dict:
    write_landing(folder / "landing", stored, day=DAY, seed=7)
    first = in_fresh_process(folder)
    print(f"one-more-file: {stored:,} trades stored in {first['process_seconds']:.1f} s", flush=True)
    measured = {"stored_trades": stored, "added_trades": added, "first_run": first}
    for index, (mode, full) in enumerate((("added_file_only", False), ("whole_day", True)), start=1):
        write_added(folder / "landing", f"zz-added-{index}", added, seed=100 + index)
        measured[mode] = in_fresh_process(folder, full)
        print(f"one-more-file {mode}: {measured[mode]['process_seconds']:.1f} s", flush=True)
    return measured


def trading_day(folder: Path, files: int, file_trades: int, per_run: int) -> dict:
    measured = {"files": files, "file_trades": file_trades, "runs": -(-files // per_run)}
    for mode in ("once", "added_files_only", "whole_day"):
        day = Day(folder / mode)
        (day.landing / "trades" / f"date={DAY}").mkdir(parents=True)
        cpu = wall = 0.0
        for start in range(0, files, files if mode == "once" else per_run):
            for index in range(start, min(files, start + (files if mode == "once" else per_run))):
                write_added(day.landing, f"minute-{index:04d}", file_trades, seed=1000 + index)
            run = day.run(FULL_RERUN if mode == "whole_day" else None)
            cpu, wall = cpu + run["cpu_seconds"], wall + run["seconds"]
        measured[mode] = {"cpu_seconds": cpu, "seconds": wall}
        print(f"trading-day {mode}: {cpu:.1f} s CPU, {wall:.1f} s", flush=True)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stored", type=int, default=10_000_000, help="trades of the day already stored")
    parser.add_argument("--added", type=int, default=10_000, help="trades of the file that lands")
    parser.add_argument("--files", type=int, default=480, help="files landing over the trading day")
    parser.add_argument("--file-trades", type=int, default=1_000, help="trades per file of the trading day")
    parser.add_argument("--per-run", type=int, default=10, help="files landing between two runs")
    parser.add_argument("--only", choices=("one-more-file", "trading-day"), help="one measurement")
    parser.add_argument("--label", default="open-day")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.full)
    results = {"date": time.strftime("%Y-%m-%d"), "day": DAY.isoformat()}
    with tempfile.TemporaryDirectory(prefix="open-day-") as scratch:
        if args.only in (None, "one-more-file"):
            results["one_more_file"] = one_more_file(Path(scratch) / "one", args.stored, args.added)
        if args.only in (None, "trading-day"):
            results["trading_day"] = trading_day(
                Path(scratch) / "day", args.files, args.file_trades, args.per_run
            )
    out = RESULTS / f"{results['date']}-{args.label}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
