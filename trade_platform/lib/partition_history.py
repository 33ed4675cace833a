"""Wipe partitions' materializations from a Dagster instance, so the UI shows them missing.

``DagsterInstance.wipe_asset_partitions`` is Dagster's API for the wipe, but in Dagster 1.13 only
Dagster+'s storage implements it: the open-source SQL event logs (SQLite, PostgreSQL) raise
``NotImplementedError``. There the same effect comes from the event log's asset index: the
partitions' materialization, planned-materialization and failed-materialization events (and
their tags) are deleted, and the asset's cached partition status is dropped so that it is
rebuilt from what is left. On SQLite the old runs' own logs keep those events (they live in
each run's shard); PostgreSQL has one events table, so there they leave the old runs' logs too.
Check this module first on a Dagster upgrade (CONTRIBUTING.md, "Upgrading Dagster").
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as db
from dagster import AssetKey, DagsterEventType, DagsterInstance

from trade_platform.lib.dagster_private import (
    AssetEventTagsTable,
    AssetKeyTable,
    SqlEventLogStorage,
    SqlEventLogStorageTable,
)

WIPED_EVENTS = (
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    DagsterEventType.ASSET_FAILED_TO_MATERIALIZE,
)
"""The events from which Dagster derives a partition's status: materialized, failed or in progress."""
KEYS_PER_STATEMENT = 500  # SQLite limits the variables of one statement


def wipe_materializations(instance: DagsterInstance, asset_key: AssetKey, days: Sequence[str]) -> None:
    """Make the partitions ``days`` of ``asset_key`` not materialized in ``instance``."""
    try:
        instance.wipe_asset_partitions(asset_key, days)
        return
    except NotImplementedError:  # the open-source storages (module docstring)
        storage = instance.event_log_storage
        if not isinstance(storage, SqlEventLogStorage):
            raise
    _delete_partition_events(storage, asset_key, days)
    instance.wipe_asset_cached_status([asset_key])


def _delete_partition_events(storage: SqlEventLogStorage, asset_key: AssetKey, days: Sequence[str]) -> None:
    events, tags = SqlEventLogStorageTable, AssetEventTagsTable
    key = asset_key.to_string()
    with storage.index_connection() as conn:
        for start in range(0, len(days), KEYS_PER_STATEMENT):
            ids = [
                row[0]
                for row in conn.execute(
                    db.select(events.c.id).where(
                        events.c.asset_key == key,
                        events.c.partition.in_(days[start : start + KEYS_PER_STATEMENT]),
                        events.c.dagster_event_type.in_([t.value for t in WIPED_EVENTS]),
                    )
                )
            ]
            for first in range(0, len(ids), KEYS_PER_STATEMENT):
                chunk = ids[first : first + KEYS_PER_STATEMENT]
                if storage.has_table(tags.name):
                    conn.execute(tags.delete().where(tags.c.event_id.in_(chunk)))
                conn.execute(events.delete().where(events.c.id.in_(chunk)))
    # The asset's row keeps its latest materialization: forget it when it was one of these, and
    # Dagster finds the latest one left in the index.
    record = next(iter(storage.get_asset_records([asset_key])), None)
    latest = record.asset_entry.last_materialization_record if record else None
    if latest is not None and latest.partition_key in days:
        with storage.index_connection() as conn:
            conn.execute(
                AssetKeyTable.update()
                .values(last_materialization=None)
                .where(AssetKeyTable.c.asset_key == key)
            )
