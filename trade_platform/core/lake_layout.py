"""The lake's layout, spelled once for every reader and writer: each asset is a table folder
``<lake>/<asset>/`` holding one file per day, ``date=YYYY-MM-DD/part-0.parquet``.

The day is a hive folder, not a column of the file: readers take the ``date`` column (a ``Date``)
from the path. The I/O manager writes this layout; the ``lake`` resource, the SQL tables, Glue,
lineage and retention read it. The landing zone and scratch spills name their days with the same
``date=`` folders. No Dagster here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

import polars as pl
from upath import UPath

PARTITION_COLUMN = "date"
PART_FILE = "part-0.parquet"
ROW_GROUP_ROWS = 512 * 512
"""polars' default, given explicitly: then a frame's row groups are cut by rows, not along the
chunks it was built from, so the file depends on the rows alone (however ingest batched them);
the Iceberg format's data files too, unless the table sets ``write.parquet.row-group-limit``."""
HIVE_SCHEMA = {PARTITION_COLUMN: pl.Date()}
"""What polars' hive reader makes of a day folder: the ``date`` column, a ``Date``."""
DAY_FOLDER = re.compile(rf"{PARTITION_COLUMN}=(\d{{4}}-\d{{2}}-\d{{2}})")


def matched_day(match: re.Match[str] | None) -> date | None:
    """The day a name's match (``DAY_FOLDER``'s, or a pattern whose group is a day) names, or
    None: no match, or not a real day (``date=2024-13-45`` is not a partition)."""
    try:
        return date.fromisoformat(match.group(1)) if match else None
    except ValueError:
        return None


def day_folder(day: date | str) -> str:
    """``date=YYYY-MM-DD``: the folder of a day, in the lake and the landing zone alike."""
    return f"{PARTITION_COLUMN}={day}"


def table_url(lake_url: str, asset: str) -> str:
    """``<lake>/<asset>``: the folder of an asset's partitions."""
    return f"{lake_url.rstrip('/')}/{asset}"


def partition_file(table: UPath, day: date | str) -> UPath:
    """``<table>/date=DAY/part-0.parquet``: a day's file of a table folder."""
    return table / day_folder(day) / PART_FILE


def table_of(partition_path: str) -> str:
    """The table folder of a partition's file or folder (``partition_file``'s ``table``)."""
    return partition_path.rsplit(f"/{PARTITION_COLUMN}=", 1)[0]


def frame_days(frame: pl.DataFrame, days: Iterable[str]) -> dict[str, pl.DataFrame]:
    """The rows of each of ``days`` (ISO dates) by the frame's ``date`` column; no rows (in the
    frame's columns) for a day it lacks, which its partition then ends with."""
    by_day = frame.partition_by(PARTITION_COLUMN, as_dict=True)
    return {day: by_day.get((date.fromisoformat(day),), frame.clear()) for day in days}
