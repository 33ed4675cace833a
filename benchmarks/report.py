"""``python -m benchmarks.report RESULTS.json [BACKFILL.json]``: the Markdown tables for BENCHMARKS.md.

Every ratio is computed from the one run in the given file.
"""

from __future__ import annotations

import json
import sys

LABELS = {
    "platform": "trade-platform (functions + I/O manager)",
    "dagster": "trade-platform through Dagster (`materialize`)",
    "duckdb": "DuckDB SQL",
    "pandas": "pandas (pyarrow strings)",
    "naive": "naive (Pydantic per record)",
}


def size_table(size: dict, extrapolate_naive_from: dict | None = None) -> str:
    impls = size["impls"]
    platform = impls["platform"]["median_seconds"]
    n = size["n_trades"]
    rows = [
        f"### {n:,} trades",
        "",
        "| implementation | median s | CPU s | trades/s | platform is N x faster | peak RSS MiB | stages (median s) | agrees |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for impl, result in impls.items():
        if "skipped" in result:
            if extrapolate_naive_from and impl in extrapolate_naive_from["impls"]:
                base = extrapolate_naive_from["impls"][impl]
                seconds = base["median_seconds"] * n / extrapolate_naive_from["n_trades"]
                rows.append(
                    f"| {LABELS[impl]} | ~{seconds:.0f} (extrapolated linearly from {extrapolate_naive_from['n_trades']:,}) | "
                    f"| ~{n / seconds:,.0f} | ~{seconds / platform:.0f} | n/a | not run | n/a |"
                )
            continue
        seconds = result["median_seconds"]
        stages = ", ".join(f"{k} {v:.2f}" for k, v in result["median_stages"].items())
        agrees = (
            "reference" if impl == "platform" else ("yes" if not result.get("disagreements") else "**NO**")
        )
        ratio = "1" if impl == "platform" else f"{seconds / platform:.1f}"
        rows.append(
            f"| {LABELS[impl]} | {seconds:.2f} | {result['median_cpu_seconds']:.2f} | {n / seconds:,.0f} | {ratio} | {result['peak_rss_mib']:.0f} | {stages} | {agrees} |"
        )
    stages = impls["platform"]["median_stages"]
    rows += ["", f"pandera share of the platform's time: {stages.get('pandera', 0) / platform:.1%}"]
    return "\n".join(rows)


def backfill_table(report: dict) -> str:
    rows = [
        f"### Backfill: {report['days']} days x {report['trades_per_day']:,} trades/day, all assets and checks, SQLite instance",
        "",
        "| how | runs | wall clock | per partition | peak RSS MiB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for mode, result in report["modes"].items():
        if mode == "per-partition":
            total = result["extrapolated_total_seconds"]
            rows.append(
                f"| one run per partition (median of {len(result['runs'])} sampled runs, extrapolated) | {report['days']} "
                f"| ~{total / 60:.1f} min | {result['median_run_seconds']:.2f} s | {result['peak_rss_mib']:.0f} |"
            )
        else:
            total = result["total_seconds"]
            rows.append(
                f"| partition-range runs of {report['batch_days']} days | {len(result['runs'])} "
                f"| {total / 60:.1f} min | {total / report['days']:.2f} s | {result['peak_rss_mib']:.0f} |"
            )
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    results = json.load(open(argv[0]))
    sizes = results["sizes"]
    smallest_naive = next((s for s in sizes if "median_seconds" in s["impls"].get("naive", {})), None)
    print(
        f"Command: `{results['command']}` (started {results['started_at']}, {results['reps']} repetitions)\n"
    )
    for size in sizes:
        print(size_table(size, smallest_naive) + "\n")
    for path in argv[1:]:
        print(backfill_table(json.load(open(path))) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
