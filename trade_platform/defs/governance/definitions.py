"""Governance: the ``retention`` job and its ``retention_schedule`` (and Glue deregistration), and
the Iceberg tables' ``table_maintenance`` job and schedule."""

from __future__ import annotations

import dagster as dg

from trade_platform.defs.governance.jobs import retention_job
from trade_platform.defs.governance.maintenance import table_maintenance_job, table_maintenance_schedule
from trade_platform.defs.governance.schedules import build_retention_schedule
from trade_platform.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        jobs=[retention_job, table_maintenance_job],
        schedules=[build_retention_schedule(retention_job), table_maintenance_schedule],
    )
