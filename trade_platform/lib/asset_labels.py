"""Who owns each asset of the lake and how the UI tags it, in one place for the five assets."""

from __future__ import annotations

from trade_platform.core import names
from trade_platform.core.classification import Classification, column_classifications
from trade_platform.core.schemas import ASSET_MODELS

OWNER = "team:trade-data"
"""Every asset's owner, a team as Dagster spells one. Ownership is reviewed code, not a
deployment setting: a fork that hands the lake to another team changes it here."""
LAYERS = {
    names.RAW_TRADES: "raw",
    names.VALIDATED_TRADES: "validated",
    names.TRADES_DLQ: "dlq",
    names.OHLCV: "mart",
    names.DAILY_VOLUME: "mart",
}


def labels(asset: str, table_format: str) -> dict:
    """An asset's ``owners``, ``tags`` and ``kinds`` for its definition. The tags are what the
    UI filters by: the lake ``layer``, the ``domain``, the stored ``format`` and ``pii`` (true
    when the asset's model classifies a column as PII, see ``core.classification``)."""
    has_pii = Classification.PII in column_classifications(ASSET_MODELS[asset]).values()
    return {"owners": [OWNER], "tags": tags(LAYERS[asset], table_format, has_pii), "kinds": {"polars"}}


def tags(layer: str, table_format: str, has_pii: bool) -> dict[str, str]:
    """The tags of an asset of the lake, the dbt models' included."""
    return {
        "layer": layer,
        "domain": "trades",
        "format": table_format,  # parquet or iceberg (TRADE_PLATFORM_TABLE_FORMAT)
        "pii": str(has_pii).lower(),
    }
