"""The asset names: one source for the lake's table folders and Dagster's asset keys.

They are a public contract (the lake layout, the UI, the checks' and acceptance tests' keys);
Dagster also matches an asset's input parameters to them, so ``validated_trades`` appears as a
parameter name too.
"""

RAW_TRADES = "raw_trades"
VALIDATED_TRADES = "validated_trades"
TRADES_DLQ = "trades_dlq"
OHLCV = "ohlcv"
DAILY_VOLUME = "daily_volume"

INGESTED = (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ)
"""Written together by one pass over a day's landing files."""
MARTS = (OHLCV, DAILY_VOLUME)
ALL = (*INGESTED, *MARTS)

LANDING = "landing"
"""The landing zone's day folders, as a retention layer (``TRADE_PLATFORM_RETENTION``)."""
LINEAGE = "lineage"
"""The lake's folder of OpenLineage event files, one per day, a retention layer too."""
RETENTION_LAYERS = (LANDING, *ALL, LINEAGE)
"""Every layer that retention deletes by day: the landing zone, each lake asset and lineage."""
