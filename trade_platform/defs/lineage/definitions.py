"""Lineage: the ``openlineage_sensor`` that reports every run's datasets to OpenLineage."""

from __future__ import annotations

import dagster as dg

from trade_platform.defs.lineage.sensors import build_lineage_sensor
from trade_platform.lib.partitions import daily_partitions
from trade_platform.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(sensors=[build_lineage_sensor(daily_partitions(settings.start_date))])
