"""What the consumer holds of one partition, read and not yet written, and where its batches end.

A batch ends at a recorded range's end (a re-read lands exactly what was written before), or else
at ``batch_messages`` messages or ``batch_bytes`` bytes of message values, whichever comes first,
as Kafka Connect's S3 sink bounds its files (``flush.size``); one larger message is a batch alone.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

from confluent_kafka import Message

from trade_platform.streaming.ranges import Range


def value_size(message: Message) -> int:
    return len(message.value() or b"")


@dataclass
class PartitionBuffer:
    buffer: list[Message] = field(default_factory=list)
    size: int = 0
    """Bytes of the buffered messages' values."""
    since: float = 0.0
    """When the buffer's batch began (its first message arrived, or the batch before it closed)."""
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

    def add(self, message: Message) -> None:
        if not self.buffer:
            self.since = time.monotonic()
        self.buffer.append(message)
        self.size += value_size(message)

    def keep(self, messages: list[Message]) -> None:
        self.buffer, self.size = messages, sum(map(value_size, messages))

    def take_batch(self, batch_messages: int, batch_bytes: int) -> list[Message]:
        """Removes the buffer's first batch and returns it; the next batch begins now."""
        sizes = list(accumulate(map(value_size, self.buffer)))
        if self.cuts:
            end = bisect_right([m.offset() for m in self.buffer], self.cuts[0].last)
        else:
            end = max(1, min(batch_messages, bisect_right(sizes, batch_bytes)))
        batch, self.buffer = self.buffer[:end], self.buffer[end:]
        self.size -= sizes[end - 1] if end else 0
        self.since = time.monotonic()
        return batch
