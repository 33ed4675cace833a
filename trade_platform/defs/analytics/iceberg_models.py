"""The dbt models' days as Iceberg tables (``TRADE_PLATFORM_TABLE_FORMAT=iceberg``); imported only
then, pyiceberg takes seconds to load.

Each model is the table ``<namespace>.<model>`` beside the platform's, partitioned by the
identity of ``date`` and created on its first run from the columns of the model's rows as DuckDB
returned them (``core.iceberg.schema.frame_schema``), each column with its YAML description as its
doc and its ``meta.classification`` as a table property, as the platform's tables have theirs. A
run replaces its days of a model in one snapshot, as the I/O manager does for the platform's
assets (``commit_days``): a day with no rows ends with none, a re-run leaves equal contents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl
from dagster import AssetExecutionContext, AssetKey

from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.core.iceberg.schema import classification_properties, frame_schema
from trade_platform.core.lake_layout import frame_days
from trade_platform.core.storage import storage_errors
from trade_platform.defs.analytics.translator import column_classifications
from trade_platform.lib.iceberg_io_manager import commit_days, partition_metadata


def write_model_table(
    context: AssetExecutionContext,
    tables: IcebergTables,
    key: AssetKey,
    node: Mapping[str, Any],
    rows: pl.DataFrame,
) -> None:
    """The run's days of one model's ``rows`` as one snapshot of its table."""
    model = key.to_user_string()
    where = tables.identifier(model)
    docs = {name: column.get("description") or "" for name, column in (node.get("columns") or {}).items()}
    days = {day: [frame] for day, frame in frame_days(rows, context.partition_keys).items()}
    with storage_errors("write", where):
        tables.table(
            model, frame_schema(rows.schema, docs), classification_properties(column_classifications(node))
        )
        counts, committed = commit_days(tables, model, days, context.instance, context.run.run_id)
    for day in days:
        context.add_asset_metadata(
            partition_metadata(where, counts[day], committed), asset_key=key, partition_key=day
        )
