"""How the dbt project's nodes become Dagster assets and checks.

A source is the platform's asset of the same name (``validated_trades``, not
``lake/validated_trades``), so the models hang below it in the graph; a model is the asset (and
the lake table) of its name, in the ``analytics`` group; a dbt test is an asset check evaluated
per partition, as the platform's own checks are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetCheckSpec, AssetKey, AssetSpec, PartitionsDefinition
from dagster_dbt import DagsterDbtTranslator, DbtProject

GROUP = "analytics"


class LakeTranslator(DagsterDbtTranslator):
    def __init__(self, partitions: PartitionsDefinition):
        super().__init__()
        self._partitions = partitions

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP

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


def _what(test: Mapping[str, Any]) -> str:
    """A generic test's name and arguments, e.g. ``not_null(column_name=hour)``."""
    metadata = test.get("test_metadata") or {}
    if not metadata:
        return "a singular test"
    kwargs = ", ".join(f"{k}={v}" for k, v in metadata.get("kwargs", {}).items() if k != "model")
    return f"{metadata.get('name')}({kwargs})"
