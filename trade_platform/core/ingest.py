"""One day's landing files -> raw, validated and dead-letter rows, a chunk at a time.

Each chunk of each file is read, corrected, split, pseudonymised (``core.pseudonymise``: the
validated rows' PII columns become tokens) and handed to a ``Spill``, so a day of any size is
ingested with the memory of one chunk plus the day's accepted trade_ids (which find duplicates
across chunks and files). Small text files are read whole, and consecutive ones make one chunk
(``core.landing.whole_files``): a file then costs its records, not a round of polars calls. A
file found unreadable part-way loses the chunks it gave: it becomes one DLQ entry, at its place,
and none of its records reach raw, exactly as if it had failed at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby

import polars as pl

from trade_platform.core.classification import Classification, column_classifications
from trade_platform.core.corrections import apply_corrections
from trade_platform.core.landing.files import (
    CHUNK_BYTES,
    IDENTITY_FIELDS,
    PARQUET_BYTES_PER_ROW,
    RAW_SCHEMA,
    LandingFile,
    UnreadableFileError,
    iter_landing_file,
)
from trade_platform.core.landing.whole_files import WHOLE_FILE_BYTES, is_small, read_whole_files
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.pseudonymise import PiiKey, pseudonymise, require_key
from trade_platform.core.schemas import ValidatedTrades
from trade_platform.core.spill import Spill
from trade_platform.core.stored_sources import Source, StoredRecords, StoredUnreadable, stored_chunks
from trade_platform.core.validation import (
    DLQ_SCHEMA,
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


def _chunks(source: LandingFile | StoredUnreadable, chunk_bytes: int) -> Iterator[pl.DataFrame]:
    if isinstance(source, LandingFile):
        yield from iter_landing_file(source, chunk_bytes)
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
    whole_file_bytes: int = WHOLE_FILE_BYTES,
    accepted_ids: pl.Series | None = None,
) -> DaySummary:
    """Add the day's raw, validated and DLQ rows (each with ``date``) to ``spill``; count them.

    ``sources`` are read in order of their path: the landing files, and any ``gone_sources``.
    Consecutive text files up to ``whole_file_bytes`` are read whole and validated together, up
    to ``chunk_bytes`` of them at a time (``read_whole_files``), and so are consecutive gone
    files' stored rows; the other files a chunk at a time.
    Without ``pii_key``, a record with an identifying value raises ``MissingPiiKeyError`` (the
    spill holds the outputs until the caller publishes them, so nothing is published).
    ``accepted_ids``: the day's trade_ids already validated, when ``sources`` extend a stored
    day (``core.increment``)."""
    replayed = sum(not isinstance(source, LandingFile) for source in sources)
    ingest = _Ingest(date.fromisoformat(day), corrections, now, run_id, spill, pii_key)
    if accepted_ids is not None:
        ingest.accepted.add(accepted_ids)
    ingest.summary.files, ingest.summary.replayed_files = len(sources), replayed
    limit = min(whole_file_bytes, chunk_bytes)

    def read_as(source: Source) -> str:
        if isinstance(source, StoredRecords):
            return "stored"
        return "whole" if isinstance(source, LandingFile) and is_small(source, limit) else "stream"

    for kind, group in groupby(sorted(sources, key=lambda s: s.relative_path), key=read_as):
        if kind == "stored":
            stored = list(group)
            for chunk in stored_chunks(stored, max(1, chunk_bytes // PARQUET_BYTES_PER_ROW)):
                ingest.together(stored, chunk)
        elif kind == "stream":
            for source in group:
                ingest.stream(source, _chunks(source, chunk_bytes))
        else:
            for files, read in read_whole_files(list(group), chunk_bytes, limit):
                if isinstance(read, pl.DataFrame):
                    ingest.together(files, read)
                elif read is None:  # bigger once decompressed
                    ingest.stream(files[0], _chunks(files[0], chunk_bytes))
                else:
                    ingest.unreadable(files[0].relative_path, read)
    return ingest.summary


class _Ingest:
    """One day's outputs as they are added to the spill, the trade_ids accepted so far, counts."""

    def __init__(
        self,
        partition: date,
        corrections: pl.DataFrame,
        now: datetime,
        run_id: str,
        spill: Spill,
        pii_key: PiiKey | None,
    ) -> None:
        self.partition, self.corrections, self.now, self.run_id = partition, corrections, now, run_id
        self.spill, self.pii_key = spill, pii_key
        self.accepted = AcceptedIds()
        self.summary = DaySummary()

    def stream(self, source: Source, chunks: Iterator[pl.DataFrame]) -> None:
        """A file a chunk at a time; found unreadable part-way, it loses the chunks it gave."""
        mark, accepted_before, counts = self.spill.mark(), len(self.accepted), DaySummary()
        try:
            for chunk in chunks:
                counts.add(self._validate(chunk))
        except UnreadableFileError as exc:
            self.spill.rollback(mark)
            self.accepted.truncate(accepted_before)
            self.unreadable(source.relative_path, exc)
            return
        self.summary.records_by_file[source.relative_path] = counts.raw_rows
        self.summary.add(counts)

    def together(self, files: Sequence[Source], records: pl.DataFrame) -> None:
        """Records of consecutive files (in file and row order) validated as one chunk: whole
        small files, or a chunk of gone files' stored rows (their counts add up over chunks)."""
        per_file = dict(records["_source_file"].value_counts().iter_rows()) if records.height else {}
        counted = self.summary.records_by_file
        for source in files:
            counted[source.relative_path] = counted.get(source.relative_path, 0) + per_file.get(
                source.relative_path, 0
            )
        self.summary.add(self._validate(records))

    def unreadable(self, path: str, error: UnreadableFileError) -> None:
        entry = dead_letter_file(path, str(error), self.partition, now=self.now, run_id=self.run_id)
        self.spill.add(TRADES_DLQ, entry)
        counts = _counts(0, 0, entry, 0)
        counts.unreadable_files = 1
        self.summary.unreadable[path] = str(error)
        self.summary.records_by_file[path] = 0
        self.summary.add(counts)

    def _validate(self, chunk: pl.DataFrame) -> DaySummary:
        """Correct, split and pseudonymise a chunk of records and add them to the spill."""
        # One chunk of memory: polars 2.1 can panic validating a frame of many pieces (string
        # views of a filtered ``collect_batches`` batch: a day's gone files replayed together).
        raw = chunk.rechunk().with_columns(date=pl.lit(self.partition))
        records, corrected = apply_corrections(raw, self.corrections)
        require_key(records, IDENTITY_FIELDS, self.pii_key)
        earlier = self.accepted.candidates(records["trade_id"])
        split = split_trades(records, now=self.now, run_id=self.run_id, accepted_ids=earlier)
        self.accepted.add(split.validated["trade_id"])
        self.spill.add(RAW_TRADES, raw)
        self.spill.add(VALIDATED_TRADES, pseudonymise(split.validated, TOKENISED, self.pii_key))
        self.spill.add(TRADES_DLQ, split.dlq)
        return _counts(raw.height, split.validated.height, split.dlq, corrected)


def fewer_records(
    before: dict[str, int], summary: DaySummary, earlier: Mapping[str, Mapping[str, int]] | None = None
) -> dict[str, dict[str, int]]:
    """Files of which a run keeps fewer records than the partition it replaces held (a file
    replaced by a truncated or unreadable one), or than an ``earlier`` run already found missing:
    never silent, and not forgotten by the next run (the completeness check names them until
    the records are back or the day is withdrawn by deleting its partition,
    docs/replaying-the-dlq.md)."""
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
