"""``column_schema``: a partition's stored Parquet columns equal the asset's declared schema."""

from collections.abc import Callable, Iterator

import fsspec
import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset_check,
)
from dagster._core.definitions.asset_checks.asset_check_factories.schema_change_checks import (
    TableSchemaDiff,
)

from trade_platform.defs.shared.partitioned_checks import (
    Verdict,
    evaluate_per_partition,
    latest_materializations,
)
from trade_platform.defs.shared.partitions import daily_partitions


def column_schema_check(asset: str) -> Callable[..., Iterator]:
    """The partition's stored columns equal the declared ``dagster/column_schema``.

    Dagster's ``build_column_schema_change_checks`` compares the two latest materializations of
    any partition; this compares each partition's Parquet file with the asset's contract, so a
    backfill of an old day is judged by the same rule as today. Added columns WARN (the landing
    format grew), removed or retyped columns are an ERROR.
    """

    @asset_check(
        name="column_schema",
        asset=asset,
        partitions_def=daily_partitions,
        description="The stored columns and types equal the declared column schema.",
    )
    def column_schema(context: AssetCheckExecutionContext):
        key = AssetKey(asset)
        declared: TableSchema = context.job_def.asset_layer.asset_graph.get(key).metadata[
            "dagster/column_schema"
        ]

        latest = latest_materializations(context, key, context.partition_keys)

        def judge(partition: str) -> Verdict:
            record = latest.get(partition)
            path = record and record.asset_materialization.metadata.get("path")
            if path is None:
                return Verdict(False, f"partition {partition} has no stored file to compare")
            stored = _stored_schema(str(path.value), declared)
            diff = TableSchemaDiff.from_table_schemas(declared, stored)
            removed_or_retyped = bool(diff.removed_columns or diff.column_type_changes)
            changes = {
                "added_columns": [f"{c.name}: {c.type}" for c in diff.added_columns],
                "removed_columns": [f"{c.name}: {c.type}" for c in diff.removed_columns],
                "type_changes": {
                    n: f"{t.old_type} -> {t.new_type}" for n, t in diff.column_type_changes.items()
                },
            }
            return Verdict(
                passed=not (removed_or_retyped or diff.added_columns),
                severity=AssetCheckSeverity.ERROR if removed_or_retyped else AssetCheckSeverity.WARN,
                description="stored columns match the declared schema"
                if not (removed_or_retyped or diff.added_columns)
                else f"{len(diff.added_columns)} added, {len(diff.removed_columns)} removed, "
                f"{len(diff.column_type_changes)} retyped columns",
                metadata={**changes, "path": MetadataValue.path(str(path.value))},
            )

        yield from evaluate_per_partition(context, judge, latest)

    column_schema.__name__ = f"{asset}_column_schema"
    return column_schema


def _stored_schema(path: str, declared: TableSchema) -> TableSchema:
    with fsspec.open(path, "rb") as handle:
        schema = pl.read_parquet_schema(handle)
    # The partition column lives in the hive path, not in the file.
    columns = [TableColumn(name, str(dtype)) for name, dtype in schema.items()]
    partition_column = [c for c in declared.columns if c.name == "date" and "date" not in schema]
    return TableSchema(columns=columns + partition_column)
