"""The lake's table formats side by side (``--table-formats`` of ``benchmarks.run`` and
``benchmarks.backfill``): which format runs when, each format's figure against the first
format's, and whether the formats' lakes hold the same rows.

The first format named is the reference. Repetitions alternate the order (AB, BA, AB, ...):
a format never always runs first, on a colder process or a quieter machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from benchmarks.common import OUTPUTS
from trade_platform.core.iceberg import IcebergTableSettings
from trade_platform.core.lake_layout import HIVE_SCHEMA, PARTITION_COLUMN
from trade_platform.core.names import ALL
from trade_platform.settings import TABLE_FORMATS


def parse_formats(text: str) -> list[str]:
    """``parquet,iceberg`` as a list; each format once, each one the platform knows."""
    formats = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(formats) - set(TABLE_FORMATS))
    if unknown or len(set(formats)) != len(formats) or not formats:
        raise argparse.ArgumentTypeError(
            f"--table-formats {text!r}: name each of {', '.join(TABLE_FORMATS)} at most once"
        )
    return formats


def order_of_rep(formats: list[str], rep: int) -> list[str]:
    """The formats in repetition ``rep``'s order: as given, then reversed, alternately."""
    return formats if rep % 2 == 0 else formats[::-1]


def ratios(figures: dict[str, float]) -> dict[str, float]:
    """Each format's figure over the reference's (the first format's)."""
    reference = next(iter(figures.values()))
    return {name: figure / reference for name, figure in figures.items()}


def compare_lakes(lakes: dict[str, Path], outputs: tuple[str, ...] = OUTPUTS) -> dict:
    """Whether each format's lake equals the first format's: every asset's rows per day
    (``raw_trades`` too) and the implementations' comparison of ``outputs``."""
    from benchmarks.compare import disagreements

    reference = next(iter(lakes.values()))
    counts = {name: row_counts(lake) for name, lake in lakes.items()}
    return {
        "row_counts": {name: {a: sum(d.values()) for a, d in c.items()} for name, c in counts.items()},
        "format_disagreements": row_count_differences(counts)
        + [
            f"{name} {problem}"
            for name, lake in list(lakes.items())[1:]
            for problem in disagreements(reference, lake, outputs)
        ],
    }


def runs_in(runs: list[dict], table_format: str) -> dict:
    """The runs made in ``table_format`` and their total time."""
    mine = [run for run in runs if run["table_format"] == table_format]
    return {"runs": mine, "total_seconds": sum(run["seconds"] for run in mine)}


def backfill_formats(by_format: dict[str, dict]) -> dict:
    """A backfill mode run in each format: each format's result with its total's ratio to the
    first format's, and whether their lakes agree (in full for ``daily_volume``; by rows per day
    for the larger assets, which would not fit in memory twice)."""
    totals = {name: r.get("extrapolated_total_seconds", r["total_seconds"]) for name, r in by_format.items()}
    for name, ratio in ratios(totals).items():
        by_format[name]["ratio_to_reference"] = ratio
    comparison = compare_lakes({name: Path(r["lake"]) for name, r in by_format.items()}, ("daily_volume",))
    ok = all(r["all_runs_succeeded"] for r in by_format.values())
    return {"table_formats": by_format, "all_runs_succeeded": ok, **comparison}


def scan_table(lake: Path, asset: str) -> pl.LazyFrame:
    """All rows of an asset in a lake of either format (an Iceberg lake has the embedded
    catalog), ``date`` included."""
    from trade_platform.core.iceberg.catalog import EMBEDDED_CATALOG_FILE, IcebergTables  # pyiceberg
    from trade_platform.core.iceberg.reads import scan_as_of

    if not (lake / EMBEDDED_CATALOG_FILE).exists():
        return pl.scan_parquet(lake / asset, hive_partitioning=True, hive_schema=HIVE_SCHEMA)
    from trade_platform.core.iceberg.schema import empty_frame

    settings = IcebergTableSettings()
    table = IcebergTables(str(lake), settings.catalog, settings.namespace).existing(asset)
    scan = None if table is None else scan_as_of(table, asset, None)
    return empty_frame(asset) if scan is None else scan


def row_counts(lake: Path) -> dict[str, dict[str, int]]:
    """Each asset's rows per day."""
    counts = {}
    for asset in ALL:
        days = scan_table(lake, asset).group_by(PARTITION_COLUMN).len().collect()
        counts[asset] = {str(day): rows for day, rows in days.iter_rows()}
    return counts


def row_count_differences(counts: dict[str, dict[str, dict[str, int]]]) -> list[str]:
    """Where a format's rows per asset and day differ from the reference format's."""
    reference_format, reference = next(iter(counts.items()))
    problems = []
    for name, other in counts.items():
        for asset, days in reference.items():
            differing = sorted(
                day for day in days.keys() | other[asset].keys() if days.get(day) != other[asset].get(day)
            )
            if differing:
                problems.append(
                    f"{name} {asset}: rows differ from {reference_format} on {len(differing)} days, "
                    f"e.g. {differing[0]}: {other[asset].get(differing[0], 0)} against "
                    f"{days.get(differing[0], 0)}"
                )
    return problems
