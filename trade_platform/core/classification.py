"""Who may see each column: its classification, declared once beside the schemas.

Each pandera field in ``core.schemas`` carries ``metadata={"classification": ...}``; this module
reads them back, so the Dagster column schema (column tags) and the Glue catalog (column
parameters) show the same declaration. A column a model does not declare (an unknown extra of
``raw_trades``) is ``confidential``: nobody has looked at what it holds.
"""

from __future__ import annotations

from enum import StrEnum

import pandera.polars as pa


class Classification(StrEnum):
    PUBLIC = "public"
    """Market data anyone may see (a symbol, an exchange)."""
    INTERNAL = "internal"
    """The firm's own trading data and lineage: staff only."""
    CONFIDENTIAL = "confidential"
    """Content nobody vetted (unknown extra columns): need to know."""
    PII = "pii"
    """Identifies a person: clear text only in the restricted layers (raw_trades, trades_dlq),
    a keyed token (HMAC-SHA256) everywhere else."""


UNDECLARED = Classification.CONFIDENTIAL
METADATA_KEY = "classification"


def column_classifications(model: type[pa.DataFrameModel]) -> dict[str, Classification]:
    """``{column name: classification}`` of every column the model declares."""
    columns = model.to_schema().columns
    missing = [name for name, column in columns.items() if METADATA_KEY not in (column.metadata or {})]
    if missing:
        raise ValueError(f"{model.__name__} declares no classification for {', '.join(missing)}")
    return {name: Classification(column.metadata[METADATA_KEY]) for name, column in columns.items()}
