"""The code location: assets, checks and resources, configured from the environment."""

from __future__ import annotations

from dagster import Definitions

from trade_platform import config
from trade_platform.assets.ingest import ingest_trades
from trade_platform.assets.marts import daily_volume, ohlcv
from trade_platform.checks import ALL_CHECKS
from trade_platform.io_managers import ParquetLakeIOManager
from trade_platform.resources import LandingZone, MartSettings, env_or_default

defs = Definitions(
    assets=[ingest_trades, ohlcv, daily_volume],
    asset_checks=ALL_CHECKS,
    resources={
        "landing": LandingZone(url=env_or_default(config.LANDING_URL_ENV, config.DEFAULT_LANDING_URL)),
        "io_manager": ParquetLakeIOManager(
            lake_url=env_or_default(config.LAKE_URL_ENV, config.DEFAULT_LAKE_URL)
        ),
        "mart_settings": MartSettings(
            ohlcv_intervals=env_or_default(
                config.OHLCV_INTERVALS_ENV, ",".join(config.DEFAULT_OHLCV_INTERVALS)
            )
        ),
    },
)
