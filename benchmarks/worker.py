"""One implementation, several repetitions, in this process: ``python -m benchmarks.worker IMPL ...``.

Prints one JSON line: each repetition's wall time and stage times, and this process's own peak
RSS, so memory is per implementation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import date
from pathlib import Path

IMPLEMENTATIONS = {
    "naive": "benchmarks.naive:run",
    "pandas": "benchmarks.pandas_impl:run",
    "duckdb": "benchmarks.duckdb_impl:run",
    "platform": "benchmarks.platform_impl:run",
    "dagster": "benchmarks.platform_impl:run_dagster",
}


def load(name: str):
    module, function = IMPLEMENTATIONS[name].split(":")
    return getattr(__import__(module, fromlist=[function]), function)


def rep_formats(args: argparse.Namespace, rep: int) -> list[str]:
    """The table formats of repetition ``rep`` in their order, or ``[""]``: the implementation's own."""
    if not args.table_formats:
        return [""]
    from benchmarks.table_formats import order_of_rep, parse_formats

    return order_of_rep(parse_formats(args.table_formats), rep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("impl", choices=sorted(IMPLEMENTATIONS))
    parser.add_argument("--landing", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--day", type=date.fromisoformat, required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--table-formats", default="", help="dagster only: each repetition in each format, alternating"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    run = load(args.impl)
    import_seconds = time.perf_counter() - started
    reps = []
    for rep in range(args.reps):
        for table_format in rep_formats(args, rep):
            out = args.out / table_format if table_format else args.out
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            begin, cpu = time.perf_counter(), time.process_time()
            stages = (
                run(args.landing, args.day, out, table_format)
                if table_format
                else run(args.landing, args.day, out)
            )
            reps.append(
                {
                    "seconds": time.perf_counter() - begin,
                    "cpu_seconds": time.process_time() - cpu,
                    "stages": stages,
                }
            )
            if table_format:
                reps[-1] |= {"table_format": table_format, "load_average": os.getloadavg()[0]}
    from benchmarks.common import peak_rss_mib

    print(
        json.dumps(
            {
                "impl": args.impl,
                "import_seconds": import_seconds,
                "reps": reps,
                "peak_rss_mib": peak_rss_mib(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
