"""Deleted lake partitions leave every record outside the lake that says they exist.

``deregister_deleted_partitions`` is the one place that receives the (asset, day) pairs a
retention run deleted. Today it wipes their materializations from the Dagster instance, so the UI
shows those partitions missing rather than materialized-but-stale (``lib.partition_history``);
with a Glue database configured (``TRADE_PLATFORM_GLUE_DATABASE``), it deregisters them from the
AWS Glue catalog too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster import AssetKey, DagsterInstance, Failure

from trade_platform.core.glue.catalog import GlueCatalog
from trade_platform.core.storage import StorageError
from trade_platform.lib.partition_history import wipe_materializations


def deregister_deleted_partitions(
    instance: DagsterInstance, deleted: Mapping[str, Sequence[str]], glue: GlueCatalog | None = None
) -> None:
    """Forget the deleted days of each lake asset (``{asset: [day, ...]}``) wherever they are
    registered: in Dagster, and in the AWS Glue catalog ``glue`` (the lake's, when configured)."""
    for asset, days in deleted.items():
        if days:
            wipe_materializations(instance, AssetKey(asset), sorted(days))
    if glue is not None:
        deregister_from_glue(glue, deleted)


def deregister_from_glue(glue: GlueCatalog, deleted: Mapping[str, Sequence[str]]) -> None:
    """Delete the days' Glue partitions (days never registered are fine). A Glue fault fails the
    step without a retry, as a retry would find the data deleted and nothing left to deregister:
    the failure names what stays registered."""
    failed = []
    for asset, days in deleted.items():
        if days:
            try:
                glue.deregister_partitions(asset, days)
            except StorageError as exc:
                failed.append(f"{asset} ({len(days)} days, {min(days)}..{max(days)}): {exc}")
    if failed:
        raise Failure(
            description="Deleted partitions stay registered in Glue; delete them there: " + "; ".join(failed),
            allow_retries=False,
        )
