"""How the dbt project's nodes become Dagster assets and checks.

A source is the platform's asset of the same name (``validated_trades``, not
``lake/validated_trades``), so the models hang below it in the graph; a model is the asset (and
the lake table) of its name, in the ``analytics`` group, each column shown with its
classification (``meta.classification`` in the model's YAML), as the platform's assets are; a dbt
test is an asset check evaluated per partition, as the platform's own checks are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetKey,
    AssetSpec,
    PartitionsDefinition,
    TableColumn,
    TableSchema,
)
from dagster_dbt import DagsterDbtTranslator, DbtProject

from trade_platform.core.classification import METADATA_KEY as CLASSIFICATION
from trade_platform.core.classification import Classification
from trade_platform.lib.asset_labels import OWNER, tags

GROUP = "analytics"
COLUMN_SCHEMA = "dagster/column_schema"


class LakeTranslator(DagsterDbtTranslator):
    def __init__(self, partitions: PartitionsDefinition, table_format: str):
        super().__init__()
        self._partitions = partitions
        self._table_format = table_format

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [OWNER]

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        columns = (dbt_resource_props.get("columns") or {}).values()
        has_pii = any(_meta(column).get(CLASSIFICATION) == Classification.PII for column in columns)
        return {**super().get_tags(dbt_resource_props), **tags("mart", self._table_format, has_pii)}

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        metadata = dict(super().get_metadata(dbt_resource_props))
        columns = dbt_resource_props.get("columns") or {}
        classified = column_classifications(dbt_resource_props)
        if columns:
            metadata[COLUMN_SCHEMA] = TableSchema(
                columns=[
                    TableColumn(
                        name=name,
                        type=column.get("data_type") or "?",
                        description=column.get("description"),
                        tags={CLASSIFICATION: classified.get(name, "")},
                    )
                    for name, column in columns.items()
                ]
            )
        return metadata

    def get_asset_check_spec(
        self,
        asset_spec: AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        test = manifest["nodes"][unique_id]
        return spec._replace(
            partitions_def=self._partitions,
            description=spec.description or f"dbt test {test['name']}: {_what(test)}",
        )


def column_classifications(node: Mapping[str, Any]) -> dict[str, str]:
    """The classification of each column of a dbt model that declares one (``meta.classification``)."""
    columns = (node.get("columns") or {}).items()
    return {name: level for name, column in columns if (level := _meta(column).get(CLASSIFICATION))}


def _meta(column: Mapping[str, Any]) -> Mapping[str, Any]:
    """A column's ``meta``: under ``config`` since dbt 1.10, at the top before."""
    return (column.get("config") or {}).get("meta") or column.get("meta") or {}


def _what(test: Mapping[str, Any]) -> str:
    """A generic test's name and arguments, e.g. ``not_null(column_name=hour)``."""
    metadata = test.get("test_metadata") or {}
    if not metadata:
        return "a singular test"
    kwargs = ", ".join(f"{k}={v}" for k, v in metadata.get("kwargs", {}).items() if k != "model")
    return f"{metadata.get('name')}({kwargs})"
