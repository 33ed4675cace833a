"""Table maintenance: compact a day's small data files, expire old snapshots, and delete the files
no snapshot references (pyiceberg's expiry removes snapshots from the metadata only).

A file is deleted only when nothing the table still holds reaches it: not the current metadata
file nor one in its metadata log, not a live snapshot's manifest list, manifests or data files,
and it is older than ``grace`` (a writer's data files exist before its commit names them).
Compaction rewrites a day whose data files are more than ``SMALL_FILES`` as one overwrite of the
same rows (``DayOverwrite``); the caller holds the day (``lib.partition_locks``), so no run
replaces it meanwhile. No Dagster here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyiceberg.table import Table
from upath import UPath

from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.overwrite import DayOverwrite
from trade_platform.core.iceberg.reads import day_of_file, scan_days

SMALL_FILES = 4
"""A day with more data files than this is compacted (an open day's runs add one each)."""
COMPACTION_BATCH_ROWS = 250_000


def days_to_compact(table: Table, small_files: int = SMALL_FILES) -> list[str]:
    """The days with more than ``small_files`` data files, oldest first."""
    counts = Counter(day_of_file(task.file) for task in table.scan().plan_files())
    return sorted(day for day, files in counts.items() if files > small_files)


def compact_day(tables: IcebergTables, asset: str, day: str) -> None:
    """Rewrite the day's rows as few files, in one snapshot, streaming them in batches."""
    table = tables.table(asset)
    rows = scan_days(table, asset, [day], table.current_snapshot().snapshot_id)
    writer = DayOverwrite(tables, asset)
    writer.add(datetime.fromisoformat(day).date(), rows.collect_batches(chunk_size=COMPACTION_BATCH_ROWS))
    writer.commit({"trade-platform.operation": "compaction"})


@dataclass(frozen=True)
class Cleanup:
    expired_snapshots: int
    deleted_files: int
    deleted_bytes: int


def expire_and_clean(
    table: Table, keep_seconds: int, grace: timedelta, now: datetime | None = None
) -> Cleanup:
    """Expire the snapshots older than ``keep_seconds`` (never the current one), then delete the
    files under the table's location that nothing left references and that are older than ``grace``."""
    now = now or datetime.now(UTC)
    before = len(table.snapshots())
    table.maintenance.expire_snapshots().older_than(now - timedelta(seconds=keep_seconds)).commit()
    table = table.refresh()
    expired = before - len(table.snapshots())
    kept = referenced_files(table)
    root = UPath(table.location())
    deleted = size = 0
    for path, info in root.fs.find(root.path, detail=True).items():
        url = root.fs.unstrip_protocol(path)
        written = datetime.fromtimestamp(_modified(info), UTC)
        if spelled_once(url) in kept or now - written < grace:
            continue
        root.fs.rm(path)
        deleted, size = deleted + 1, size + int(info.get("size") or 0)
    return Cleanup(expired, deleted, size)


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata reaches: metadata files, and per live snapshot its
    manifest list, manifests and data files."""
    metadata = table.metadata
    found = {table.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
    for snapshot in metadata.snapshots:
        found.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            found.add(manifest.manifest_path)
            found.update(
                e.data_file.file_path for e in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
            )
    return {spelled_once(url) for url in found}


def spelled_once(url: str) -> str:
    """One spelling per file: ``file:///x`` and ``file:/x`` (fsspec's) alike."""
    return url.replace("file:///", "/").replace("file:/", "/") if url.startswith("file:") else url


def _modified(info: dict) -> float:
    moment = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)
