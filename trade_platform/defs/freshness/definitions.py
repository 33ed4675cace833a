"""Freshness: the ``freshness`` check of each published asset and the ``freshness_sensor`` that
runs it at the deadline."""

from __future__ import annotations

import dagster as dg

from trade_platform.defs.freshness.checks import build_freshness_checks
from trade_platform.defs.freshness.sensors import build_freshness_sensor
from trade_platform.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    checks = build_freshness_checks(settings.freshness_deadline, settings.start_date)
    return dg.Definitions(
        asset_checks=[checks], sensors=[build_freshness_sensor(checks, settings.freshness_deadline)]
    )
