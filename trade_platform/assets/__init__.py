"""Software-defined assets: ingest (raw, validated, DLQ) and marts (OHLCV, daily volume)."""
