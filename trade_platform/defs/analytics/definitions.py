"""Analytics: the dbt project's models (``trade_platform/dbt_project``, docs/dbt.md) as assets below
the platform's own, their dbt tests as per-partition checks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from trade_platform.core.dbt_project import PROJECT_DIR
from trade_platform.lib.partitions import daily_partitions
from trade_platform.lib.policies import backfill_policy
from trade_platform.settings import Settings


def build_defs(settings: Settings, project_dir: Path = PROJECT_DIR) -> dg.Definitions:
    """The models ``settings.dbt_models`` names (none: nothing, not even the manifest)."""
    if settings.dbt_models == ():
        return dg.Definitions()
    # dagster-dbt (and dbt with it) takes over a second to import: only a location with models pays it.
    from trade_platform.defs.analytics.assets import build_dbt_assets
    from trade_platform.defs.analytics.project import prepared_project

    project = prepared_project(project_dir)
    return dg.Definitions(
        assets=[
            build_dbt_assets(
                project,
                "fqn:*" if settings.dbt_models is None else " ".join(settings.dbt_models),
                daily_partitions(settings.start_date),
                backfill_policy(settings.max_partitions_per_run),
                settings.table_format,
            )
        ],
    )
