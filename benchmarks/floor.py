"""``python -m benchmarks.floor``: what Dagster alone costs for this code location's runs.

The code location's assets and checks are rebuilt hollow: the same keys, partitions,
dependencies, blocking checks and backfill policies, the same steps, each check still looking
up the materializations it judges and recording one evaluation per partition, but no body reads,
validates, writes or computes anything. They run the way ``benchmarks.run`` and
``benchmarks.backfill`` run the real ones, on the embedded instance:

- ``cold``: one day in a fresh Python process, from spawn to exit (imports, ``build_defs``, the
  instance, the run), ``--reps`` times;
- ``day``: one day per run in one process, ``--reps`` runs after a first one;
- ``range``: ``--reps`` range runs of ``--days`` days in one process.

Wall and CPU seconds (every thread and child) are recorded for each: on this 2-core machine the
CPU seconds say what the same work could cost at best with both cores busy. What the real runs
take beyond these figures is the product's work; these figures are what no change to that work
can remove.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parent
FIRST_DAY = date(2024, 1, 1)


def hollow_job():
    """The implicit asset job of the code location (no dbt models) with hollow bodies, without
    the unpartitioned ``freshness`` checks (``benchmarks.run`` leaves them out too; a range run
    has them once, not per day)."""
    from dagster import Definitions, MaterializeResult, asset_check, multi_asset

    from trade_platform.definitions import build_defs
    from trade_platform.lib.partitioned_checks import Verdict, evaluate_per_partition
    from trade_platform.settings import Settings

    def hollow_assets(ad, order: list):
        @multi_asset(name=ad.node_def.name, specs=list(ad.specs), backfill_policy=ad.backfill_policy)
        def assets(context):
            for key in sorted(ad.keys, key=order.index):  # Dagster wants a step's outputs in this order
                yield MaterializeResult(asset_key=key)

        return assets

    def hollow_partitioned_check(ad):
        (spec,) = ad.check_specs

        @asset_check(
            asset=spec.asset_key, name=spec.name, partitions_def=ad.partitions_def, blocking=spec.blocking
        )
        def check(context):
            yield from evaluate_per_partition(context, lambda day: Verdict(True, "hollow"))

        return check

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(landing_url=folder, lake_url=folder, dbt_models=())
        graph = build_defs(settings).resolve_asset_graph()
    assets, checks = [], []
    for ad in graph.assets_defs:
        if not ad.is_executable:
            continue
        if ad.keys:
            assets.append(hollow_assets(ad, graph.toposorted_asset_keys))
        elif ad.partitions_def is not None:
            checks.append(hollow_partitioned_check(ad))
    return Definitions(assets=assets, asset_checks=checks).resolve_implicit_global_asset_job_def()


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(job, instance, days: list[str]) -> dict:
    began, cpu = time.perf_counter(), _cpu_self()
    if len(days) == 1:
        result = job.execute_in_process(partition_key=days[0], instance=instance, raise_on_error=False)
    else:
        tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
        result = job.execute_in_process(tags=tags, instance=instance, raise_on_error=False)
    if not result.success:
        raise SystemExit(f"the hollow run of {days[0]}..{days[-1]} failed")
    return {"days": len(days), "seconds": time.perf_counter() - began, "cpu_seconds": _cpu_self() - cpu}


def _days(start: int, n: int) -> list[str]:
    return [(FIRST_DAY + timedelta(days=start + i)).isoformat() for i in range(n)]


def child(mode: str, home: Path, reps: int, n_days: int, began: float) -> dict:
    """``cold``: one day; ``warm``: a first day, ``reps`` days, then ``reps`` ranges."""
    from benchmarks.common import embedded_instance

    job, instance = hollow_job(), embedded_instance(home)
    if mode == "cold":  # began: before the imports of __main__
        return {"startup_seconds": time.perf_counter() - began} | _run(job, instance, _days(0, 1))
    _run(job, instance, _days(0, 1))  # the first run of the process pays for lazy imports
    days = [_run(job, instance, _days(1 + i, 1)) for i in range(reps)]
    ranges = [_run(job, instance, _days(1 + reps + i * n_days, n_days)) for i in range(reps)]
    return {"day": days, "range": ranges}


def _spawn(mode: str, home: Path, args: argparse.Namespace) -> tuple[dict, float, float]:
    """Run ``child`` in a fresh process: its answer, wall seconds from spawn to exit, CPU seconds."""
    command = [sys.executable, "-m", "benchmarks.floor", "--child", mode, "--home", str(home),
               "--reps", str(args.reps), "--days", str(args.days)]  # fmt: skip
    began, cpu = time.perf_counter(), _cpu_children()
    done = subprocess.run(command, cwd=ROOT.parent, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1]), time.perf_counter() - began, _cpu_children() - cpu


def _summary(runs: list[dict]) -> dict:
    return {
        "median_seconds": statistics.median(r["seconds"] for r in runs),
        "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "per_day_seconds": statistics.median(r["seconds"] / r["days"] for r in runs),
        "per_day_cpu_seconds": statistics.median(r["cpu_seconds"] / r["days"] for r in runs),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--days", type=int, default=30, help="days per range run")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--label", default="floor")
    parser.add_argument("--child", choices=("cold", "warm"), help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.home, args.reps, args.days, STARTED)))
        return 0

    result: dict = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "command": "python -m benchmarks.floor " + " ".join(argv or sys.argv[1:])}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        cold = []
        for rep in range(args.reps):
            first, wall, cpu = _spawn("cold", Path(folder) / f"cold-{rep}", args)
            cold.append({"days": 1, "seconds": wall, "cpu_seconds": cpu, "first_run": first})
            print(f"cold process {rep + 1}: {wall:.2f}s wall, {cpu:.2f}s CPU from spawn to exit; "
                  f"imports, build, instance {first['startup_seconds']:.2f}s, the run {first['seconds']:.2f}s",
                  file=sys.stderr, flush=True)  # fmt: skip
        warm, _, _ = _spawn("warm", Path(folder) / "warm", args)
    result |= {"cold": _summary(cold), "day": _summary(warm["day"]), "range": _summary(warm["range"]),
               "load_average": os.getloadavg()[0]}  # fmt: skip
    for name in ("cold", "day", "range"):
        s = result[name]
        print(f"{name:>5}: run {s['median_seconds']:.2f}s wall, {s['median_cpu_seconds']:.2f}s CPU; "
              f"per day {s['per_day_seconds']:.3f}s wall, {s['per_day_cpu_seconds']:.3f}s CPU (medians)")  # fmt: skip
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{date.today().isoformat()}-{args.label}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
