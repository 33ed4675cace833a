"""The pandera models as Dagster types (via dagster-pandera), one per asset."""

from __future__ import annotations

import warnings

from dagster import BetaWarning
from dagster_pandera import pandera_schema_to_dagster_type

from trade_platform.schemas import DailyVolume, Ohlcv, RawTrades, TradesDlq, ValidatedTrades

with warnings.catch_warnings():
    warnings.simplefilter("ignore", BetaWarning)  # dagster-pandera is beta; its version is pinned
    RAW_TRADES_TYPE = pandera_schema_to_dagster_type(RawTrades)
    VALIDATED_TRADES_TYPE = pandera_schema_to_dagster_type(ValidatedTrades)
    TRADES_DLQ_TYPE = pandera_schema_to_dagster_type(TradesDlq)
    OHLCV_TYPE = pandera_schema_to_dagster_type(Ohlcv)
    DAILY_VOLUME_TYPE = pandera_schema_to_dagster_type(DailyVolume)
