"""The code location: assets, checks and resources, configured from the environment."""

from __future__ import annotations

from dagster import Definitions

from trade_platform.assets.ingest import ingest_trades
from trade_platform.assets.marts import daily_volume, ohlcv
from trade_platform.checks import ALL_CHECKS
from trade_platform.resources import resources_from_env

ASSETS = [ingest_trades, ohlcv, daily_volume]

defs = Definitions(assets=ASSETS, asset_checks=ALL_CHECKS, resources=resources_from_env())
