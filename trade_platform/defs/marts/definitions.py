"""Marts: ``ohlcv`` and ``daily_volume`` from ``validated_trades``, with their checks."""

from __future__ import annotations

import dagster as dg

from trade_platform.defs.marts.assets import build_mart_assets
from trade_platform.defs.marts.checks import build_mart_checks
from trade_platform.lib.partitions import daily_partitions
from trade_platform.lib.policies import backfill_policy
from trade_platform.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    partitions = daily_partitions(settings.start_date)
    return dg.Definitions(
        assets=build_mart_assets(
            partitions, backfill_policy(settings.max_partitions_per_run), settings.table_format
        ),
        asset_checks=build_mart_checks(partitions),
    )
