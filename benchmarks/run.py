"""``python -m benchmarks.run``: generate, run every implementation in its own process, check, report.

``--quick`` is the CI smoke run: small N, one repetition, exit 1 if any implementation disagrees
with the platform's outputs. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

from benchmarks.common import DAY, write_landing
from benchmarks.compare import disagreements
from benchmarks.table_formats import compare_lakes, parse_formats, ratios

ROOT = Path(__file__).resolve().parent
IMPLS = ("platform", "dagster", "duckdb", "pandas", "naive")


def run_worker(impl: str, landing: Path, out: Path, reps: int, table_formats: list[str] = ()) -> dict:
    """Run one implementation in a child process, which reports its own peak RSS; with
    ``table_formats``, each repetition once in each format, alternating, each format's figures
    under ``table_formats`` and the first format's at the top."""
    command = [
        sys.executable, "-m", "benchmarks.worker", impl, "--landing", str(landing), "--out", str(out),
        "--day", DAY.isoformat(), "--reps", str(reps), "--table-formats", ",".join(table_formats),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out.parent.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = out.parent / f"{impl}.stdout", out.parent / f"{impl}.stderr"
    started = time.perf_counter()
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=ROOT.parent)
        child.wait()
    if child.returncode != 0:
        raise RuntimeError(f"{impl} failed:\n{stderr_path.read_text()[-4000:]}")
    result = json.loads(stdout_path.read_text().strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    result["load_average_after"] = os.getloadavg()[0]  # other work on the machine skews wall time
    if not table_formats:
        return result | medians(impl, result["reps"])
    by_format = {
        name: medians(impl, [rep for rep in result["reps"] if rep["table_format"] == name])
        for name in table_formats
    }
    for name, ratio in ratios({name: f["median_seconds"] for name, f in by_format.items()}).items():
        by_format[name]["ratio_to_reference"] = ratio
    return result | by_format[table_formats[0]] | {"table_formats": by_format}


def medians(impl: str, reps: list[dict]) -> dict:
    """The median time (Dagster's: its ``materialize`` call), CPU time and stage times of ``reps``."""
    times = [rep["stages"]["materialize"] if impl == "dagster" else rep["seconds"] for rep in reps]
    return {
        "median_seconds": statistics.median(times),
        "median_cpu_seconds": statistics.median(rep["cpu_seconds"] for rep in reps),
        "median_stages": {s: statistics.median(rep["stages"][s] for rep in reps) for s in reps[0]["stages"]},
    }


def machine() -> dict:
    memory = next(
        (int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), None
    )
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        "?",
    )
    import dagster
    import duckdb  # noqa: E401
    import pandas
    import pandera
    import polars
    import pydantic

    return {
        "cpus": os.cpu_count(), "cpu_model": cpu, "memory_mib": memory, "python": platform.python_version(),
        "os": platform.platform(), "polars": polars.__version__, "pandas": pandas.__version__,
        "duckdb": duckdb.__version__, "pydantic": pydantic.__version__, "dagster": dagster.__version__,
        "pandera": pandera.__version__,
    }  # fmt: skip


def bench_size(
    n: int, work: Path, impls: list[str], reps: int, naive_max: int, table_formats: list[str] = ()
) -> dict:
    landing = work / f"landing-{n}"
    started = time.perf_counter()
    if not (landing / ".complete").exists():
        files = write_landing(landing, n)
        (landing / ".complete").write_text("\n".join(files))
    print(f"[{n:,} trades] landing ready in {time.perf_counter() - started:.1f}s", flush=True)
    results: dict = {"n_trades": n, "impls": {}}
    for impl in impls:
        if impl == "naive" and n > naive_max:
            results["impls"][impl] = {"skipped": f"naive runs only up to {naive_max:,} trades; extrapolated"}
            print(f"  {impl:9s} skipped (n > {naive_max:,})", flush=True)
            continue
        out = work / f"out-{n}" / impl
        formats = table_formats if impl == "dagster" else []
        result = run_worker(
            impl, landing, out, 1 if impl == "naive" and reps > 1 and n > 1_000_000 else reps, formats
        )
        if impl != "platform":
            candidate = out / formats[0] if formats else out
            result["disagreements"] = disagreements(work / f"out-{n}" / "platform", candidate)
        if formats:
            result |= compare_lakes({name: out / name for name in formats})
        results["impls"][impl] = result
        verdict = "agrees" if not result.get("disagreements") else f"DISAGREES: {result['disagreements']}"
        stages = ", ".join(f"{k} {v:.2f}" for k, v in result["median_stages"].items())
        print(
            f"  {impl:9s} median {result['median_seconds']:8.3f}s  rss {result['peak_rss_mib']:7.0f} MiB  "
            f"[{stages}]  {verdict if impl != 'platform' else 'reference'}",
            flush=True,
        )
        for name, figures in result.get("table_formats", {}).items():
            print(
                f"    {name:7s} median {figures['median_seconds']:8.3f}s  "
                f"{figures['ratio_to_reference']:.2f}x {formats[0]}",
                flush=True,
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000000,5000000", help="comma-separated trade counts")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument(
        "--naive-max", type=int, default=1_000_000, help="largest N the naive pipeline runs at"
    )
    parser.add_argument("--work", type=Path, default=ROOT / "data")
    parser.add_argument(
        "--quick", action="store_true", help="CI smoke run: 20k trades, 1 rep, no results file"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--label", default="", help="suffix of the results file name")
    parser.add_argument(
        "--table-formats",
        type=parse_formats,
        default=[],
        help="the lake formats to run the dagster implementation in, alternating, e.g. parquet,iceberg",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.reps, args.naive_max = "20000", 1, 10**9
    impls = [impl.strip() for impl in args.impls.split(",") if impl.strip()]
    if args.table_formats and "dagster" not in impls:
        parser.error("--table-formats runs the dagster implementation: name it in --impls")
    if "platform" in impls:  # the reference runs first
        impls.remove("platform")
    impls.insert(0, "platform")
    sizes = [int(size) for size in args.sizes.split(",")]
    report = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "load_average_at_start": os.getloadavg(),
        "reps": args.reps,
        "sizes": [
            bench_size(n, args.work, impls, args.reps, args.naive_max, args.table_formats) for n in sizes
        ],
    }
    failures = [
        f"{size['n_trades']} {impl}: {problem}"
        for size in report["sizes"]
        for impl, result in size["impls"].items()
        for problem in result.get("disagreements", []) + result.get("format_disagreements", [])
    ]
    if not args.quick:
        args.results.mkdir(parents=True, exist_ok=True)
        path = args.results / f"{date.today().isoformat()}{'-' + args.label if args.label else ''}.json"
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"results: {path}")
    if failures:
        print("DISAGREEMENT:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("all implementations agree with the platform")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
