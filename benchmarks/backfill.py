"""``python -m benchmarks.backfill``: a year of daily partitions through Dagster, the way a user runs it.

Every asset and check of the code location runs. The ways timed (``--modes``):

- ``ranges``: the whole range as runs over ``--batch-days`` consecutive partitions each (the run
  tags ``dagster/asset_partition_range_start/end`` that ``dagster asset materialize
  --partition-range`` sets), one after the other, on a SQLite instance; with ``--batch-days 365``
  it is one run.
- ``ranges-postgres``: the same on an instance stored in PostgreSQL (a cluster of the project's
  own, from ``scripts/stack.py``); ``ranges-postgres-batched`` also sets
  ``DAGSTER_EVENT_BATCH_SIZE`` (``--event-batch-size``), so a range run's events are written in
  batches.
- ``stack``: ``trade-platform backfill --wait`` on the whole scale-out stack (PostgreSQL, Redis,
  the daemon and two Celery workers), with ``TRADE_PLATFORM_MAX_PARTITIONS_PER_RUN=--batch-days``;
  landing zone and lake on local disk, which both workers reach on this one machine.
- ``per-partition``: one run per partition, timed on ``--sample`` days spread over the range and
  extrapolated to all of them.

Each way runs in its own process, so its peak RSS is its own (the stack's is not measured).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.common import embedded_instance, peak_rss_mib, write_landing
from benchmarks.table_formats import backfill_formats, order_of_rep, parse_formats, runs_in

ROOT = Path(__file__).resolve().parent
START = date(2024, 1, 1)


def days(n: int) -> list[date]:
    return [START + timedelta(days=offset) for offset in range(n)]


def _write_day(args: tuple[str, int, str]) -> str:
    landing, n_trades, day = args
    marker = Path(landing) / "trades" / f"date={day}" / ".complete"
    if not marker.exists():
        write_landing(Path(landing), n_trades, day=date.fromisoformat(day), seed=7)
        marker.write_text("ok")
    return day


def generate(landing: Path, n_days: int, n_trades: int) -> float:
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for _ in pool.map(_write_day, [(str(landing), n_trades, d.isoformat()) for d in days(n_days)]):
            pass
    return time.perf_counter() - started


def child(
    mode: str, landing: Path, work: Path, n_days: int, batch_days: int, sample: int, postgres: str,
    table_formats: list[str], max_minutes: float,
) -> dict:  # fmt: skip
    """The mode's runs; with ``table_formats``, each batch once in each format (a lake and an
    instance each), the formats' order alternating from batch to batch. No batch starts after
    ``max_minutes`` (0: no limit): ``days_run`` says how many days the runs covered."""
    targets = {name: _target(mode, landing, work, postgres, name) for name in table_formats or [""]}
    all_days = [d.isoformat() for d in days(n_days)]
    runs = []
    if mode.startswith("ranges"):
        batches = [all_days[i : i + batch_days] for i in range(0, len(all_days), batch_days)]
    else:
        step = max(1, len(all_days) // sample)
        batches = [[day] for day in all_days[::step][:sample]]
    started = time.perf_counter()
    for number, batch in enumerate(batches):
        if max_minutes and time.perf_counter() - started > max_minutes * 60:
            break
        for table_format in order_of_rep(list(targets), number):
            job, instance = targets[table_format]
            begin = time.perf_counter()
            tags = {
                "dagster/asset_partition_range_start": batch[0],
                "dagster/asset_partition_range_end": batch[-1],
            }
            result = (
                job.execute_in_process(partition_key=batch[0], instance=instance, raise_on_error=False)
                if len(batch) == 1
                else job.execute_in_process(tags=tags, instance=instance, raise_on_error=False)
            )
            failed_checks = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
            runs.append({
                "first": batch[0], "last": batch[-1], "days": len(batch), "seconds": time.perf_counter() - begin,
                "success": result.success, "failed_checks": failed_checks,
            })  # fmt: skip
            if table_format:  # other work on the machine skews wall time
                runs[-1] |= {"table_format": table_format, "load_average": os.getloadavg()[0]}
            print(f"  {run_name(mode, table_format)} {batch[0]}..{batch[-1]}: {runs[-1]['seconds']:.1f}s "
                  f"success={result.success}", file=sys.stderr, flush=True)  # fmt: skip
    days_run = sum(run["days"] for run in runs) // len(targets)
    return {"mode": mode, "total_seconds": time.perf_counter() - started, "runs": runs, "days_run": days_run}


def _target(mode: str, landing: Path, work: Path, postgres: str, table_format: str):
    """The job writing ``lake-<name>`` in ``table_format`` and its own instance, both emptied first."""
    from dagster import DagsterInstance

    from trade_platform.definitions import build_defs
    from trade_platform.settings import Settings

    name = run_name(mode, table_format)
    lake, home = work / f"lake-{name}", work / f"dagster-home-{name}"
    for folder in lake, home:
        shutil.rmtree(folder, ignore_errors=True)
    settings = Settings(
        landing_url=str(landing), lake_url=str(lake), start_date=START, dbt_models=(),
        table_format=table_format or "parquet",
    )  # fmt: skip  # the marts pipeline BENCHMARKS.md measures: no dbt model
    job = build_defs(settings).resolve_implicit_global_asset_job_def()
    home.mkdir(parents=True)
    if postgres:
        (home / "dagster.yaml").write_text(f"storage:\n  postgres:\n    postgres_url: {postgres}\n")
        return job, DagsterInstance.from_config(str(home))
    return job, embedded_instance(home)


def run_name(mode: str, table_format: str) -> str:
    """``<mode>``, or ``<mode>-<format>`` when formats are compared: its lake is ``lake-<name>``."""
    return f"{mode}-{table_format}" if table_format else mode


def run_child(mode: str, args: argparse.Namespace, postgres: str = "") -> dict:
    command = [
        sys.executable, "-m", "benchmarks.backfill", "--child", mode, "--work", str(args.work),
        "--days", str(args.days), "--trades-per-day", str(args.trades_per_day),
        "--batch-days", str(args.batch_days), "--sample", str(args.sample), "--postgres", postgres,
        "--max-minutes", str(args.max_minutes),
        *(["--table-formats", ",".join(args.table_formats)] if args.table_formats else []),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if mode.endswith("-batched"):
        env["DAGSTER_EVENT_BATCH_SIZE"] = str(args.event_batch_size)
    stdout_path, stderr_path = args.work / f"{mode}.stdout", args.work / f"{mode}.log"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=ROOT.parent)
        process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"backfill child {mode} failed; see {stderr_path}")
    result = json.loads(stdout_path.read_text().strip().splitlines()[-1])
    if not args.table_formats:
        return result | {"lake": str(args.work / f"lake-{mode}")}
    return {  # one result per format, its runs' time its total; the process (and its RSS) shared
        name: result
        | runs_in(result["runs"], name)
        | {"lake": str(args.work / f"lake-{run_name(mode, name)}")}
        for name in args.table_formats
    }


def _stack_module():
    sys.path.insert(0, str(ROOT.parent / "scripts"))
    import stack

    return stack


@contextlib.contextmanager
def postgres_cluster(folder: Path) -> Iterator[str]:
    """A PostgreSQL cluster of the project's own (Debian's binaries) for one mode; its URL."""
    services = _stack_module().Stack(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield services.start_postgres()
    finally:
        services.down()


def run_on_stack(args: argparse.Namespace, landing: Path) -> dict:
    """``trade-platform backfill --wait`` of the whole range on the scale-out stack."""
    stack = _stack_module()
    lake = args.work / "lake-stack"
    shutil.rmtree(lake, ignore_errors=True)
    env = {
        "TRADE_PLATFORM_LANDING_URL": str(landing),
        "TRADE_PLATFORM_LAKE_URL": str(lake),
        "TRADE_PLATFORM_START_DATE": START.isoformat(),
        "TRADE_PLATFORM_MAX_PARTITIONS_PER_RUN": str(args.batch_days),
    }
    with stack.Stack(args.work / "stack", env=env) as services:
        services.stop_sensors("landing_sensor", "freshness_sensor")  # only the backfill's runs
        last = days(args.days)[-1].isoformat()
        command = [str(Path(sys.executable).with_name("trade-platform")), "backfill", "--from", START.isoformat(),
                   "--to", last, "--wait"]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, env=services.client_env(), capture_output=True, text=True)
        seconds = time.perf_counter() - started
    (args.work / "stack.log").write_text(done.stdout + done.stderr)
    return {
        "mode": "stack",
        "total_seconds": seconds,
        "workers": 2,
        "runs": [{"success": done.returncode == 0, "output": done.stdout.splitlines()[-3:]}],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--trades-per-day", type=int, default=200_000)
    parser.add_argument("--batch-days", type=int, default=30, help="partitions per run in the ranges mode")
    parser.add_argument("--sample", type=int, default=6, help="runs timed in the per-partition mode")
    parser.add_argument("--modes", default="per-partition,ranges")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "backfill")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument(
        "--event-batch-size", type=int, default=1000, help="DAGSTER_EVENT_BATCH_SIZE of *-batched"
    )
    parser.add_argument("--table-formats", type=parse_formats, default=[],
                        help="run each batch of days in each lake format, alternating, e.g. parquet,iceberg")  # fmt: skip
    parser.add_argument("--label", default="", help="suffix of the results file name")
    parser.add_argument(
        "--max-minutes", type=float, default=0, help="start no batch after this (0: no limit)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--postgres", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.table_formats and not set(modes) <= {"ranges", "per-partition"}:
        parser.error("--table-formats: only the ranges and per-partition modes run in several formats")
    landing = args.work / f"landing-{args.trades_per_day}"
    if args.child:
        result = child(
            args.child, landing, args.work, args.days, args.batch_days, args.sample, args.postgres,
            args.table_formats, args.max_minutes,
        )  # fmt: skip
        print(json.dumps({**result, "peak_rss_mib": peak_rss_mib()}))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"generating {args.days} days x {args.trades_per_day:,} trades ...", flush=True)
    generation = generate(landing, args.days, args.trades_per_day)
    print(f"  landing ready in {generation:.0f}s", flush=True)
    report = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.backfill " + " ".join(argv if argv is not None else sys.argv[1:]),
        "days": args.days, "trades_per_day": args.trades_per_day, "batch_days": args.batch_days,
        "modes": {},
    } | ({"table_formats": args.table_formats} if args.table_formats else {})  # fmt: skip
    for mode in modes:
        if mode == "stack":
            result = run_on_stack(args, landing)
        elif mode.startswith("ranges-postgres"):
            with postgres_cluster(args.work / f"postgres-{mode}") as url:
                result = run_child(mode, args, url)
        else:
            result = run_child(mode, args)
        if args.table_formats:
            report["modes"][mode] = backfill_formats(
                {n: summarize(mode, args, r, n) for n, r in result.items()}
            )
        else:
            report["modes"][mode] = summarize(mode, args, result)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{date.today().isoformat()}-backfill{'-' + args.label if args.label else ''}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path}")
    ok = all(m["all_runs_succeeded"] and not m.get("format_disagreements") for m in report["modes"].values())
    return 0 if ok else 1


def summarize(mode: str, args: argparse.Namespace, result: dict, table_format: str = "") -> dict:
    """The mode's result (in ``table_format``) with its totals and verdict, as printed."""
    label = " ".join(filter(None, (mode, table_format)))
    if mode == "per-partition":
        per_run = statistics.median(run["seconds"] for run in result["runs"])
        result["median_run_seconds"] = per_run
        result["extrapolated_total_seconds"] = per_run * args.days
        print(f"{label}: median {per_run:.2f}s per run -> {per_run * args.days / 60:.1f} min for {args.days} days"
              f" (peak RSS {result['peak_rss_mib']:.0f} MiB)", flush=True)  # fmt: skip
    else:
        rss = (
            f"peak RSS {result['peak_rss_mib']:.0f} MiB" if result.get("peak_rss_mib") else "RSS not measured"
        )
        print(f"{label}, ranges of {args.batch_days} days: {result['total_seconds'] / 60:.1f} min for "
              f"{result['days_run']} days ({rss})", flush=True)  # fmt: skip
    # Failed checks are recorded (freshness, say, fails on old data by design); a failed run is not ok.
    result["all_runs_succeeded"] = all(run["success"] for run in result["runs"])
    return result


if __name__ == "__main__":
    raise SystemExit(main())
