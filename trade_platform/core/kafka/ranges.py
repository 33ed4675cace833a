"""What the consumer records in the landing zone about offsets: the ranges of a partition written
but not yet committed (``<landing>/_kafka/<topic>/p<partition>.json``), re-read exactly by the
partition's next owner, and the ranges lost before they could be landed
(``core.kafka.messages.lost_range_file``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import NamedTuple, Protocol

import fsspec

from trade_platform.core.kafka.messages import lost_range_file
from trade_platform.core.storage import storage_errors, write_atomically


class Log(Protocol):
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...


class Range(NamedTuple):
    """Offsets ``first``-``last`` of a partition, landed into the partitions ``start`` to
    ``consumed`` (the day it was read): a re-read routes its messages, and names its files, the same."""

    first: int
    last: int
    start: date
    consumed: date


def record_url(landing_url: str, topic: str, partition: int) -> str:
    return f"{landing_url}/_kafka/{topic}/p{partition}.json"


def read_ranges(url: str, start: date) -> list[Range]:
    """The recorded ranges; one recorded before ranges carried their days is routed as now."""
    with storage_errors("read", url):
        try:
            with fsspec.open(url, "rb") as handle:
                recorded = json.load(handle)["uncommitted"]
        except FileNotFoundError:
            return []
    legacy = (start, datetime.now(UTC).date())
    return [
        Range(first, last, *((date.fromisoformat(day) for day in days) if days else legacy))
        for first, last, *days in recorded
    ]


def write_ranges(url: str, group: str, ranges: list[Range]) -> None:
    uncommitted = [[r.first, r.last, r.start.isoformat(), r.consumed.isoformat()] for r in ranges]
    write_atomically(url, json.dumps({"group": group, "uncommitted": uncommitted}).encode())


def record_loss(
    landing_url: str, topic: str, partition: int, cuts: list[Range], first: int, low: int, log: Log
) -> tuple[list[Range], range]:
    """Records offsets ``first`` to ``low - 1``, deleted before they were landed, as lost (before
    anything is committed past them); (the recorded ranges still to re-read, the offsets recorded
    as lost). A recorded range they reach into is lost whole: its files may be written in part, and
    without its first messages it cannot be rewritten the same."""
    gone = [r for r in cuts if r.first < low]
    reason = f"offsets {first}-{low - 1} were deleted by broker retention before they were read (low watermark {low})"
    first, last = min([first, *(r.first for r in gone)]), max([low - 1, *(r.last for r in gone)])
    if gone:
        reason += (
            f"; they reach into range(s) {', '.join(f'{r.first}-{r.last}' for r in gone)} recorded as written "
            "but not committed, whose files may be complete, partial or missing and cannot be rewritten"
        )
    path, payload = lost_range_file(topic, partition, first, last, reason, datetime.now(UTC))
    write_atomically(f"{landing_url}/{path}", payload)
    log.warning(f"{topic}[{partition}]: offsets {first}-{last} are lost ({reason}); recorded in {path}")
    return [r for r in cuts if r.first > last], range(first, last + 1)
