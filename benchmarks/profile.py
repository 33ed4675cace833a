"""``python -m benchmarks.profile``: where a Dagster run's time goes (issue 27, item 2).

Generates a landing day (or ``--days`` of them) with the benchmarks' own helpers, then samples a
fresh process that materializes every asset and check through Dagster on a SQLite instance (as
``benchmarks.platform_impl.run_dagster`` does; ``--days`` > 1: one range run, as
``benchmarks.backfill --modes ranges``) with ``py-spy record --idle`` (wall time, not CPU time),
and prints the samples per bucket. Settings come from the environment, so
``TRADE_PLATFORM_DBT_MODELS=all`` or ``TRADE_PLATFORM_TABLE_FORMAT=iceberg`` profile those paths
(the dbt models are off unless set). The child also writes its counts (events per type, Parquet
reads per step with the bytes of the files they open, step times) next to the profile.

    python -m benchmarks.profile --trades 500000 --name day-500k
    python -m benchmarks.profile --trades 200000 --days 30 --name backfill-30x200k
    python -m benchmarks.profile --analyse benchmarks/results/profiles/day-500k.speedscope.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent
START = date(2024, 1, 1)
STEP_BOUNDS = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE")  # a step's time: from the first to the last
# (bucket, a test on one stack frame's (function, file)), most specific first: a sample goes to
# the first bucket whose test matches any frame of its stack.
RUN_BUCKETS = [
    ("event log: writes (store_event)", lambda f, p: f == "store_event"),
    ("event log/run storage: queries", lambda f, p: "dagster/_core/storage" in p),
    ("logging", lambda f, p: "/logging/" in p or p.endswith("log_manager.py")),
    ("imports (lazy, in the run)", lambda f, p: f == "_find_and_load"),
    ("checks: column_schema", lambda f, p: f == "column_schema" and "column_checks" in p),
    ("checks: other", lambda f, p: p.endswith("checks.py") and "trade_platform/defs" in p),
    ("I/O manager: write (encode, rename, metadata)", lambda f, p: f == "handle_output"),
    ("I/O manager: read (load_input)", lambda f, p: f == "load_input"),
    ("type checks (pandera on outputs)", lambda f, p: "dagster_types" in p or "/pandera/" in p),
    ("ingest: read + parse landing", lambda f, p: "core/landing" in p),
    ("ingest: validation", lambda f, p: p.endswith("core/validation.py")),
    ("ingest: pseudonymise", lambda f, p: "pseudonymise" in p),
    ("ingest: spill (DLQ/validated to scratch)", lambda f, p: "core/spill" in p),
    ("ingest: other", lambda f, p: "defs/ingest/" in p or p.endswith("core/ingest.py")),
    ("marts compute", lambda f, p: "defs/marts/" in p or "core/marts" in p),
    ("dbt models", lambda f, p: "defs/analytics" in p or "dagster_dbt" in p),
]


def bucket_of(stack: list[tuple[str, str]]) -> str:
    stack = [(name.rsplit(".", 1)[-1], path) for name, path in stack]  # "Class.method" -> "method"
    names = {name for name, _ in stack}
    if "build_defs" in names:
        return "code location load (build_defs)"
    if not names & {"materialize", "execute_in_process"}:  # before or after the run
        if "local_temp" in names:
            return "instance creation (SQLite schema)"
        if names & {"all_logs", "get_asset_check_evaluations", "dumps"}:
            return "profiler bookkeeping (not the run)"
        if "_find_and_load" in names:
            return "imports (startup)"
        return "interpreter start/exit (no Python frame)" if len(stack) <= 1 else "other startup"
    if "create_run_for_job" in names or "create_run" in names:
        return "run creation"
    for bucket, test in RUN_BUCKETS:
        if any(test(name, path) for name, path in stack):
            return bucket
    return "Dagster orchestration (other)"


def _is_run_main_thread(profile: dict, frames: list[tuple[str, str]]) -> bool:
    """The profiled process's main thread: its thread id is the process id, and its stacks
    start at its own process (py-spy ``--subprocesses`` roots a child's stacks at its parent)."""
    _, pid, _, tid, *_ = profile["name"].split()
    roots = {frames[sample[0]][0].split(":", 1)[0] for sample in profile["samples"] if sample}
    return pid == tid and roots == {f"process {pid}"}


def imported_package(stack: list[tuple[str, str]]) -> str | None:
    """The top-level package whose module body runs innermost in an import, if any."""
    bodies = [path for name, path in stack if name == "<module>" and "site-packages" in path]
    own = [path for name, path in stack if name == "<module>" and "/trade_platform/" in path]
    if bodies:
        return bodies[-1].split("site-packages/", 1)[1].split("/", 1)[0]
    return "trade_platform" if own else None


def analyse(speedscope: Path, top: int = 15) -> dict:
    """Main-thread samples per bucket (the wall time: the run is one thread that waits for the
    I/O manager's writer threads), and the functions with most samples, inclusive and self."""
    opener = gzip.open if speedscope.suffix == ".gz" else open
    with opener(speedscope, "rt") as handle:
        data = json.load(handle)
    frames = [(f["name"], f.get("file") or "") for f in data["shared"]["frames"]]
    buckets, inclusive, leaf, threads, imports, events = (Counter() for _ in range(6))
    main = [p for p in data["profiles"] if _is_run_main_thread(p, frames)]
    for profile in data["profiles"]:
        threads[profile["name"]] = sum(profile["weights"])
    for profile in main:
        for sample, weight in zip(profile["samples"], profile["weights"], strict=True):
            stack = [frames[i] for i in sample]
            bucket = bucket_of(stack)
            buckets[bucket] += weight
            kinds = [name for name, path in stack if path.endswith("events/__init__.py")]
            if bucket.startswith("event log: writes"):
                events[kinds[0] if kinds else "log message or other"] += weight
            if any(name == "_find_and_load" for name, _ in stack):
                imports[imported_package(stack) or "?"] += weight
            for key in {f"{name} ({Path(path).name})" for name, path in stack}:
                inclusive[key] += weight
            leaf[f"{stack[-1][0]} ({Path(stack[-1][1]).name})" if stack else "?"] += weight
    total = sum(buckets.values())
    return {
        "main_thread_seconds": total,  # py-spy's speedscope weights are seconds
        "threads_seconds": dict(threads),
        "buckets": {k: {"seconds": v, "share": v / total} for k, v in buckets.most_common()},
        "imports_by_package": imports.most_common(top),
        "event_writes_by_kind": events.most_common(),
        "top_inclusive": inclusive.most_common(top),
        "top_self": leaf.most_common(top),
    }


def table(counts: list[Path]) -> str:
    """The buckets of several profiles side by side: a Markdown table, seconds and share."""
    found = [json.loads(path.read_text())["profile"] for path in counts]
    rows = ["| bucket | " + " | ".join(p.name.removesuffix(".counts.json") for p in counts) + " |"]
    rows.append("|---" * (len(counts) + 1) + "|")
    for bucket in dict.fromkeys(b for profile in found for b in profile["buckets"]):
        cells = [p["buckets"].get(bucket, {"seconds": 0, "share": 0}) for p in found]
        rows.append(
            f"| {bucket} | " + " | ".join(f"{c['seconds']:.2f} s ({c['share']:.1%})" for c in cells) + " |"
        )
    totals = " | ".join(f"**{p['main_thread_seconds']:.1f} s**" for p in found)
    return "\n".join([*rows, f"| **main thread, sampled** | {totals} |"])


def count_reads() -> list[dict]:
    """Wrap the Parquet readers the platform calls (``pl.scan_parquet`` and friends) so each
    call is recorded with the step that made it and the bytes of the files it opens."""
    import polars as pl
    import pyarrow.parquet as pq

    reads: list[dict] = []

    def step_key() -> str:
        frame = sys._getframe(2)
        while frame is not None:
            step = frame.f_locals.get("step_context")
            if step is not None and hasattr(step, "step"):
                return step.step.key
            frame = frame.f_back
        return "?"

    def size(source) -> int:
        paths = source if isinstance(source, list | tuple) else [source]
        found = [Path(str(p)) for p in paths if isinstance(p, str | os.PathLike)]
        return sum(p.stat().st_size if p.is_file() else 0 for p in found)

    def wrap(module, name: str) -> None:
        original = getattr(module, name)

        def counted(source, *args, **kwargs):
            reads.append({"reader": name, "step": step_key(), "bytes": size(source)})
            return original(source, *args, **kwargs)

        setattr(module, name, counted)

    for name in ("scan_parquet", "read_parquet", "read_parquet_schema"):
        wrap(pl, name)
    wrap(pq, "ParquetFile")
    return reads


def child(landing: Path, lake: Path, n_days: int, counts: Path) -> None:
    """The profiled process: build the code location, run every asset and check once."""
    started = time.perf_counter()
    reads = count_reads()
    import dataclasses

    from dagster import materialize

    from benchmarks.common import embedded_instance
    from trade_platform.definitions import build_defs
    from trade_platform.settings import Settings

    imported = time.perf_counter()
    settings = Settings.from_env(
        {**os.environ, "TRADE_PLATFORM_DBT_MODELS": os.environ.get("TRADE_PLATFORM_DBT_MODELS", "none")}
    )
    settings = dataclasses.replace(settings, landing_url=str(landing), lake_url=str(lake), start_date=START)
    defs = build_defs(settings)
    built = time.perf_counter()
    home = lake.parent / f"{lake.name}-dagster-home"
    home.mkdir(parents=True)
    instance = embedded_instance(home)
    first, last = START.isoformat(), (START + timedelta(days=n_days - 1)).isoformat()
    # Freshness judges yesterday, not the benchmark's day (as benchmarks.platform_impl leaves it out).
    checks = [c for c in defs.asset_checks or [] if all(k.name != "freshness" for k in c.check_keys)]
    if n_days == 1:
        result = materialize(
            [*(defs.assets or []), *checks], partition_key=first, instance=instance, resources=defs.resources
        )
    else:  # a range run, as benchmarks.backfill --modes ranges
        job = defs.resolve_implicit_global_asset_job_def()
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        result = job.execute_in_process(tags=tags, instance=instance, raise_on_error=False)
    ran = time.perf_counter()
    logs = instance.all_logs(result.run_id)
    events = Counter(e.dagster_event.event_type_value if e.dagster_event else "log message" for e in logs)
    steps: dict[str, list[float]] = {}
    for entry in logs:
        if entry.is_dagster_event and entry.get_dagster_event().event_type_value in STEP_BOUNDS:
            steps.setdefault(entry.step_key, []).append(entry.timestamp)
    per_step: dict[str, Counter] = {}
    for read in reads:
        per_step.setdefault(read["step"], Counter()).update(calls=1, bytes=read["bytes"])
    counts.write_text(json.dumps({
        "success": result.success,
        "failed_checks": [e.check_name for e in result.get_asset_check_evaluations() if not e.passed],
        "seconds": {"imports": imported - started, "build_defs": built - imported, "run": ran - built},
        "events": {"total": len(logs), **dict(events.most_common())},
        "step_seconds": {k: v[-1] - v[0] for k, v in steps.items()},
        "parquet_reads": {"calls": len(reads), "bytes": sum(r["bytes"] for r in reads), "per_step": per_step},
    }, indent=1))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trades", type=int, default=500_000, help="trades per landing day")
    parser.add_argument("--days", type=int, default=1, help="> 1: one range run over that many days")
    parser.add_argument("--name", default="day", help="file names of the profile and counts")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "profile")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "profiles")
    parser.add_argument("--py-spy", default="py-spy")
    parser.add_argument("--analyse", type=Path, help="only print the buckets of a saved profile")
    parser.add_argument("--table", type=Path, nargs="+", help="print saved counts files' buckets")
    parser.add_argument("--child", nargs=3, metavar=("LANDING", "LAKE", "COUNTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.days, Path(args.child[2]))
        return 0
    if args.table:
        print(table(args.table))
        return 0
    if args.analyse:  # a saved profile again, e.g. after the buckets changed; its counts refreshed
        found = analyse(args.analyse)
        counts = Path(str(args.analyse).split(".speedscope.json")[0] + ".counts.json")
        if counts.exists():
            counts.write_text(
                json.dumps({**json.loads(counts.read_text()), "profile": found}, indent=1) + "\n"
            )
        print(json.dumps(found, indent=1))
        return 0
    from benchmarks.backfill import _write_day

    landing, lake = args.work / f"landing-{args.trades}", args.work / f"lake-{args.name}"
    for offset in range(args.days):
        _write_day((str(landing), args.trades, (START + timedelta(days=offset)).isoformat()))
    for stale in (lake, lake.parent / f"{lake.name}-dagster-home"):
        shutil.rmtree(stale, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    profile, counts = args.out / f"{args.name}.speedscope.json", args.out / f"{args.name}.counts.json"
    command = [
        args.py_spy, "record", "--idle", "--subprocesses", "--rate", str(args.rate), "--format", "speedscope",
        "-o", str(profile), "--", sys.executable, "-m", "benchmarks.profile", "--days", str(args.days),
        "--child", str(landing), str(lake), str(counts),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=ROOT.parent, check=True)
    report = json.loads(counts.read_text())
    report.update(process_seconds=time.perf_counter() - started, load_average=os.getloadavg()[0])
    report["profile"] = analyse(profile)
    counts.write_text(json.dumps(report, indent=1) + "\n")
    if profile.stat().st_size > 2 * 2**20:
        with profile.open("rb") as raw, gzip.open(f"{profile}.gz", "wb") as packed:
            packed.write(raw.read())
        profile.unlink()
    print(json.dumps({k: report[k] for k in ("seconds", "process_seconds", "load_average")}))
    for bucket, value in report["profile"]["buckets"].items():
        print(f"  {value['share']:6.1%}  {bucket}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
