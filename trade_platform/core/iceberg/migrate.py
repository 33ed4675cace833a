"""Migration of a Parquet lake into Iceberg tables (``trade-platform iceberg migrate``): each day's
file ``<lake>/<asset>/date=D/part-0.parquet`` (``core.lake_layout``) becomes a data file of the
asset's table as it is, never rewritten: one ``append`` snapshot per table registers them all.

The files have no ``date`` column (the day is their folder), so the day is their partition value,
taken from the path: pyiceberg's ``add_files`` would infer it from the column's statistics and
refuses a file without them. Readers fill a partition column a data file lacks from its partition
value (the Iceberg spec's column projection), but pyiceberg 0.12 does so only for an optional
column, so the migration makes the table's ``date`` optional (a metadata change; every data file
still has its day) in the same commit. The files carry no Iceberg field ids either: the table's
name mapping (``schema.name-mapping.default``) maps their columns by name.

A file is registered only when its columns fit the table: a column of the table has the table's
type (or one Iceberg promotes to it, ``int`` to ``long``), the table's required columns are there
without nulls; a column the table lacks joins it as an optional column, as a write adds one
(``overwrite.add_columns``). A file that does not fit is refused, with why. Idempotent: a day the
table holds (written by a run), a day migrated before (``MIGRATED_DAYS``, even if a run or
retention removed it since) and a file the table references are left alone; an empty file adds
nothing (an Iceberg day with no rows has no files).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl
import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from pyiceberg.exceptions import ResolveError
from pyiceberg.schema import Schema, promote
from pyiceberg.table import Table, TableProperties
from pyiceberg.types import IcebergType

from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.data_files import describe
from trade_platform.core.iceberg.maintenance import referenced_files, spelled_once
from trade_platform.core.iceberg.overwrite import add_columns
from trade_platform.core.iceberg.reads import stored_days
from trade_platform.core.iceberg.schema import iceberg_type
from trade_platform.core.lake_layout import DAY_FOLDER, PART_FILE, PARTITION_COLUMN, matched_day, table_url
from trade_platform.core.storage import storage_errors

MIGRATION_PROPERTY = {"trade-platform.operation": "migration"}
"""The snapshot summary of a migration's commit."""
MIGRATED_DAYS = "trade-platform.migrated-days"
"""The table property naming the days migrations registered, as runs (``2026-11-01..2026-11-30``)."""


@dataclass
class Migration:
    """What migrating one asset's days did (or, in a dry run, would do)."""

    asset: str
    registered: list[str] = field(default_factory=list)
    """The days whose files the table now references."""
    present: list[str] = field(default_factory=list)
    """The days the table held already, left alone."""
    empty: list[str] = field(default_factory=list)
    """The days whose file has no rows: nothing to register."""
    refused: list[str] = field(default_factory=list)
    """Why each refused file does not fit the table, naming the file."""
    snapshot_id: int | None = None
    """The migration's snapshot, or None when it committed none."""


@dataclass(frozen=True)
class _File:
    day: str
    url: str
    metadata: pq.FileMetaData
    columns: pl.Schema


def parquet_days(lake_url: str, asset: str) -> dict[str, str]:
    """The URL of each day's file of the asset's Parquet layout, by day, oldest first."""
    fs, root = url_to_fs(table_url(lake_url, asset))
    with storage_errors("list", table_url(lake_url, asset)):
        found = fs.glob(f"{root.rstrip('/')}/{PARTITION_COLUMN}=*/{PART_FILE}")
    days = {}
    for path in found:
        day = matched_day(DAY_FOLDER.fullmatch(path.rsplit("/", 2)[-2]))
        if day is not None:
            days[day.isoformat()] = fs.unstrip_protocol(path)
    return dict(sorted(days.items()))


def migrate(
    tables: IcebergTables,
    asset: str,
    files: Mapping[str, str],
    planned: Callable[[pl.Schema], tuple[Schema, dict[str, str]]],
    dry_run: bool = False,
) -> Migration:
    """Register ``files`` (``{day: url}``) in the asset's table in one commit. A table not there
    yet is created with the schema and properties ``planned`` makes of a file's columns. A dry
    run commits nothing, and checks the files against the table it would create."""
    result = Migration(asset)
    table = tables.existing(asset)
    files = _new_files(table, files, result)
    read = [found for day, url in files.items() if (found := _read(day, url, result)) is not None]
    if not read:
        return result
    schema = table.schema() if table is not None else planned(read[0].columns)[0]
    fitting = [f for f in read if not _refuse(f, schema, tables.identifier(asset), result)]
    result.registered = [f.day for f in fitting]
    if dry_run or not fitting:
        return result
    table = table or tables.table(asset, *planned(read[0].columns))
    result.snapshot_id = _register(table, asset, fitting)
    return result


def _new_files(table: Table | None, files: Mapping[str, str], result: Migration) -> dict[str, str]:
    """The files of days the table neither holds nor had migrated before (a migrated day a run
    re-wrote empty, or retention deleted, stays so), that it does not reference already."""
    if table is None:
        return dict(files)
    done = stored_days(table, list(files)) if files else set()
    done |= migrated_days(table)
    referenced = referenced_files(table)
    result.present = sorted(
        day for day, url in files.items() if day in done or spelled_once(url) in referenced
    )
    return {day: url for day, url in files.items() if day not in result.present}


def migrated_days(table: Table) -> set[str]:
    """The days migrations registered in the table (``MIGRATED_DAYS``)."""
    days = set()
    for run in filter(None, table.properties.get(MIGRATED_DAYS, "").split(",")):
        first, _, last = run.partition("..")
        start, end = date.fromisoformat(first), date.fromisoformat(last or first)
        days |= {str(start + timedelta(days=n)) for n in range((end - start).days + 1)}
    return days


def _as_runs(days: Iterable[str]) -> str:
    """ISO days as runs of consecutive days, ``first..last`` or one day, comma-separated."""
    runs: list[list[date]] = []
    for day in sorted({date.fromisoformat(d) for d in days}):
        if runs and day - runs[-1][1] == timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return ",".join(str(first) if first == last else f"{first}..{last}" for first, last in runs)


def _read(day: str, url: str, result: Migration) -> _File | None:
    """The file's footer and columns, or None when it has no rows or is not Parquet."""
    fs, path = url_to_fs(url)
    try:
        with fs.open(path, "rb") as handle:
            metadata = pq.read_metadata(handle)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        result.refused.append(f"{url}: not a readable Parquet file ({exc})")
        return None
    if metadata.num_rows == 0:
        result.empty.append(day)
        return None
    columns = pl.from_arrow(metadata.schema.to_arrow_schema().empty_table()).schema
    return _File(day, url, metadata, columns)


def _refuse(file: _File, schema: Schema, where: str, result: Migration) -> bool:
    """Whether the file does not fit the table's schema; if so, why joins ``result.refused``."""
    problems = []
    nulls = _null_counts(file.metadata)
    for column in schema.fields:
        if column.name == PARTITION_COLUMN:
            continue
        if column.name not in file.columns:
            if column.required:
                problems.append(f"lacks the required column {column.name}")
            continue
        found = _iceberg_type(file.columns[column.name])
        if found is None or not _fits(found, column.field_type):
            problems.append(
                f"column {column.name} is {found or file.columns[column.name]}, not {column.field_type}"
            )
        elif column.required and nulls.get(column.name, 0):
            problems.append(f"the required column {column.name} has {nulls[column.name]} nulls")
    names = {column.name for column in schema.fields}
    problems += [
        f"column {name} is {dtype}, which has no Iceberg type"
        for name, dtype in file.columns.items()
        if name not in names and _iceberg_type(dtype) is None
    ]
    if problems:
        result.refused.append(f"{file.url}: does not fit {where}: {'; '.join(problems)}")
    return bool(problems)


def _iceberg_type(dtype: pl.DataType) -> IcebergType | None:
    try:
        return iceberg_type(dtype, itertools.count(1))
    except ValueError:
        return None


def _fits(found: IcebergType, wanted: IcebergType) -> bool:
    """Whether a file's column of type ``found`` reads as the table's ``wanted`` (nested types
    compare by their spelling: their field ids are the table's, not the file's)."""
    if str(found) == str(wanted):
        return True
    try:
        promote(found, wanted)
    except ResolveError:
        return False
    return True


def _null_counts(metadata: pq.FileMetaData) -> dict[str, int]:
    """Each top-level column's nulls, from the row groups' statistics (where they have them)."""
    counts: dict[str, int] = {}
    for group in range(metadata.num_row_groups):
        for index in range(metadata.num_columns):
            chunk = metadata.row_group(group).column(index)
            stats = chunk.statistics
            if "." not in chunk.path_in_schema and stats is not None and stats.has_null_count:
                counts[chunk.path_in_schema] = counts.get(chunk.path_in_schema, 0) + stats.null_count
    return counts


def _register(table: Table, asset: str, files: list[_File]) -> int:
    """One commit: the name mapping, ``date`` optional, the files' new columns, their data files."""
    transaction = table.transaction()
    transaction.set_properties(**{MIGRATED_DAYS: _as_runs({*migrated_days(table), *(f.day for f in files)})})
    if transaction.table_metadata.name_mapping() is None:  # before the schema update, which then extends it
        mapping = transaction.table_metadata.schema().name_mapping.model_dump_json()
        transaction.set_properties(**{TableProperties.DEFAULT_NAME_MAPPING: mapping})
    known = set(transaction.table_metadata.schema().column_names)
    extra = {name: dtype for f in files for name, dtype in f.columns.items() if name not in known}
    with transaction.update_schema() as update:
        if transaction.table_metadata.schema().find_field(PARTITION_COLUMN).required:
            update.make_column_optional(PARTITION_COLUMN)
        add_columns(update, asset, extra)
    metadata = transaction.table_metadata
    with transaction.update_snapshot(snapshot_properties=MIGRATION_PROPERTY).fast_append() as append:
        for file in files:
            fs, path = url_to_fs(file.url)
            day = date.fromisoformat(file.day)
            append.append_data_file(
                describe(metadata, metadata.schema(), file.url, day, file.metadata, fs.size(path))
            )
    return transaction.commit_transaction().current_snapshot().snapshot_id
