"""``column_schema``: a partition's stored columns (its Parquet file's, or its Iceberg table's at
the snapshot written) equal the asset's declared schema."""

from collections.abc import Iterator
from functools import cache, partial

import fsspec
import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    PartitionsDefinition,
    TableSchema,
    asset_check,
)

from trade_platform.core.quality.columns import compare_columns
from trade_platform.core.schemas import ASSET_MODELS
from trade_platform.lib.lake import METADATA_LOCATION, SNAPSHOT_ID, Lake
from trade_platform.lib.partitioned_checks import (
    Verdict,
    evaluate_per_partition,
    latest_materializations,
)


def build_column_schema_check(asset: str, partitions: PartitionsDefinition) -> AssetChecksDefinition:
    """The partition's stored columns equal the declared ``dagster/column_schema``.

    Dagster's ``build_column_schema_change_checks`` compares the two latest materializations of
    any partition; this compares each partition's Parquet file with the asset's contract, so a
    backfill of an old day is judged by the same rule as today. Added columns WARN (the landing
    format grew), removed or retyped columns are an ERROR.
    """

    @asset_check(
        name="column_schema",
        asset=asset,
        partitions_def=partitions,
        description="The stored columns and types equal the declared column schema.",
    )
    def column_schema(context: AssetCheckExecutionContext, lake: Lake) -> Iterator:
        key = AssetKey(asset)
        declared: TableSchema = context.job_def.asset_layer.asset_graph.get(key).metadata[
            "dagster/column_schema"
        ]

        latest = latest_materializations(context, key, context.partition_keys)
        optional = {
            name for name, column in ASSET_MODELS[asset].to_schema().columns.items() if not column.required
        }

        # A range run's days share the snapshot the run committed: its columns are read once.
        columns_at = cache(partial(lake.iceberg_columns, asset))

        def judge(partition: str) -> Verdict:
            record = latest.get(partition)
            metadata = record.asset_materialization.metadata if record else {}
            path = metadata.get("path") or metadata.get(METADATA_LOCATION)
            if path is None:
                return Verdict(False, f"partition {partition} has no stored file to compare")
            if SNAPSHOT_ID in metadata:  # an Iceberg table: its columns at the snapshot written
                stored = columns_at(metadata[SNAPSHOT_ID].value)
            else:
                stored = _stored_columns(str(path.value), declared)
            diff = compare_columns({c.name: c.type for c in declared.columns}, stored, optional)
            changed = bool(diff.breaking or diff.added)
            return Verdict(
                passed=not changed,
                severity=AssetCheckSeverity.ERROR if diff.breaking else AssetCheckSeverity.WARN,
                description=f"{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.retyped)} retyped columns"
                if changed
                else "stored columns match the declared schema",
                metadata={
                    "added_columns": diff.added,
                    "removed_columns": diff.removed,
                    "type_changes": diff.retyped,
                    "path": MetadataValue.path(str(path.value)),
                },
            )

        yield from evaluate_per_partition(context, judge, latest)

    column_schema.__name__ = f"{asset}_column_schema"
    return column_schema


def _stored_columns(path: str, declared: TableSchema) -> dict[str, str]:
    with fsspec.open(path, "rb") as handle:
        schema = pl.read_parquet_schema(handle)
    columns = {name: str(dtype) for name, dtype in schema.items()}
    # The partition column lives in the hive path, not in the file.
    return columns | {c.name: c.type for c in declared.columns if c.name == "date" and "date" not in columns}
