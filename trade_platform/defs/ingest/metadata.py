"""What a run of ``ingest_trades`` records it read, on each ``raw_trades`` materialization.

The landing zone changes after a run, so the run's own record is what the landing sensor (has
the day changed since?), the ``landing_completeness`` check (is every file accounted for?) and
lineage (which files made this partition?) compare with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, EventLogRecord, MetadataValue

from trade_platform.core.landing.files import LandingFile
from trade_platform.core.landing.fileset import fileset_digest
from trade_platform.core.landing.listing import ListedFile
from trade_platform.core.names import RAW_TRADES

LANDING_FILES = "landing_files"
CORRECTIONS_FILES = "corrections_files"
LANDING_FILESET = "landing_fileset"
"""``fileset_digest`` of the tracked files the run listed (``core.landing.fileset.is_tracked``),
as the landing sensor fingerprints them."""
UNREADABLE_FILES = "unreadable_files"
FEWER_RECORDS = "fewer_records"
FILES_READ = "files_read"
"""The sources the run read: every file of the day, or only those added since its last run
(``defs.ingest.increment``)."""
CORRECTED_RECORDS = "corrected_records"
"""On ``trades_dlq``: the day's records a correction matched."""
CORRECTIONS_NAMING_NO_RECORD = "corrections_naming_no_record"
"""On ``trades_dlq``: the records the day's corrections name that no landed record is."""


def as_listed(files: Sequence[LandingFile]) -> list[ListedFile]:
    return [ListedFile(f.relative_path, f.size, f.version) for f in files]


def read_metadata(
    landing_url: str,
    files: Sequence[LandingFile],
    corrections: Sequence[LandingFile],
    tracked: Sequence[ListedFile],
    unreadable: Mapping[str, str],
    fewer_records: Mapping[str, Mapping[str, int]],
) -> dict:
    """The ``raw_trades`` metadata of one day: the files read (path, size, version), the digest
    of the ``tracked`` files listed, the files found unreadable and those the day now keeps
    fewer records of."""
    return {
        LANDING_FILES: _file_list(landing_url, as_listed(files)),
        CORRECTIONS_FILES: _file_list(landing_url, as_listed(corrections)),
        LANDING_FILESET: MetadataValue.text(fileset_digest(tracked)),
        UNREADABLE_FILES: MetadataValue.json(dict(unreadable)),
        FEWER_RECORDS: MetadataValue.json({path: dict(n) for path, n in fewer_records.items()}),
    }


def _file_list(landing_url: str, files: Sequence[ListedFile]) -> MetadataValue:
    """The landing root and each file read (path relative to it, size in bytes, version)."""
    return MetadataValue.json({"root": landing_url, "files": [f.as_json() for f in files]})


def recorded_read(
    record: EventLogRecord,
) -> tuple[list[ListedFile], dict[str, str], dict[str, dict[str, int]]]:
    """(files read, unreadable files, files with fewer records) from a ``raw_trades``
    materialization; a materialization from before versions were recorded reads as versionless."""
    metadata = {key: entry.value for key, entry in record.asset_materialization.metadata.items()}
    read = metadata.get(LANDING_FILES, {"files": []})["files"]
    files = [ListedFile(f["path"], f["size"], f.get("version", "")) for f in read]
    return files, dict(metadata.get(UNREADABLE_FILES, {})), dict(metadata.get(FEWER_RECORDS, {}))


def recorded_corrections(record: EventLogRecord) -> list[ListedFile]:
    """The corrections files a ``raw_trades`` materialization recorded it read."""
    entry = record.asset_materialization.metadata.get(CORRECTIONS_FILES)
    read = entry.value["files"] if entry is not None else []
    return [ListedFile(f["path"], f["size"], f.get("version", "")) for f in read]


def latest_read(instance: DagsterInstance, day: str) -> EventLogRecord | None:
    """The day's latest ``raw_trades`` materialization: what the last run recorded it read."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(RAW_TRADES), asset_partitions=[day]), limit=1
    ).records
    return records[0] if records else None


def earlier_fewer_records(instance: DagsterInstance, day: str) -> dict[str, dict[str, int]]:
    """The files the day's latest ``raw_trades`` materialization found with fewer records."""
    record = latest_read(instance, day)
    return recorded_read(record)[2] if record else {}
