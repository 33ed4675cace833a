"""Retention: which day partitions of which layer are past their window, listed with their sizes,
deleted, and audited; plain fsspec on local folders and S3 alike, no Dagster.

A window of N days keeps the N UTC days that end today: today and the N-1 days before it. A
partition is judged by its day (the ``date=D`` of its folder, the ``D`` of ``events-D.jsonl``),
never by when its files were written, and it expires when D <= today - N. A layer with no window
is kept forever.

The layers (``names.RETENTION_LAYERS``) and what a partition of each is:

- ``landing``: a landing day folder ``<landing>/trades/date=D/``; and the day's corrections
  folder ``<landing>/corrections/date=D/``, kept as long as the longer of the ``landing`` and
  ``raw_trades`` windows, because a replay of a day whose landing files are gone reads its
  records from ``raw_trades`` and still applies its corrections;
- each lake asset: ``<lake>/<asset>/date=D/``;
- ``lineage``: an OpenLineage event file ``<lake>/lineage/events-D.jsonl``.

Only these entries, found by listing their layer's folder, are ever deleted: nothing above or
beside them (``<lake>/audit/``, ``<landing>/_kafka/``, a folder of another name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from fsspec.core import url_to_fs

from trade_platform.core.lake_layout import DAY_FOLDER, day_folder, matched_day, table_url
from trade_platform.core.landing.files import CORRECTIONS, TRADES
from trade_platform.core.names import ALL, LANDING, LINEAGE, RAW_TRADES
from trade_platform.core.storage import storage_errors, write_atomically

# A lineage file (defs/lineage/events.py writes events-YYYY-MM-DD.jsonl); day folders are core.lake_layout's.
EVENTS_FILE = re.compile(r"events-(\d{4}-\d{2}-\d{2})\.jsonl")
AUDIT_FOLDER = "audit/retention"
"""Under the lake: one JSON-lines file per run (``write_audit``)."""


def oldest_kept_day(window_days: int, today: date) -> date:
    """The first day a window of ``window_days`` keeps (it keeps the days from here to today)."""
    if window_days < 1:
        raise ValueError(f"a retention window is at least 1 day, got {window_days}")
    return today - timedelta(days=window_days - 1)


def is_expired(day: date, window_days: int | None, today: date) -> bool:
    """Whether a partition of ``day`` is past a window (``None``: kept forever)."""
    return window_days is not None and day < oldest_kept_day(window_days, today)


def corrections_window(windows: Mapping[str, int]) -> int | None:
    """How long corrections folders are kept: as long as landing files or raw_trades, whichever
    is longer, since a replay needs them as long as either still holds the day's records."""
    if LANDING not in windows or RAW_TRADES not in windows:
        return None
    return max(windows[LANDING], windows[RAW_TRADES])


@dataclass(frozen=True)
class Partition:
    """One layer's data of one day: a folder or, for lineage, a file."""

    layer: str
    partition: str
    """The day, YYYY-MM-DD."""
    path: str
    """Its URL: ``file://`` + absolute path, or ``s3://bucket/key``."""
    bytes: int
    """The size of everything under it."""


@dataclass(frozen=True)
class _Folder:
    layer: str
    url: str
    entry: re.Pattern[str]
    """What a partition's name looks like; its group is the day."""
    entry_type: str
    """``directory`` or ``file``: fsspec's type of a partition entry."""
    window: int | None


def _folders(landing_url: str, lake_url: str, windows: Mapping[str, int]) -> list[_Folder]:
    landing, lake = landing_url.rstrip("/"), lake_url.rstrip("/")
    return [
        _Folder(LANDING, f"{landing}/{TRADES}", DAY_FOLDER, "directory", windows.get(LANDING)),
        _Folder(LANDING, f"{landing}/{CORRECTIONS}", DAY_FOLDER, "directory", corrections_window(windows)),
        *(
            _Folder(asset, table_url(lake, asset), DAY_FOLDER, "directory", windows.get(asset))
            for asset in ALL
        ),
        _Folder(LINEAGE, f"{lake}/{LINEAGE}", EVENTS_FILE, "file", windows.get(LINEAGE)),
    ]


def expired_partitions(
    landing_url: str, lake_url: str, windows: Mapping[str, int], today: date
) -> list[Partition]:
    """Every partition past its layer's window on ``today`` (UTC): oldest day first, a day's
    partitions in the order of the layers (the order a real run deletes them in)."""
    found = []
    for folder in _folders(landing_url, lake_url, windows):
        if folder.window is not None:
            found += _expired_in(folder, today)
    return sorted(found, key=lambda p: p.partition)


def _expired_in(folder: _Folder, today: date) -> list[Partition]:
    fs, root = url_to_fs(folder.url)
    root = root.rstrip("/")
    with storage_errors("list", folder.url):
        fs.invalidate_cache(root)
        if not fs.exists(root):
            return []
        entries = fs.ls(root, detail=True)
    found = []
    for entry in entries:
        path = entry["name"].rstrip("/")
        parent, _, name = path.rpartition("/")
        day = matched_day(folder.entry.fullmatch(name))
        if parent != root or entry["type"] != folder.entry_type or day is None:
            continue
        if is_expired(day, folder.window, today):
            found.append(
                Partition(folder.layer, day.isoformat(), fs.unstrip_protocol(path), _size(fs, entry))
            )
    return sorted(found, key=lambda p: p.partition)


def _size(fs, entry: dict) -> int:
    if entry["type"] != "directory":
        return int(entry.get("size") or 0)
    with storage_errors("list", entry["name"]):
        return sum(int(info.get("size") or 0) for info in fs.find(entry["name"], detail=True).values())


def delete_partition(partition: Partition) -> None:
    """Delete the partition's folder with everything in it (or its file)."""
    fs, path = url_to_fs(partition.path)
    with storage_errors("delete", partition.path):
        fs.rm(path, recursive=True)
        fs.invalidate_cache(path)


def audit_record(partition: Partition, *, run_id: str, time: datetime, dry_run: bool) -> dict:
    """The audit line of a deletion (or, in a dry run, of a deletion that would happen)."""
    return {"run_id": run_id, "time": time.isoformat(), **asdict(partition), "dry_run": dry_run}


def write_audit(lake_url: str, records: list[dict], *, run_id: str, day: date, attempt: int = 0) -> str:
    """Write a run's audit records as one JSON-lines file, ``<lake>/audit/retention/date=<day>/
    <run_id>.jsonl`` (a retried step's attempt N: ``<run_id>-retry-N.jsonl``); return its URL."""
    name = run_id if attempt == 0 else f"{run_id}-retry-{attempt}"
    url = f"{lake_url.rstrip('/')}/{AUDIT_FOLDER}/{day_folder(day)}/{name}.jsonl"
    write_atomically(url, "".join(json.dumps(record) + "\n" for record in records).encode())
    return url


def summarize(partitions: Iterable[Partition]) -> dict[str, dict[str, int]]:
    """Partitions and bytes per layer, in the order of the layers."""
    summary: dict[str, dict[str, int]] = {}
    for partition in partitions:
        layer = summary.setdefault(partition.layer, {"partitions": 0, "bytes": 0})
        layer["partitions"] += 1
        layer["bytes"] += partition.bytes
    return summary


def replay_refusal(windows: Mapping[str, int], day: str, today: date) -> str | None:
    """Why ``day`` cannot be replayed when neither landing files nor a ``raw_trades`` partition
    of it are left and retention explains it (the day is past both the landing and the
    raw_trades windows), or None. A replay then would rebuild the day from nothing and
    overwrite what is kept of it (validated_trades, the DLQ, the marts) with empty partitions."""
    landing, raw = windows.get(LANDING), windows.get(RAW_TRADES)
    when = date.fromisoformat(day)
    if not (is_expired(when, landing, today) and is_expired(when, raw, today)):
        return None
    return (
        f"{day} cannot be replayed: its raw data is gone. Retention keeps landing files for {landing} "
        f"days and raw_trades for {raw} days (today is {today.isoformat()}), so neither holds this "
        f"day's records any more; its other partitions are kept as they are, and a replay would "
        f"overwrite them with empty ones."
    )
