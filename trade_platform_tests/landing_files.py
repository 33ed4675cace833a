"""Write real landing files (CSV, JSONL, gzip, Parquet) from rows of text fields."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl

from trade_platform.core.landing.files import TRADE_FIELDS


def trade(trade_id: str, **overrides: str | None) -> dict[str, str | None]:
    """A valid trade on 2026-11-20 with some fields replaced."""
    row = {
        "trade_id": trade_id,
        "symbol": "BTC-USD",
        "side": "buy",
        "price": "100.5",
        "quantity": "2",
        "timestamp": "2026-11-20T10:00:00Z",
        "exchange": "BINANCE",
    }
    row.update(overrides)
    return row


def write_csv(
    path: Path, rows: list[dict], *, extra_lines: list[str] = (), header: list[str] | None = None
) -> Path:
    header = header or list(TRADE_FIELDS)
    lines = [",".join(header)]
    lines += [",".join("" if row.get(name) is None else str(row[name]) for name in header) for row in rows]
    lines += list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_jsonl(path: Path, rows: list[dict], *, extra_lines: list[str] = ()) -> Path:
    text = "\n".join([json.dumps(row) for row in rows] + list(extra_lines)) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if path.name.endswith(".gz") else text.encode())
    return path


def write_parquet(path: Path, rows: list[dict], schema: dict | None = None) -> Path:
    pl.DataFrame(rows, schema=schema or {name: pl.String for name in TRADE_FIELDS}).write_parquet(path)
    return path
