"""A day's landing folder as a set of files: what a run read, and what the folder holds now.

Two questions are answered from the same listing rules, so they cannot disagree:
- has the day changed since its last run read it (the landing sensor: ``fileset_digest``), and
- is every file the folder holds accounted for by that run (the ``landing_completeness`` check:
  ``completeness``).

A file is its path, size and version (``core.landing.files.file_version``), never its age: a
late file copied with an old modification time is a change like any other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import fsspec

from trade_platform.core.landing.files import is_hidden, is_landing_file
from trade_platform.core.landing.listing import ListedFile, below_day

KAFKA_LOST = "_kafka_lost"
"""``trades/date=D/_kafka_lost/<topic>-p<N>-<first>-<last>.json``: Kafka offsets the consumer
found gone from the broker on day D (``streaming``); hidden from the readers, seen by the check."""


def fileset_digest(files: Iterable[ListedFile]) -> str:
    """sha256 (16 hex digits) of the sorted (path, size, version) lines of the files a day reads."""
    lines = sorted(f"{f.path}\t{f.size}\t{f.version}" for f in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def is_lost_offsets_record(path: str) -> bool:
    """``_kafka_lost/<name>.json`` below a day, whatever the topic's name (a writer's temporary
    file there ends in ``.tmp``)."""
    folder, _, name = below_day(path).partition("/")
    return folder == KAFKA_LOST and name.endswith(".json") and "/" not in name


def is_tracked(path: str) -> bool:
    """Whether a change of the file requests a run of its day: every file that is not hidden
    (a file that is not a landing format too, so that its day's check names it) and every
    lost-offsets record. Hidden temporary files (``.a.csv.tmp``, ``_temporary/``) are not."""
    return not is_hidden(below_day(path)) or is_lost_offsets_record(path)


@dataclass
class Completeness:
    """What a day's folder holds that its last run did not turn into records."""

    not_read: dict[str, str] = field(default_factory=dict)
    """File -> why the run did not read it (an unsupported format, arrived or changed since)."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """File -> why it could not be read (its records are missing; the DLQ has one entry)."""
    fewer_records: dict[str, dict[str, int]] = field(default_factory=dict)
    """File -> records in ``raw_trades`` before and after the run, where the run kept fewer."""
    lost_offsets: dict[str, str] = field(default_factory=dict)
    """Lost-offsets record -> the range and why it was lost."""

    @property
    def complete(self) -> bool:
        return not (self.not_read or self.unreadable or self.fewer_records or self.lost_offsets)

    @property
    def files(self) -> set[str]:
        """The files (and lost-offsets records) with a problem."""
        return {*self.not_read, *self.unreadable, *self.fewer_records, *self.lost_offsets}

    def problems(self) -> list[str]:
        """One line per file, the worst first: losses, then what is waiting to be read."""
        return [
            *(f"{path}: lost Kafka offsets: {why}" for path, why in self.lost_offsets.items()),
            *(
                f"{path}: {n['before']} records before this run, {n['after']} now"
                for path, n in self.fewer_records.items()
            ),
            *(f"{path}: unreadable: {why}" for path, why in self.unreadable.items()),
            *(f"{path}: not read: {why}" for path, why in self.not_read.items()),
        ]


def completeness(
    now: Iterable[ListedFile],
    read: Iterable[ListedFile],
    unreadable: Mapping[str, str],
    fewer_records: Mapping[str, Mapping[str, int]],
    landing_url: str,
) -> Completeness:
    """Judge a day's folder as listed ``now`` against the files its last run ``read``, the
    files that run found ``unreadable`` and the files it kept ``fewer_records`` of."""
    found = Completeness(
        unreadable=dict(unreadable), fewer_records={k: dict(v) for k, v in fewer_records.items()}
    )
    was_read = {f.path: f for f in read}
    for file in now:
        if is_lost_offsets_record(file.path):
            found.lost_offsets[file.path] = _lost_range(landing_url, file.path)
        elif is_hidden(below_day(file.path)):
            continue
        elif file.folder:
            found.not_read[file.path] = "a link to a folder, which is not followed"
        elif not is_landing_file(below_day(file.path)):
            found.not_read[file.path] = "its extension is not a landing format"
        elif file.path not in was_read:
            found.not_read[file.path] = "arrived after the run"
        elif (file.size, file.version) != (was_read[file.path].size, was_read[file.path].version):
            found.not_read[file.path] = "changed after the run"
    return found


def _lost_range(landing_url: str, path: str) -> str:
    """The record's own words; a record that cannot be read still fails the check."""
    try:
        with fsspec.open(f"{landing_url.rstrip('/')}/{path}", "r", encoding="utf-8") as handle:
            record = json.load(handle)
        return (
            f"{record['topic']} partition {record['partition']} offsets "
            f"{record['first_offset']}-{record['last_offset']}: {record['reason']}"
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"the record cannot be read ({type(exc).__name__}: {exc})"
