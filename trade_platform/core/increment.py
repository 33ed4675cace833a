"""A day extended by added files: only those are read, and the stored partitions are kept.

The open day gains files all day. Re-reading every file on each run would make a day's ingest
cost grow with the square of its file count, so a run reads only the added files when that
provably gives what a full re-run would:
- every file the day's last run read is still there, unchanged (size and version), and so are
  the corrections files (none added, none changed, none removed);
- every added file sorts after every source of the stored day: sources are read in path order,
  so the stored rows stay first, and the first clean occurrence of each trade_id stays where it
  was (an added record repeating a stored trade_id is a duplicate, as in a full re-run);
- every stored DLQ record rejected as in the future is still in the future now (a re-run would
  judge it again against the time it runs).
Then the stored raw, validated and DLQ rows are kept (written again as they are, never re-read
from the landing zone or re-validated), the added files are validated against the day's accepted
trade_ids, and the day's counts add up. Anything else is a full re-run of the day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

import polars as pl

from trade_platform.core.corrections import apply_corrections
from trade_platform.core.dlq_codes import DlqCode
from trade_platform.core.ingest import DaySummary
from trade_platform.core.landing.files import LandingFile
from trade_platform.core.landing.listing import ListedFile
from trade_platform.core.storage import storage_errors
from trade_platform.core.validation import UNREADABLE_PREFIX, split_trades


@dataclass(frozen=True)
class StoredDay:
    """The stored partitions a run extends (lazy, with ``date``) and what they hold."""

    raw: pl.LazyFrame
    validated: pl.LazyFrame
    dlq: pl.LazyFrame
    accepted_ids: pl.Series
    summary: DaySummary


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
) -> StoredDay | None:
    """The stored ``(raw, validated, dlq)`` partitions of ``day`` (without ``date``) as a run at
    ``now`` that reads only ``added`` extends them; None when it cannot (module docstring).
    ``records_by_file`` are the stored raw rows per source, ``read`` what the last run read,
    ``corrected_records`` how many stored records a correction matched."""
    raw, validated, dlq = (frame.with_columns(date=pl.lit(date.fromisoformat(day))) for frame in partitions)
    with storage_errors("read", f"the stored trades_dlq partition of {day}"):
        rejected = dlq.select("error_codes", "_source_file", "_source_row", "error").collect()
        if not _still_in_future(raw, rejected, corrections, now):
            return None
    unreadable = rejected.filter(pl.col("error_codes").list.contains(DlqCode.UNREADABLE_FILE.value))
    unreadable_errors = {
        path: error.removeprefix(UNREADABLE_PREFIX)
        for path, error in unreadable.select("_source_file", "error").iter_rows()
    }
    read_paths = {f.path for f in read}
    sources = read_paths | set(records_by_file) | set(unreadable_errors)
    if min(f.relative_path for f in added) <= max(sources):
        return None
    with storage_errors("read", f"the stored validated_trades partition of {day}"):
        accepted = validated.select("trade_id").collect().to_series()
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
    return StoredDay(raw, validated, dlq, accepted, summary)


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
