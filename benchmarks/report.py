"""``python -m benchmarks.report RESULTS.json [BACKFILL.json ...]``: the Markdown tables for BENCHMARKS.md.

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


def formats_table(size: dict, impl: str) -> str:
    """An implementation run in each lake format, repetitions alternating (``--table-formats``)."""
    result = size["impls"][impl]
    formats = result["table_formats"]
    reference = next(iter(formats))
    agree = (
        "yes"
        if not result["format_disagreements"]
        else "**NO**: " + "; ".join(result["format_disagreements"])
    )
    rows = [
        f"### {size['n_trades']:,} trades, {LABELS[impl]}, by table format",
        "",
        f"| table format | median s | x {reference} | CPU s | CPU x {reference} | each repetition s (1-min load average) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, figures in formats.items():
        reps = ", ".join(
            f"{rep['stages'].get('materialize', rep['seconds']):.2f} ({rep['load_average']:.1f})"
            for rep in result["reps"]
            if rep["table_format"] == name
        )
        cpu = figures["median_cpu_seconds"]
        rows.append(
            f"| {name} | {figures['median_seconds']:.2f} | {figures['ratio_to_reference']:.2f} | {cpu:.2f} "
            f"| {cpu / formats[reference]['median_cpu_seconds']:.2f} | {reps} |"
        )
    counts = ", ".join(f"{asset} {rows:,}" for asset, rows in result["row_counts"][reference].items())
    return "\n".join([*rows, "", f"Outputs equal {reference}'s: {agree} (rows: {counts})."])


def backfill_formats_table(report: dict) -> str:
    """Each mode of the backfill in each lake format, one after the other (``--table-formats``)."""
    rows = [
        f"### Backfill: {report['days']} days x {report['trades_per_day']:,} trades/day, by table format",
        "",
        "| how | table format | runs | days run | wall clock | per partition | x first format | 1-min load average (min-max over runs) | lakes agree |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]  # fmt: skip
    for mode, compared in report["modes"].items():
        agree = "yes" if not compared["format_disagreements"] else "**NO**"
        for name, result in compared["table_formats"].items():
            total = result.get("extrapolated_total_seconds", result["total_seconds"])
            days = report["days"] if "extrapolated_total_seconds" in result else result["days_run"]
            loads = [run["load_average"] for run in result["runs"]]
            rows.append(
                f"| {mode} | {name} | {len(result['runs'])} | {days} | {total / 60:.1f} min | {total / days:.2f} s "
                f"| {result['ratio_to_reference']:.2f} | {min(loads):.1f}-{max(loads):.1f} | {agree} |"
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
        for impl in [impl for impl, result in size["impls"].items() if "table_formats" in result]:
            print(formats_table(size, impl) + "\n")
    for path in argv[1:]:
        backfill = json.load(open(path))
        print((backfill_formats_table if "table_formats" in backfill else backfill_table)(backfill) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
