"""One day's landing files -> raw, validated and dead-letter rows, a chunk at a time.

Each chunk of each file is read, corrected, split, pseudonymised (``core.pseudonymise``: the
validated rows' PII columns become tokens) and handed to a ``Spill``, so a day of any size is
ingested with the memory of one chunk plus the day's accepted trade_ids (which find duplicates
across chunks and files). A file found unreadable part-way loses the chunks it gave:
it becomes one DLQ entry and none of its records reach raw, exactly as if it had failed at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from trade_platform.core.classification import Classification, column_classifications
from trade_platform.core.corrections import apply_corrections
from trade_platform.core.dlq_codes import DlqCode
from trade_platform.core.landing.files import (
    CHUNK_BYTES,
    IDENTITY_FIELDS,
    PARQUET_BYTES_PER_ROW,
    RAW_SCHEMA,
    LandingFile,
    UnreadableFileError,
    iter_landing_file,
)
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.pseudonymise import PiiKey, pseudonymise, require_key
from trade_platform.core.schemas import ValidatedTrades
from trade_platform.core.spill import Spill
from trade_platform.core.storage import storage_errors
from trade_platform.core.validation import (
    DLQ_SCHEMA,
    UNREADABLE_PREFIX,
    VALIDATED_SCHEMA,
    dead_letter_file,
    split_trades,
)

SCHEMAS = {
    RAW_TRADES: {**RAW_SCHEMA, "date": pl.Date()},
    VALIDATED_TRADES: VALIDATED_SCHEMA,
    TRADES_DLQ: DLQ_SCHEMA,
}
"""The outputs' columns for a ``Spill`` (raw may gain unknown extra columns)."""
TOKENISED = tuple(
    name for name, c in column_classifications(ValidatedTrades).items() if c is Classification.PII
)
"""The columns of ``validated_trades`` that hold tokens: those its model classifies ``pii``."""


@dataclass
class DaySummary:
    files: int = 0
    unreadable_files: int = 0
    raw_rows: int = 0
    validated_rows: int = 0
    dlq_rows: int = 0
    corrected_records: int = 0
    replayed_files: int = 0
    """Sources gone from the landing zone, replayed from the stored partition (``gone_sources``)."""
    dlq_by_code: Counter[str] = field(default_factory=Counter)
    records_by_file: dict[str, int] = field(default_factory=dict)
    """Raw records of each source read (an unreadable one has none)."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """Source -> why it could not be read."""

    def add(self, other: DaySummary) -> None:
        for name in ("unreadable_files", "raw_rows", "validated_rows", "dlq_rows", "corrected_records"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.dlq_by_code.update(other.dlq_by_code)


class AcceptedIds:
    """The day's validated trade_ids so far. A chunk is probed by 64-bit hash (integer lookups,
    no hash table over every id per chunk), and only the ids whose hash matches are compared
    as text, in ``split_trades``, so a hash collision can never make a false duplicate."""

    def __init__(self) -> None:
        self._ids = pl.Series("trade_id", [], pl.String)
        self._hashes = pl.Series("hash", [], pl.UInt64)

    def __len__(self) -> int:
        return self._ids.len()

    def add(self, ids: pl.Series) -> None:
        self._ids.append(ids)
        self._hashes.append(ids.hash())

    def candidates(self, ids: pl.Series) -> pl.Series:
        """The accepted ids whose hash equals that of one of ``ids``: a superset of the repeats."""
        if not len(self):
            return self._ids
        return self._ids.filter(self._hashes.is_in(ids.drop_nulls().hash().implode()))

    def truncate(self, length: int) -> None:
        self._ids, self._hashes = self._ids.slice(0, length), self._hashes.slice(0, length)


@dataclass(frozen=True)
class StoredRecords:
    """A file gone from the landing zone whose records ``raw_trades`` keeps: replayed from there."""

    relative_path: str
    records: pl.LazyFrame
    """Its ``raw_trades`` rows, in row order, without ``date``."""


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
        for path in stored_files:
            if path not in present:
                kept[path] = StoredRecords(
                    path, raw.filter(pl.col("_source_file") == path).drop("date", strict=False)
                )
    if raw is not None and dlq is not None:  # no raw partition: the day is withdrawn (README)
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


def _chunks(source: Source, chunk_bytes: int) -> Iterator[pl.DataFrame]:
    if isinstance(source, LandingFile):
        yield from iter_landing_file(source, chunk_bytes)
    elif isinstance(source, StoredRecords):
        with storage_errors("read", f"the raw_trades rows of {source.relative_path}"):
            yield from source.records.collect_batches(chunk_size=max(1, chunk_bytes // PARQUET_BYTES_PER_ROW))
    else:
        raise UnreadableFileError(source.error)


def ingest_day(
    sources: Sequence[Source],
    corrections: pl.DataFrame,
    day: str,
    *,
    now: datetime,
    run_id: str,
    spill: Spill,
    pii_key: PiiKey | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> DaySummary:
    """Add the day's raw, validated and DLQ rows (each with ``date``) to ``spill``; count them.

    ``sources`` are read in order of their path: the landing files, and any ``gone_sources``.
    Without ``pii_key``, a record with an identifying value raises ``MissingPiiKeyError`` (the
    spill holds the outputs until the caller publishes them, so nothing is published)."""
    partition = date.fromisoformat(day)
    replayed = sum(not isinstance(source, LandingFile) for source in sources)
    summary = DaySummary(files=len(sources), replayed_files=replayed)
    accepted = AcceptedIds()
    for source in sorted(sources, key=lambda s: s.relative_path):
        mark, accepted_before, counts = spill.mark(), len(accepted), DaySummary()
        try:
            for chunk in _chunks(source, chunk_bytes):
                raw = chunk.with_columns(date=pl.lit(partition))
                records, corrected = apply_corrections(raw, corrections)
                require_key(records, IDENTITY_FIELDS, pii_key)
                earlier = accepted.candidates(records["trade_id"])
                split = split_trades(records, now=now, run_id=run_id, accepted_ids=earlier)
                accepted.add(split.validated["trade_id"])
                spill.add(RAW_TRADES, raw)
                spill.add(VALIDATED_TRADES, pseudonymise(split.validated, TOKENISED, pii_key))
                spill.add(TRADES_DLQ, split.dlq)
                counts.add(_counts(raw.height, split.validated.height, split.dlq, corrected))
        except UnreadableFileError as exc:
            spill.rollback(mark)
            accepted.truncate(accepted_before)
            entry = dead_letter_file(source.relative_path, str(exc), partition, now=now, run_id=run_id)
            spill.add(TRADES_DLQ, entry)
            counts = _counts(0, 0, entry, 0)
            counts.unreadable_files = 1
            summary.unreadable[source.relative_path] = str(exc)
        summary.records_by_file[source.relative_path] = counts.raw_rows
        summary.add(counts)
    return summary


def stored_records_by_file(raw: pl.LazyFrame | None) -> dict[str, int]:
    """Records per ``_source_file`` of a stored ``raw_trades`` partition (none: no partition)."""
    if raw is None:
        return {}
    with storage_errors("read", "the stored raw_trades partition"):
        counts = raw.group_by("_source_file").len().collect()
    return dict(counts.iter_rows())


def fewer_records(
    before: dict[str, int], summary: DaySummary, earlier: Mapping[str, Mapping[str, int]] | None = None
) -> dict[str, dict[str, int]]:
    """Files of which a run keeps fewer records than the partition it replaces held (a file
    replaced by a truncated or unreadable one), or than an ``earlier`` run already found missing:
    never silent, and not forgotten by the next run (the completeness check names them until
    the records are back or the day is withdrawn by deleting its partition, README)."""
    baseline = dict(before)
    for path, counts in (earlier or {}).items():
        baseline[path] = max(baseline.get(path, 0), counts["before"])
    after = summary.records_by_file
    return {
        path: {"before": n, "after": after.get(path, 0)}
        for path, n in sorted(baseline.items())
        if after.get(path, 0) < n
    }


def _counts(raw: int, validated: int, dlq: pl.DataFrame, corrected: int) -> DaySummary:
    codes = dlq["error_codes"].explode().value_counts()
    return DaySummary(
        raw_rows=raw,
        validated_rows=validated,
        dlq_rows=dlq.height,
        corrected_records=corrected,
        dlq_by_code=Counter(dict(zip(codes["error_codes"].to_list(), codes["count"].to_list(), strict=True))),
    )
