"""A Kafka topic into the landing zone, every message exactly once (by topic, partition, offset).

Offsets are committed by hand, only after a batch's files are durable (``enable.auto.commit`` is
off). A batch of one partition is the offset range ``first``-``last`` and its files are named from
it (``core.kafka.messages``), so writing it twice writes the same files. Before writing,
the range is recorded in ``<landing>/_kafka/<topic>/p<partition>.json`` (the partition's ranges
written but not yet committed). Whoever is assigned the partition next (this process restarted
after a crash, or another member of the group after a rebalance) reads that record and ends its
first batches exactly at those ranges' ends: a crash between write and commit re-reads the same
range and rewrites the same file names, so nothing is landed twice and nothing is lost.

Offsets deleted (by retention) before they were landed, found on assignment (the committed offset
or a recorded range below the partition's first offset) or as a gap while reading (an offset
reset), are recorded as lost (``ranges.record_loss``) before any commit past them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import polars as pl
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Message, TopicPartition

from trade_platform.core.kafka.buffers import PartitionBuffer, land
from trade_platform.core.kafka.client import (
    REBALANCED,
    KafkaUnavailableError,
    consumer,
    partition_offsets,
    watermarks,
    where,
)
from trade_platform.core.kafka.messages import day_files, file_name
from trade_platform.core.kafka.ranges import Log, Range, read_ranges, record_loss, record_url, write_ranges
from trade_platform.core.storage import write_atomically
from trade_platform.kafka_settings import KafkaSettings

CONSUME_BATCH = 50_000
POLL_SECONDS = 0.5
IDLE_SECONDS = 10.0
"""``kafka_ingest``: with nothing to read for this long, the end offsets are taken as reached
(a partition can end in transaction markers, which are never delivered)."""


@dataclass
class LandingSummary:
    messages: int = 0
    files: int = 0
    batches: int = 0
    by_day: Counter[str] = field(default_factory=Counter)
    """Messages landed per day folder."""

    def add(self, other: LandingSummary) -> None:
        self.messages += other.messages
        self.files += other.files
        self.batches += other.batches
        self.by_day.update(other.by_day)


class LandingConsumer:
    """Consumes ``settings.topic`` as a member of ``settings.group`` into ``landing_url``."""

    def __init__(self, settings: KafkaSettings, landing_url: str, log: Log, start_date: date):
        self.settings, self.landing_url, self.log = settings, landing_url.rstrip("/"), log
        self.start_date = start_date
        """The first partition: messages land on the days from it to the day they are read."""
        self.where = where(settings)
        self.summary = LandingSummary()
        self._partitions: dict[int, PartitionBuffer] = {}
        self._assigned = False
        self._active_at = time.monotonic()
        """When a message or an assignment last arrived."""
        self._ends: dict[int, int] | None = None
        self._skips: list[TopicPartition] = []
        """Offsets past ranges recorded as lost at assignment, to commit."""
        self._read: list[Message] = []
        """Messages read and not yet landed (``_land``)."""
        self._consumer = consumer(settings, error_cb=self._on_error)

    @property
    def buffered(self) -> int:
        """Messages read and not yet written."""
        return sum(state.count for state in self._partitions.values())

    @property
    def buffered_bytes(self) -> int:
        """Bytes of message values read and not yet written."""
        return sum(state.size for state in self._partitions.values())

    def run(self, *, to_end_offsets: bool, should_stop: Callable[[], bool] = lambda: False) -> LandingSummary:
        """Consume until ``should_stop()`` (then write and commit what was read) or, with
        ``to_end_offsets``, until this member's partitions reach the end offsets seen at the start."""
        try:
            _, ends = watermarks(self._consumer, self.settings)
            self._ends = ends if to_end_offsets else None
            self._consumer.subscribe(
                [self.settings.topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )
            while not should_stop():
                messages = self._consumer.consume(
                    min(CONSUME_BATCH, self.settings.batch_messages), POLL_SECONDS
                )
                for message in messages:
                    self._add(message)
                self._land()
                self._active_at = time.monotonic() if messages else self._active_at
                self._bound_memory()
                if self._skips:
                    skips, self._skips = self._skips, []
                    self._commit(skips)
                while due := [p for p, state in self._partitions.items() if self._due(state, to_end_offsets)]:
                    self._flush(due)  # again: a buffer can reach several recorded ranges' ends
                if (
                    to_end_offsets
                    and self._assigned
                    and (
                        all(state.done for state in self._partitions.values())
                        or time.monotonic() - self._active_at > IDLE_SECONDS
                    )
                ):
                    break
            while rest := self._writable():
                self._flush(rest)
        finally:
            self._consumer.close()
        return self.summary

    def _add(self, message: Message) -> None:
        if message.error():
            if message.error().fatal():
                raise KafkaException(message.error())
            self.log.warning(f"{self.where}: {message.error().str()}")
            return
        partition, offset = message.partition(), message.offset()  # each message's hot path
        state = self._partitions.get(partition)
        if state is None:  # not (or no longer) this member's: its next owner reads it
            return
        end = None if self._ends is None else self._ends.get(partition, 0)
        if end is not None and offset >= end:
            state.done = True  # what arrived since the start is left for the next run
            self._consumer.pause([TopicPartition(self.settings.topic, partition)])
            return
        expected, state.next_offset = state.next_offset, offset + 1
        if expected is not None and offset > expected:  # a gap: transactions, or a reset
            low, _ = partition_offsets(self._consumer, self.settings, partition)
            if low > expected:
                self._lose(partition, state, expected, low)
        if offset < state.skip_below:
            return
        self._read.append(message)
        if end is not None and offset + 1 >= end:
            state.done = True

    def _land(self) -> None:
        """Lands the messages read since the last call into their partitions' buffers."""
        if self._read:
            land(self._read, self._partitions, self.start_date)
            self._read = []

    def _due(self, state: PartitionBuffer, to_end_offsets: bool) -> bool:
        if not state.count:
            return False
        if state.cuts:  # a recorded range is re-read exactly, however long it takes
            return state.last_offset >= state.cuts[0].last
        kafka = self.settings
        if state.count >= kafka.batch_messages or state.size >= kafka.batch_bytes:
            return True
        if to_end_offsets:  # a run writes what it read at its end: no rotation
            return state.done
        return time.monotonic() - state.since >= kafka.rotate_seconds

    def _writable(self) -> list[int]:
        return [p for p, state in self._partitions.items() if state.count and not state.cuts]

    def _bound_memory(self) -> None:
        """While all buffers together hold more than ``buffer_bytes``, the fullest is written early."""
        while self.buffered_bytes > self.settings.buffer_bytes:
            writable = self._writable()
            if not writable:  # only recorded ranges being re-read, which must end where they ended
                return
            self._flush([max(writable, key=lambda p: self._partitions[p].size)])

    def _flush(self, partitions: list[int]) -> None:
        """Write each partition's batch, record and all; then commit them all at once."""
        batches = []
        for partition in partitions:
            state = self._partitions[partition]
            batch = state.take_batch(self.settings.batch_messages, self.settings.batch_bytes)
            if state.cuts:  # a recorded range being re-read is in the record already
                batch_range = state.cuts.pop(0)
            else:
                batch_range = Range(
                    batch["offset"][0], batch["offset"][-1], self.start_date, batch["consumed"][0]
                )
                state.uncommitted.append(batch_range)
                write_ranges(self._record_url(partition), self.settings.group, state.uncommitted)
            if not batch.is_empty():  # else the range is gone from Kafka, unnoticed: nothing to rewrite
                batches.append((partition, batch))
        with ThreadPoolExecutor(max(len(batches), 1)) as pool:  # writes (and polars) release the GIL
            written = list(pool.map(self._write, batches))
        offsets = []
        for (partition, batch), files in zip(batches, written, strict=True):
            first, last = batch["offset"][0], batch["offset"][-1]
            counts = {str(day): count for day, count in batch.group_by("day").len().iter_rows()}
            self.summary.add(LandingSummary(batch.height, files, 1, Counter(counts)))
            self.log.info(
                f"landed {batch.height} messages of {self.settings.topic}[{partition}] offsets {first}-{last}: "
                + ", ".join(f"{day} {count}" for day, count in sorted(counts.items()))
            )
            offsets.append(TopicPartition(self.settings.topic, partition, last + 1))
        if offsets:
            self._commit(offsets)

    def _write(self, partition_batch: tuple[int, pl.DataFrame]) -> int:
        """Writes a batch's files (one per day); how many."""
        partition, batch = partition_batch
        name = file_name(self.settings.topic, partition, batch["offset"][0], batch["offset"][-1])
        files = day_files(name, batch)
        for path, payload in files.items():
            write_atomically(f"{self.landing_url}/{path}", payload)
        return len(files)

    def _commit(self, offsets: list[TopicPartition]) -> None:
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # The ranges stay recorded: whoever next holds the partition re-reads exactly them.
            error = exc.args[0]
            if error.code() not in REBALANCED:
                raise KafkaUnavailableError(
                    f"{self.where}: cannot commit offsets ({error.str()}); the files written stay recorded "
                    "as uncommitted and are rewritten, not duplicated, when consumption resumes"
                ) from None
            self.log.warning(f"{self.where}: partitions moved before the commit ({error.str()})")
            return
        for offset in offsets:
            state = self._partitions.get(offset.partition)
            if state is not None:
                state.uncommitted = [r for r in state.uncommitted if r.first >= offset.offset]

    def _on_assign(self, client: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned, self._active_at = True, time.monotonic()
        try:
            found = client.committed(partitions, timeout=self.settings.timeout_seconds)
        except KafkaException as exc:
            raise KafkaUnavailableError(f"{self.where}: cannot read the group's offsets: {exc}") from None
        committed = {tp.partition: tp.offset for tp in found}
        for tp in partitions:
            start = committed.get(tp.partition, OFFSET_INVALID)
            start = start if start >= 0 else -1
            pending = [
                r for r in read_ranges(self._record_url(tp.partition), self.start_date) if r.first >= start
            ]
            expected = start if start >= 0 else (pending[0].first if pending else None)
            state = PartitionBuffer(uncommitted=pending, cuts=list(pending), next_offset=expected)
            low, _ = partition_offsets(client, self.settings, tp.partition)
            if expected is not None and expected < low:
                self._lose(tp.partition, state, expected, low)
                state.next_offset = low
                self._skips.append(TopicPartition(self.settings.topic, tp.partition, state.skip_below))
            ends = self._ends
            state.done = ends is not None and max(start, low, state.skip_below) >= ends.get(tp.partition, 0)
            self._partitions[tp.partition] = state
            self.log.info(f"assigned {self.settings.topic}[{tp.partition}] from offset {max(start, low)}")
            if state.cuts:
                self.log.info(
                    f"{self.settings.topic}[{tp.partition}]: re-reading {len(state.cuts)} range(s) written but "
                    f"not committed, from offset {state.cuts[0].first}"
                )

    def _lose(self, partition: int, state: PartitionBuffer, first: int, low: int) -> None:
        state.cuts, lost = record_loss(
            self.landing_url, self.settings.topic, partition, state.cuts, first, low, self.log
        )
        state.skip_below = lost.stop
        self._land()
        state.keep(~pl.col("offset").is_between(lost.start, lost.stop - 1))  # of a recorded range lost whole

    def _on_revoke(self, client: Consumer, partitions: list[TopicPartition]) -> None:
        """What was read and not committed is the next owner's to read again."""
        for tp in partitions:
            state = self._partitions.pop(tp.partition, None)
            left = state.count if state else 0
            self.log.info(
                f"revoked {self.settings.topic}[{tp.partition}]; {left} messages read are left to its next owner"
            )

    def _record_url(self, partition: int) -> str:
        return record_url(self.landing_url, self.settings.topic, partition)

    def _on_error(self, error: KafkaError) -> None:
        self.log.warning(f"{self.where}: {error.str()}")
