"""A day extended by added files: only those are read, and the stored partitions are kept.

The open day gains files all day. Re-reading every file on each run would make a day's ingest
cost grow with the square of its file count, so a run reads only the added files when that
provably gives what a full re-run would:
- every file the day's last run read is still there, unchanged (size and version), and so are
  the corrections files (none added, none changed, none removed);
- no added file is one the stored day already holds (a file removed, replayed from the lake,
  then landed again);
- each stored partition holds the rows its recorded materialization counted (a run killed
  between publishing ``raw_trades`` and recording it leaves a partition that already holds the
  added files' records);
- every stored DLQ record rejected as in the future is still in the future now (a re-run would
  judge it again against the time it runs).
Then the stored raw, validated and DLQ rows are kept (written again as they are, never re-read
from the landing zone or re-validated), the added files are validated against the day's accepted
trade_ids, and each output is the stored and the added rows in the path order of their sources,
as a full run reads them (Kafka's files of several partitions interleave). The one thing order
changes is which record of a trade_id is its first clean occurrence: when an added record comes
before a stored one of its id (``conflicts``), the day is read whole after all. Anything else is
a full re-run of the day too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from itertools import groupby
from operator import itemgetter

import polars as pl

from trade_platform.core.corrections import apply_corrections
from trade_platform.core.dlq_codes import DlqCode
from trade_platform.core.ingest import DaySummary
from trade_platform.core.lake_layout import PARTITION_COLUMN
from trade_platform.core.landing.files import LandingFile
from trade_platform.core.landing.listing import ListedFile
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.storage import storage_errors
from trade_platform.core.validation import UNREADABLE_PREFIX, split_trades

SLICE_ROWS = 250_000
"""Stored rows written again a slice at a time (``with_stored_rows``)."""


@dataclass(frozen=True)
class StoredDay:
    """The stored partitions a run extends (lazy, with ``date``), what they hold, and the
    files added to them."""

    outputs: dict[str, pl.LazyFrame]
    """Each ingest asset's stored rows (without the ``date`` column, as stored)."""
    rows: dict[str, dict[str, int]]
    """Each ingest asset's stored rows per source (each source's rows are contiguous, in path order)."""
    accepted_ids: pl.Series
    """The stored validated trade_ids (the one column of the day held in memory, as a full run
    holds it)."""
    summary: DaySummary
    sources: tuple[str, ...]
    """The stored day's sources, in path order."""
    added: tuple[LandingFile, ...]

    @property
    def interleaved(self) -> bool:
        """Whether an added file sorts before a stored one (else every added record comes after
        every stored one, and no first occurrence can change)."""
        return min(f.relative_path for f in self.added) < self.sources[-1]

    def conflicts(self, validated: pl.DataFrame, dlq: pl.DataFrame) -> bool:
        """Whether the added rows (``validated`` and ``dlq``: the day's rows from the added files)
        change a first clean occurrence: an added duplicate whose accepted record comes later, or
        an added accepted record whose id a later stored DLQ record carries (a full run would make
        that one a duplicate too)."""
        duplicates = dlq.filter(pl.col("error_codes").list.contains(DlqCode.DUPLICATE_TRADE_ID.value))

        def later_in(stored: str, added: pl.DataFrame) -> int:
            """Rows of ``added`` whose trade_id a stored row of ``stored`` from a later file has."""
            ids = added["trade_id"].drop_nulls().unique().implode()
            with storage_errors("read", f"the stored {stored} partition"):
                rows = (  # a filter by the few added ids streams the stored column: no table of its ids
                    self.outputs[stored]
                    .select("trade_id", pl.col("_source_file").alias("_stored_file"))
                    .filter(pl.col("trade_id").is_in(ids))
                    .collect()
                )
            found = added.select("trade_id", "_source_file").join(rows, on="trade_id")
            return found.filter(pl.col("_stored_file") > pl.col("_source_file")).height

        return later_in(VALIDATED_TRADES, duplicates) > 0 or later_in(TRADES_DLQ, validated) > 0


def added_files(
    read: Sequence[ListedFile],
    corrections_read: Sequence[ListedFile],
    files: Sequence[LandingFile],
    corrections: Sequence[LandingFile],
) -> list[LandingFile]:
    """The files added since the last run ``read`` the day, when nothing it read changed and the
    corrections are the same; [] when the day must be read whole (or nothing was added)."""

    def versions(listed: Sequence[ListedFile | LandingFile]) -> dict[str, tuple[int, str]]:
        return {
            f.relative_path if isinstance(f, LandingFile) else f.path: (f.size, f.version) for f in listed
        }

    before, now = versions(read), versions(files)
    if not read or any(not version for _, version in before.values()):  # recorded before versions were
        return []
    if any(now.get(path) != seen for path, seen in before.items()):
        return []
    if versions(corrections_read) != versions(corrections):
        return []
    return [f for f in files if f.relative_path not in before]


def stored_day(
    day: str,
    partitions: tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame],
    records_by_file: Mapping[str, int],
    read: Sequence[ListedFile],
    added: Sequence[LandingFile],
    corrected_records: int,
    corrections: pl.DataFrame,
    now: datetime,
    recorded_rows: Mapping[str, int],
) -> StoredDay | None:
    """The stored ``(raw, validated, dlq)`` partitions of ``day`` (without ``date``) as a run at
    ``now`` that reads only ``added`` extends them; None when it cannot (module docstring).
    ``records_by_file`` are the stored raw rows per source, ``read`` what the last run read,
    ``corrected_records`` how many stored records a correction matched, ``recorded_rows`` each
    output's rows as its last materialization recorded them."""
    raw, validated, dlq = partitions
    if sum(records_by_file.values()) != recorded_rows[RAW_TRADES]:
        return None
    on_day = pl.lit(date.fromisoformat(day)).alias(PARTITION_COLUMN)
    with storage_errors("read", f"the stored trades_dlq partition of {day}"):
        rejected = dlq.select("error_codes", "_source_file", "_source_row", "error").collect()
        if not _still_in_future(raw.with_columns(on_day), rejected, corrections, now):
            return None
    unreadable = rejected.filter(pl.col("error_codes").list.contains(DlqCode.UNREADABLE_FILE.value))
    unreadable_errors = {
        path: error.removeprefix(UNREADABLE_PREFIX)
        for path, error in unreadable.select("_source_file", "error").iter_rows()
    }
    read_paths = {f.path for f in read}
    sources = read_paths | set(records_by_file) | set(unreadable_errors)
    if any(f.relative_path in sources for f in added):  # a file back after it was replayed from the lake
        return None
    with storage_errors("read", f"the stored validated_trades partition of {day}"):
        accepted = validated.select("trade_id").collect().to_series()
        validated_by_file = dict(validated.group_by("_source_file").len().collect().iter_rows())
    if (accepted.len(), rejected.height) != (recorded_rows[VALIDATED_TRADES], recorded_rows[TRADES_DLQ]):
        return None
    rows = {
        RAW_TRADES: dict(records_by_file),
        VALIDATED_TRADES: validated_by_file,
        TRADES_DLQ: dict(rejected["_source_file"].value_counts().iter_rows()),
    }
    codes = rejected["error_codes"].explode().value_counts()
    gone = sources - read_paths
    summary = DaySummary(
        files=len(read_paths) + len(gone),
        unreadable_files=len(unreadable_errors),
        raw_rows=sum(records_by_file.values()),
        validated_rows=accepted.len(),
        dlq_rows=rejected.height,
        corrected_records=corrected_records,
        replayed_files=len(gone),
        dlq_by_code=Counter(dict(codes.iter_rows())),
        records_by_file={path: records_by_file.get(path, 0) for path in sorted(sources)},
        unreadable=unreadable_errors,
    )
    outputs = {RAW_TRADES: raw, VALIDATED_TRADES: validated, TRADES_DLQ: dlq}
    return StoredDay(outputs, rows, accepted, summary, tuple(sorted(sources)), tuple(added))


def with_stored_rows(
    output: str, rows: pl.DataFrame | pl.LazyFrame, extended_days: Mapping[date, StoredDay]
) -> pl.DataFrame | pl.LazyFrame:
    """A step's ``output`` rows (every day of its run) with each extended day's stored rows put
    among its added rows in the path order of their sources, a full run's order. Each source's
    rows are contiguous on both sides, so the merge takes runs of sources alternately: added
    ones by a range filter, stored ones by their row offsets, in slices of ``SLICE_ROWS`` (polars
    streams a concatenation of slices a slice at a time; one scan of a 10M-row partition it
    reads ahead by gigabytes)."""
    if not extended_days:
        return rows
    lazy = rows.lazy()
    pieces = [lazy.filter(~pl.col(PARTITION_COLUMN).is_in(list(extended_days)))]
    for day, stored in extended_days.items():
        added = lazy.filter(pl.col(PARTITION_COLUMN) == day)
        counts = stored.rows[output]
        origins = sorted(
            [(path, False) for path in stored.sources] + [(f.relative_path, True) for f in stored.added]
        )
        offset = 0
        for is_added, run in groupby(origins, key=itemgetter(1)):
            paths = [path for path, _ in run]
            if is_added:
                pieces.append(
                    added.filter(pl.col("_source_file").is_between(pl.lit(paths[0]), pl.lit(paths[-1])))
                )
                continue
            length = sum(counts.get(path, 0) for path in paths)
            scan, on_day = stored.outputs[output], pl.lit(day).alias(PARTITION_COLUMN)
            pieces += [  # the column after the slice: before it, polars reads the whole file
                scan.slice(start, min(SLICE_ROWS, offset + length - start)).with_columns(on_day)
                for start in range(offset, offset + length, SLICE_ROWS)
            ]
            offset += length
    return pl.concat(pieces, how="diagonal_relaxed")


def extended(stored: DaySummary, added: DaySummary) -> DaySummary:
    """The day's summary after ``added`` extended the ``stored`` day: as a full re-run counts."""
    total = replace(
        stored,
        files=stored.files + added.files,
        dlq_by_code=Counter(stored.dlq_by_code),
        records_by_file={**stored.records_by_file, **added.records_by_file},
        unreadable={**stored.unreadable, **added.unreadable},
    )
    total.add(added)
    return total


def _still_in_future(
    raw: pl.LazyFrame, rejected: pl.DataFrame, corrections: pl.DataFrame, now: datetime
) -> bool:
    """Whether every stored record rejected as in the future is in the future at ``now`` too,
    judged by the same rules from its stored raw row (corrected as the day's run corrected it)."""
    future = rejected.filter(pl.col("error_codes").list.contains(DlqCode.TIMESTAMP_IN_FUTURE.value))
    if future.is_empty():
        return True
    keys = ["_source_file", "_source_row"]
    records, _ = apply_corrections(
        raw.join(future.lazy().select(keys), on=keys, how="semi").collect(), corrections
    )
    judged = split_trades(records, now=now, run_id="", accepted_ids=None).dlq
    return judged["error_codes"].list.contains(DlqCode.TIMESTAMP_IN_FUTURE.value).sum() == future.height
