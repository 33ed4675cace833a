"""What the checks of ``raw_trades``, ``validated_trades`` and ``trades_dlq`` compute, per day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from trade_platform.core.dlq_codes import DlqCode
from trade_platform.core.quality.per_day import SAMPLE_SIZE, by_day, is_day, row_counts

PRICE_FLOOR = 0.001  # exclusive
PRICE_CEILING = 1_000_000.0  # exclusive

_UNREADABLE = pl.col("error_codes").list.contains(DlqCode.UNREADABLE_FILE.value)


@dataclass(frozen=True)
class DlqSplit:
    """A day's raw rows and where its DLQ entries came from."""

    raw_rows: int = 0
    validated_rows: int = 0
    dlq_records: int = 0
    """DLQ rows of single records (each one raw row)."""
    unreadable_files: int = 0
    """DLQ rows of whole files that could not be read (no raw row)."""
    top_error_codes: dict[str, int] = field(default_factory=dict)

    @property
    def unaccounted_rows(self) -> int:
        """Raw rows in neither validated_trades nor the DLQ (or, when negative, extra rows)."""
        return self.raw_rows - self.validated_rows - self.dlq_records

    @property
    def dlq_rate(self) -> float:
        """Share of raw records dead-lettered; a day whose every file is unreadable has no raw
        rows but has lost everything."""
        if self.raw_rows:
            return self.dlq_records / self.raw_rows
        return 1.0 if self.unreadable_files else 0.0


def dlq_split(
    raw: pl.LazyFrame,
    dlq: pl.LazyFrame,
    days: Sequence[str],
    validated: pl.LazyFrame | None = None,
) -> dict[str, DlqSplit]:
    """Per day: raw rows, DLQ records and unreadable files, the most frequent error codes and,
    with ``validated``, its rows (for reconciliation)."""
    raw_rows = row_counts(raw, days)
    validated_rows = row_counts(validated, days) if validated is not None else dict.fromkeys(days, 0)
    entries = by_day(dlq, records=_UNREADABLE.not_().sum(), unreadable=_UNREADABLE.sum())
    codes = (
        dlq.select("date", code=pl.col("error_codes"))
        .explode("code")
        .group_by("date", "code")
        .agg(n=pl.len())
        .sort("n", "code", descending=[True, False])
        .collect()
    )
    return {
        day: DlqSplit(
            raw_rows=raw_rows[day],
            validated_rows=validated_rows[day],
            dlq_records=entries.get(day, {}).get("records", 0),
            unreadable_files=entries.get(day, {}).get("unreadable", 0),
            top_error_codes={
                row["code"]: row["n"]
                for row in codes.filter(is_day(day)).head(SAMPLE_SIZE).iter_rows(named=True)
            },
        )
        for day in days
    }


def duplicated_trade_ids(validated: pl.LazyFrame, days: Sequence[str]) -> dict[str, pl.DataFrame]:
    """Per day, each trade_id that appears more than once (``trade_id``, ``copies``), most
    copies first.

    A day at a time: the hash table holds one day's trades whatever the run's range (the whole
    range at once, a year's run peaked at 6.4 GiB). Grouping by a 64-bit hash first keeps memory
    at 8 bytes per trade; only ids whose hash repeats are then grouped by their text, so a
    collision cannot report a false duplicate.
    """
    return {day: _duplicated(validated.filter(is_day(day))) for day in days}


def _duplicated(day: pl.LazyFrame) -> pl.DataFrame:
    hashed = day.select("trade_id", _hash=pl.col("trade_id").hash())
    suspects = hashed.group_by("_hash").agg(n=pl.len()).filter(pl.col("n") > 1).collect()
    return (
        hashed.join(suspects.lazy().select("_hash"), on="_hash", how="semi")
        .group_by("trade_id")
        .agg(copies=pl.len())
        .filter(pl.col("copies") > 1)
        .sort("copies", "trade_id", descending=[True, False])
        .collect()
    )


@dataclass(frozen=True)
class PriceRange:
    out_of_range: int = 0
    min_price: float | None = None
    max_price: float | None = None
    lowest_offenders: dict[str, float] = field(default_factory=dict)
    """Up to ``SAMPLE_SIZE`` trade_ids at or below the floor, lowest first."""
    highest_offenders: dict[str, float] = field(default_factory=dict)
    """Up to ``SAMPLE_SIZE`` trade_ids at or above the ceiling, highest first."""


def price_ranges(validated: pl.LazyFrame, days: Sequence[str]) -> dict[str, PriceRange]:
    """Per day, the prices outside ``PRICE_FLOOR < price < PRICE_CEILING``."""
    too_low, too_high = pl.col("price") <= PRICE_FLOOR, pl.col("price") >= PRICE_CEILING
    summary = by_day(
        validated,
        out_of_range=(too_low | too_high).sum(),
        min_price=pl.col("price").min(),
        max_price=pl.col("price").max(),
    )
    offenders = validated.filter(too_low | too_high).select("date", "trade_id", "price").collect()

    def sample(frame: pl.DataFrame, *, descending: bool) -> dict[str, float]:
        top = frame.sort("price", descending=descending).head(SAMPLE_SIZE)
        return dict(zip(top["trade_id"], top["price"], strict=True))

    results = {}
    for day in days:
        on_day, stats = offenders.filter(is_day(day)), summary.get(day, {})
        results[day] = PriceRange(
            out_of_range=stats.get("out_of_range", 0),
            min_price=stats.get("min_price"),
            max_price=stats.get("max_price"),
            lowest_offenders=sample(on_day.filter(too_low), descending=False),
            highest_offenders=sample(on_day.filter(too_high), descending=True),
        )
    return results
