"""Per-day aggregation shared by the quality computations.

Each computation takes the stored partitions of a run's days (lazy frames with a ``date``
column) and the days to judge, and returns a result for each of those days, also for a day with
no rows: a check over a year's range run reads each asset once. The Dagster checks
(``defs/*/checks.py``) turn each day's result into one evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

SAMPLE_SIZE = 5
"""How many offending values a result names."""
RELATIVE_TOLERANCE = 1e-9


def by_day(frame: pl.LazyFrame, **aggregations: pl.Expr) -> dict[str, dict]:
    """``aggregations`` per day, keyed by ISO day; days without rows are absent."""
    rows = frame.group_by("date").agg(**aggregations).collect()
    return {str(row.pop("date")): row for row in rows.iter_rows(named=True)}


def is_day(day: str) -> pl.Expr:
    return pl.col("date") == pl.lit(day).str.to_date()


def close(a: float, b: float) -> bool:
    return abs(a - b) <= RELATIVE_TOLERANCE * max(1.0, abs(a), abs(b))


def row_counts(frame: pl.LazyFrame, days: Sequence[str]) -> dict[str, int]:
    counts = by_day(frame, n=pl.len())
    return {day: counts.get(day, {}).get("n", 0) for day in days}
