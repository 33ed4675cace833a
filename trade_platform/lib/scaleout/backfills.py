"""``trade-platform backfill``: an asset backfill submitted to the instance, run by its daemon.

It is the backfill the UI launches (the same record), so the daemon splits it by the assets'
backfill policy (``TRADE_PLATFORM_MAX_PARTITIONS_PER_RUN`` days per run), the run queue spreads
the runs over the workers, and run retries apply to them: the backfill stays in progress until
its last run has finished.
"""

from __future__ import annotations

import time
from datetime import date

from dagster import DagsterInstance, Definitions, PartitionKeyRange

from trade_platform.lib.dagster_private import PartitionBackfill, make_new_backfill_id

BACKFILL_TAG = "trade_platform/backfill"


def submit_backfill(
    instance: DagsterInstance, defs: Definitions, first: date, last: date
) -> PartitionBackfill:
    """Every asset (with its checks) of the days ``first..last``; returns the stored backfill."""
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    graph = defs.resolve_asset_graph()
    assets = sorted(key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable)
    partitions = graph.get(assets[0]).partitions_def
    for day in (first, last):
        if not partitions.has_partition_key(day.isoformat()):
            raise ValueError(
                f"{day} is not a partition: they run from {partitions.get_first_partition_key()} "
                f"to {partitions.get_last_partition_key()} (today, UTC)"
            )
    days = partitions.get_partition_keys_in_range(PartitionKeyRange(first.isoformat(), last.isoformat()))
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(),
        asset_graph=graph,
        partition_names=days,
        asset_selection=assets,
        backfill_timestamp=time.time(),
        tags={BACKFILL_TAG: f"{first}..{last}"},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=f"trade-platform backfill {first}..{last}",
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill
