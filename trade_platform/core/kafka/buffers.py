"""What the consumer holds of one partition, landed and not yet written, and where its batches end.

Messages are landed as they are read, a consumed chunk at a time (``landed_lines``: each message
on its own, so a batch landed in chunks is the batch landed whole); a partition holds only their
lines until its batch is written. A batch ends at a recorded range's end (a re-read lands exactly
what was written before), or else at ``batch_messages`` messages or ``batch_bytes`` bytes of
message values, whichever comes first, as Kafka Connect's S3 sink bounds its files
(``flush.size``); one larger message is a batch alone. A batch never spans two days of reading:
its range records one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import polars as pl
from confluent_kafka import Message

from trade_platform.core.kafka.client import message_frame
from trade_platform.core.kafka.messages import landed_lines
from trade_platform.core.kafka.ranges import Range


@dataclass
class PartitionBuffer:
    rows: list[pl.DataFrame] = field(default_factory=list)
    """Landed messages not yet written: ``offset``, ``size``, ``consumed``, ``day``, ``line``."""
    count: int = 0
    size: int = 0
    """Bytes of the held messages' values."""
    last_offset: int = -1
    since: float = 0.0
    """When the batch began (its first message was landed, or the batch before it was written)."""
    uncommitted: list[Range] = field(default_factory=list)
    """Ranges written (or being written) and not yet committed, as recorded."""
    cuts: list[Range] = field(default_factory=list)
    """Recorded ranges to re-read: a batch must end exactly at their ends, landed as they were."""
    next_offset: int | None = None
    """The offset expected next (None: whatever the group starts from); one past it may be lost."""
    skip_below: int = 0
    """Messages below this offset belong to a range recorded as lost."""
    done: bool = False
    """``kafka_ingest``: the end offset seen at the start is reached; what follows is left for later."""

    def add(self, landed: pl.DataFrame) -> None:
        if not self.count:
            self.since = time.monotonic()
        self.rows.append(landed)
        self.count += landed.height
        self.size += landed["size"].sum()
        self.last_offset = landed["offset"][-1]

    def keep(self, wanted: pl.Expr) -> None:
        """Keeps only the rows ``wanted``."""
        self.rows = [frame.filter(wanted) for frame in self.rows]
        self.count = sum(frame.height for frame in self.rows)
        self.size = sum(frame["size"].sum() for frame in self.rows)

    def take_batch(self, batch_messages: int, batch_bytes: int) -> pl.DataFrame:
        """Removes the first batch and returns it; the next batch begins now."""
        frame = pl.concat(self.rows)
        if self.cuts:
            end = frame["offset"].search_sorted(self.cuts[0].last, side="right")
        else:
            head = frame.head(batch_messages)
            other_day = (head["consumed"] != head["consumed"][0]).arg_true()
            fits = int((head["size"].cum_sum() <= batch_bytes).sum())
            end = max(1, min(fits, other_day[0] if len(other_day) else head.height))
        batch, rest = frame.head(end), frame.slice(end)
        self.rows = [rest] if rest.height else []
        self.count -= batch.height
        self.size -= batch["size"].sum() if batch.height else 0
        self.since = time.monotonic()
        return batch


def land(messages: list[Message], partitions: dict[int, PartitionBuffer], start: date) -> None:
    """Lands read messages into their partitions' buffers: each on the days from ``start`` to
    today, or, in a recorded range being re-read, on the days recorded with it."""
    first, last = pl.lit(start), pl.lit(datetime.now(UTC).date())
    for number, state in partitions.items():
        for cut in reversed(state.cuts):  # a message belongs to the first range ending at or after it
            hit = (pl.col("partition") == number) & (pl.col("offset") <= cut.last)
            first = pl.when(hit).then(pl.lit(cut.start)).otherwise(first)
            last = pl.when(hit).then(pl.lit(cut.consumed)).otherwise(last)
    frame = message_frame(messages).with_columns(start=first, consumed=last)
    rows = frame.select(
        "partition", "offset", pl.col("value").str.len_bytes().cast(pl.Int64).alias("size"), "consumed"
    ).hstack(landed_lines(frame))
    for (number,), part in rows.partition_by("partition", as_dict=True, include_key=False).items():
        partitions[number].add(part)
