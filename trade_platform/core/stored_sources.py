"""Sources of a day that the landing zone no longer has: replayed from the stored partition.

A file retention deleted still made its day's ``raw_trades`` and ``trades_dlq`` partitions, so a
re-run or a DLQ replay reads its records (or its unreadable entry) from there and gives the
result it would give with the file still there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import polars as pl

from trade_platform.core.dlq_codes import DlqCode
from trade_platform.core.landing.files import LandingFile
from trade_platform.core.storage import storage_errors
from trade_platform.core.validation import UNREADABLE_PREFIX


@dataclass(frozen=True)
class StoredRecords:
    """A file gone from the landing zone whose records ``raw_trades`` keeps: replayed from there."""

    relative_path: str
    partition: pl.LazyFrame
    """The stored ``raw_trades`` partition that holds its rows (in file and row order), without ``date``."""


@dataclass(frozen=True)
class StoredUnreadable:
    """A file gone from the landing zone that was unreadable: its DLQ entry is kept."""

    relative_path: str
    error: str


Source = LandingFile | StoredRecords | StoredUnreadable


def gone_sources(
    files: Sequence[LandingFile], raw: pl.LazyFrame | None, dlq: pl.LazyFrame | None
) -> list[StoredRecords | StoredUnreadable]:
    """The files a stored partition was built from that are no longer in the landing zone
    (retention deleted them, say), from that partition's ``raw`` and ``dlq`` rows: so a re-run
    or a DLQ replay gives the result it would give with the files still there."""
    present = {f.relative_path for f in files}
    kept: dict[str, StoredRecords | StoredUnreadable] = {}
    if raw is not None:
        with storage_errors("read", "the stored raw_trades partition"):
            stored_files = raw.select(pl.col("_source_file").unique()).collect().to_series().to_list()
        stored = raw.drop("date", strict=False)
        for path in stored_files:
            if path not in present:
                kept[path] = StoredRecords(path, stored)
    # No raw partition: the day is withdrawn (docs/replaying-the-dlq.md).
    if raw is not None and dlq is not None:
        with storage_errors("read", "the stored trades_dlq partition"):
            unreadable = (
                dlq.filter(pl.col("error_codes").list.contains(DlqCode.UNREADABLE_FILE.value))
                .select("_source_file", "error")
                .collect()
            )
        for path, error in unreadable.iter_rows():
            if path not in present and path not in kept:
                kept[path] = StoredUnreadable(path, error.removeprefix(UNREADABLE_PREFIX))
    return [kept[path] for path in sorted(kept)]


def stored_records_by_file(raw: pl.LazyFrame | None) -> dict[str, int]:
    """Records per ``_source_file`` of a stored ``raw_trades`` partition (none: no partition)."""
    if raw is None:
        return {}
    with storage_errors("read", "the stored raw_trades partition"):
        counts = raw.group_by("_source_file").len().collect()
    return dict(counts.iter_rows())


def stored_chunks(sources: Sequence[StoredRecords], rows: int) -> Iterator[pl.DataFrame]:
    """The rows of consecutive gone files, ``rows`` at a time, in one pass over their partition
    (not one per file: a day of many small files)."""
    paths = [source.relative_path for source in sources]
    with storage_errors("read", f"the raw_trades rows of {len(paths)} files gone from the landing zone"):
        stored = sources[0].partition.filter(pl.col("_source_file").is_in(paths))
        yield from stored.collect_batches(chunk_size=rows)
